// `tidemark start` as a user runs it: a real process that supervises its own
// nats-server (with authentication) and chDB under its data directory, creates
// an admin token, and drains on SIGTERM so every accepted beacon is in
// ClickHouse before it exits. The CLI on the same data directory uses that
// server, says so, and never starts a second one on its store.
import { spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { connect } from '@nats-io/transport-node'
import { isAlive } from '../../engine/nats/nats-endpoint.ts'
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

const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
const natsUrlFile = path.join(dataDir, 'nats.url')
const natsPidFile = path.join(dataDir, 'nats', 'tidemark-nats.pid')

it('runs its nats-server with authentication: a client without credentials is refused', async () => {
  const natsUrl = fs.readFileSync(natsUrlFile, 'utf8').trim()
  await expect(connect({ servers: natsUrl, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/)
  const store = path.join(dataDir, 'nats')
  expect(fs.statSync(path.join(store, 'tidemark-nats.conf')).mode & 0o777).toBe(0o600)
  for (const seed of fs.readdirSync(path.join(store, 'credentials'))) expect(fs.statSync(path.join(store, 'credentials', seed)).mode & 0o777).toBe(0o600)
})

it('`tidemark tenant` and `tidemark setup` use the running server and say so on stderr', () => {
  const natsUrl = fs.readFileSync(natsUrlFile, 'utf8').trim()
  const pid = fs.readFileSync(natsPidFile, 'utf8').trim()
  const listed = cli('tenant', 'list')
  expect(listed.status, listed.stderr).toBe(0)
  expect(JSON.parse(listed.stdout)).toEqual([])
  expect(listed.stderr).toContain(`tidemark: NATS at ${natsUrl} (the nats-server, pid ${pid}, of the Tidemark running on ${dataDir}`)
  const setup = cli('setup')
  expect(setup.status, setup.stderr).toBe(0)
  expect(setup.stdout).toMatch(/^JetStream already matches this configuration \(replicas 1, partitions 16/)
})

it('refuses, rather than start a second nats-server on the store of a running one, when that server does not answer', () => {
  const natsUrl = fs.readFileSync(natsUrlFile, 'utf8').trim()
  const pid = Number(fs.readFileSync(natsPidFile, 'utf8'))
  // The old CLI took an unreachable URL for a dead server and started its own on the store, stopping the live one first.
  fs.writeFileSync(natsUrlFile, 'nats://127.0.0.1:1\n')
  try {
    const created = cli('tenant', 'create', 'never')
    expect(created.status).not.toBe(0)
    expect(created.stderr).toMatch(/TM_ENGINE_NATS_UNAVAILABLE: NATS is unavailable: nats:\/\/127\.0\.0\.1:1/)
  } finally {
    fs.writeFileSync(natsUrlFile, natsUrl + '\n')
  }
  expect(isAlive(pid)).toBe(true)
  expect(Number(fs.readFileSync(natsPidFile, 'utf8'))).toBe(pid)
})

it('`tidemark tenant create` prints the tenant JSON, and SIGTERM drains accepted beacons into ClickHouse', async () => {
  const created = cli('tenant', 'create', 'cli-tenant')
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
  const result = await client.query({ query: `SELECT count() AS n FROM tidemark.samples WHERE tenant = {t:String} AND metric != 'anomaly_score'`, query_params: { t: tenant.id }, format: 'JSONEachRow' })
  expect(Number(((await result.json()) as { n: string }[])[0]?.n)).toBe(200)
  await client.close()
})

it('with no Tidemark running, `tidemark tenant` uses a temporary nats-server on the store and leaves none behind', () => {
  expect(fs.existsSync(natsPidFile)).toBe(false)
  const created = cli('tenant', 'create', 'offline')
  expect(created.status, created.stderr).toBe(0)
  expect(created.stderr).toMatch(/tidemark: NATS at nats:\/\/127\.0\.0\.1:\d+ \(a temporary nats-server on .*\/nats, since no Tidemark runs on/)
  // The same store: the tenant created while `tidemark start` ran is there too.
  const listed = cli('tenant', 'list')
  expect(JSON.parse(listed.stdout).map((t: { name: string }) => t.name)).toEqual(['cli-tenant', 'offline'])
  expect(fs.existsSync(natsPidFile)).toBe(false)
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
