// `tidemark start` as a user runs it: a real process that supervises its own
// nats-server and chDB under its data directory, creates an admin token, and
// drains on SIGTERM so every accepted beacon is in ClickHouse before it exits.
import { spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { tempDir } from '../helpers/stack.ts'
import { killWithChildren, startTidemarkProcess, TIDEMARK_BIN as bin } from '../helpers/tidemark-process.ts'

const dataDir = tempDir('cli')
const env = { ...process.env, TIDEMARK_DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', NATS_URL: '', TIDEMARK_ADMIN_TOKEN: '' }
let server: ChildProcess
let url: string
let stdout = ''

beforeAll(async () => {
  const started = await startTidemarkProcess(['start'], env)
  server = started.child
  url = started.url
  stdout = started.output()
}, 60_000)

afterAll(() => killWithChildren(server, dataDir))

it('prints the dashboard URL and where the admin token is, kept with mode 0600', async () => {
  const tokenFile = path.join(dataDir, 'admin-token')
  expect(stdout).toContain(`Admin token: in ${tokenFile}`)
  expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600)
  const health = await fetch(`${url}/api/v2/health`)
  expect(health.status).toBe(200)
  expect(await health.json()).toMatchObject({ status: 'ok', nats: { ok: true, kind: 'supervised' }, clickhouse: { ok: true, mode: 'chdb' } })
  // The supervised nats-server keeps its store under the data directory.
  expect(fs.existsSync(path.join(dataDir, 'nats', 'jetstream'))).toBe(true)
})

it('`tidemark tenant create` prints the tenant JSON, and SIGTERM drains accepted beacons into ClickHouse', async () => {
  const created = spawnSync(process.execPath, [bin, 'tenant', 'create', 'cli-tenant'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  expect(created.status, created.stderr).toBe(0)
  const tenant = JSON.parse(created.stdout)
  expect(Object.keys(tenant).sort()).toEqual(['apiKey', 'id', 'ingestToken'])

  const posts = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      fetch(`${url}/api/v2/analytics/metrics`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tenant.ingestToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(Array.from({ length: 10 }, () => ({ page_views: i }))),
      })
    )
  )
  expect(posts.map((p) => p.status)).toEqual(Array(20).fill(200))
  // Stop at once: the storage consumer's linger has not elapsed, so only the drain can store them.
  server.kill('SIGTERM')
  const [code] = await once(server, 'exit')
  expect(code).toBe(0)
  expect(fs.existsSync(path.join(dataDir, 'nats.url'))).toBe(false)

  // Read chDB's files directly, in this process, after the server is gone.
  const { createClient } = await import('@clickhouse/client')
  const { createChdbConnection } = await import('chdb/connection')
  const client = createClient({ connection: createChdbConnection({ path: path.join(dataDir, 'chdb') }) as never })
  const result = await client.query({ query: `SELECT count() AS n FROM tidemark.samples WHERE tenant = {t:String}`, query_params: { t: tenant.id }, format: 'JSONEachRow' })
  expect(Number(((await result.json()) as { n: string }[])[0]?.n)).toBe(200)
  await client.close()
})

it('exits non-zero with one message when no nats-server exists and NATS_URL is unset', () => {
  const result = spawnSync(process.execPath, [bin, 'start'], {
    env: { ...env, TIDEMARK_DATA_DIR: tempDir('cli-nonats'), NATS_SERVER_BIN: '/nonexistent/nats-server' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  })
  expect(result.status).not.toBe(0)
  expect(result.stderr.trim().split('\n')).toHaveLength(1)
  expect(result.stderr).toMatch(/nats-server/)
  expect(result.stderr).toMatch(/NATS_URL/)
})
