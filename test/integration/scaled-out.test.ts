// The tiers as separate processes sharing only NATS, each with its own NATS
// user: beacons posted to a `tidemark ingest` process (user ingest) are stored
// and served by a `tidemark engine query` process, exactly once each.
// (Separate engine and query processes need a ClickHouse server,
// CLICKHOUSE_URL: chDB's directory belongs to one process; without one they
// are refused.)
import { spawnSync, type ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { natsEnv, startNats, tempDir, ADMIN_TOKEN } from '../helpers/stack.ts'
import type { NatsUserName, SupervisedNatsServer } from '../../engine/index.ts'
import { startTidemarkProcess, TIDEMARK_BIN as bin, type TidemarkProcess } from '../helpers/tidemark-process.ts'

let nats: SupervisedNatsServer
const processes: ChildProcess[] = []

function tierEnv(user: NatsUserName, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...natsEnv(nats, user), TIDEMARK_DATA_DIR: tempDir('tier'), PORT: '0', HOST: '127.0.0.1', TIDEMARK_ADMIN_TOKEN: ADMIN_TOKEN, ...extra }
}

async function startTier(args: string[], user: NatsUserName): Promise<TidemarkProcess> {
  const tier = await startTidemarkProcess(args, tierEnv(user))
  processes.push(tier.child)
  return tier
}

/** Runs a tier that must refuse to start, and returns what it said. */
function refused(args: string[], env: NodeJS.ProcessEnv): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { env: { LOG_LEVEL: 'warn', ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
  return { status: result.status, stderr: result.stderr }
}

beforeAll(async () => {
  nats = await startNats()
}, 60_000)

afterAll(async () => {
  for (const child of processes) if (child.exitCode === null) child.kill('SIGKILL')
  await nats?.stop()
})

it('a single tier refuses to start without NATS_URL', () => {
  const result = refused(['ingest'], { ...process.env, NATS_URL: '', TIDEMARK_DATA_DIR: tempDir('nourl') })
  expect(result.status).toBe(2)
  expect(result.stderr).toMatch(/NATS_URL/)
})

it('refuses a query or engine process without CLICKHOUSE_URL (its private chDB would split the data), and a query process without TIDEMARK_ADMIN_TOKEN', () => {
  for (const role of ['query', 'engine']) {
    const result = refused([role], tierEnv(role as NatsUserName, { CLICKHOUSE_URL: '' }))
    expect(result.status, result.stderr).toBe(2)
    expect(result.stderr).toMatch(new RegExp(`^TM_ENGINE_DEPLOYMENT_INVALID: tidemark ${role}: set CLICKHOUSE_URL .*private chDB`))
  }
  const noToken = refused(['query'], tierEnv('query', { CLICKHOUSE_URL: 'http://127.0.0.1:1', TIDEMARK_ADMIN_TOKEN: '' }))
  expect(noToken.status).toBe(2)
  expect(noToken.stderr).toMatch(/set TIDEMARK_ADMIN_TOKEN .*the same for every query process/)
})

it('refuses a tier without NATS credentials, or with ones the server does not know', () => {
  const anonymous = refused(['ingest'], { ...tierEnv('ingest'), NATS_NKEY: '' })
  expect(anonymous.status).toBe(1)
  expect(anonymous.stderr).toMatch(/TM_ENGINE_NATS_AUTH_FAILED: .*it requires credentials: set NATS_CREDS, NATS_USER and NATS_PASSWORD, NATS_TOKEN or NATS_NKEY/)
  const wrong = refused(['ingest'], { ...tierEnv('ingest'), NATS_NKEY: '', NATS_USER: 'ingest', NATS_PASSWORD: 'guessed' })
  expect(wrong.status).toBe(1)
  expect(wrong.stderr).toMatch(/TM_ENGINE_NATS_AUTH_FAILED: .*did not accept user ingest/)
})

it('ingest in one process, engine and query in another, tenants shared through NATS KV, every published sample stored once', async () => {
  // Started together: ingest waits for the engine to create the streams.
  const [ingest, backend] = await Promise.all([startTier(['ingest'], 'ingest'), startTier(['engine', 'query'], 'admin')])
  const health = await (await fetch(`${ingest.url}/api/v2/health`)).json()
  expect(health.roles).toEqual(['ingest'])
  // The ingest process never opened ClickHouse.
  expect(health.clickhouse).toBeUndefined()

  // The CLI as the query user (what docker-compose gives it), against NATS_URL.
  const created = spawnSync(process.execPath, [bin, 'tenant', 'create', 'spread'], { env: tierEnv('query'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  expect(created.status, created.stderr).toBe(0)
  expect(created.stderr).toContain(`tidemark: NATS at ${nats.url} (NATS_URL, nkey seed `)
  const tenant = JSON.parse(created.stdout)

  const requests = 20
  const perRequest = 10
  const posts = await Promise.all(
    Array.from({ length: requests }, (_, i) =>
      fetch(`${ingest.url}/api/v2/analytics/metrics`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tenant.ingestToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(Array.from({ length: perRequest }, (_, j) => ({ cpu_usage: (i * perRequest + j) % 100 }))),
      })
    )
  )
  expect(posts.map((p) => p.status)).toEqual(Array(requests).fill(200))
  const published = (await (await fetch(`${ingest.url}/api/v2/health`)).json()).ingest.samples
  expect(published).toBe(requests * perRequest)
  // The ingest process serves no reads.
  expect((await fetch(`${ingest.url}/api/v2/analytics/aggregate?metric=cpu_usage`, { headers: { authorization: `Bearer ${tenant.apiKey}` } })).status).toBe(404)

  const stored = async () => {
    const res = await fetch(`${backend.url}/api/v2/analytics/aggregate?metric=cpu_usage&step=60`, { headers: { authorization: `Bearer ${tenant.apiKey}` } })
    return (await res.json()).total
  }
  await expect.poll(async () => (await stored()).count, { timeout: 15_000, interval: 200 }).toBe(published)
  const expectedSum = Array.from({ length: published }, (_, k) => k % 100).reduce((a, b) => a + b, 0)
  expect(await stored()).toMatchObject({ count: published, sum: expectedSum, min: 0, max: 99 })
})

it('refuses an ingest process whose partition count differs from the deployment\'s, naming TIDEMARK_PARTITIONS', () => {
  const result = refused(['ingest'], tierEnv('ingest', { TIDEMARK_PARTITIONS: '8' }))
  expect(result.status).toBe(1)
  expect(result.stderr).toContain('TM_ENGINE_STREAM_MISMATCH: TM_BEACONS has 16 partitions, TIDEMARK_PARTITIONS says 8')
})

it('`tidemark setup` changes the layout as the engine user, and is refused to the ingest user', () => {
  const run = (user: NatsUserName, extra: Record<string, string>) =>
    spawnSync(process.execPath, [bin, 'setup'], { env: tierEnv(user, extra), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
  const changed = run('engine', { TIDEMARK_STORAGE_ACK_WAIT_MS: '90000' })
  expect(changed.status, changed.stderr).toBe(0)
  expect(changed.stdout).toBe('tm-storage: ack wait 60000 ms → 90000 ms (TIDEMARK_STORAGE_ACK_WAIT_MS)\n')
  const denied = run('ingest', { TIDEMARK_STORAGE_ACK_WAIT_MS: '5000' })
  expect(denied.status).toBe(1)
  expect(denied.stderr).toMatch(/TM_ENGINE_NATS_PERMISSION_DENIED: NATS denied a permission Tidemark needs: .*Permissions Violation/)
})
