// The tiers as separate processes sharing only NATS: beacons posted to a
// `tidemark ingest` process are stored and served by a `tidemark engine query`
// process. (Separate engine and query processes need a ClickHouse server,
// CLICKHOUSE_URL: chDB's directory belongs to one process.)
import { spawnSync, type ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startNats, tempDir, ADMIN_TOKEN } from '../helpers/stack.ts'
import type { SupervisedNatsServer } from '../../engine/index.ts'
import { startTidemarkProcess, TIDEMARK_BIN as bin, type TidemarkProcess } from '../helpers/tidemark-process.ts'

let nats: SupervisedNatsServer
const processes: ChildProcess[] = []

async function startTier(args: string[]): Promise<TidemarkProcess> {
  const env = { ...process.env, NATS_URL: nats.url, TIDEMARK_DATA_DIR: tempDir('tier'), PORT: '0', HOST: '127.0.0.1', TIDEMARK_ADMIN_TOKEN: ADMIN_TOKEN }
  const tier = await startTidemarkProcess(args, env)
  processes.push(tier.child)
  return tier
}

beforeAll(async () => {
  nats = await startNats()
}, 60_000)

afterAll(async () => {
  for (const child of processes) if (child.exitCode === null) child.kill('SIGKILL')
  await nats?.stop()
})

it('a single tier refuses to start without NATS_URL', () => {
  const result = spawnSync(process.execPath, [bin, 'ingest'], { env: { ...process.env, NATS_URL: '', TIDEMARK_DATA_DIR: tempDir('nourl') }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  expect(result.status).toBe(2)
  expect(result.stderr).toMatch(/NATS_URL/)
})

it('ingest in one process, engine and query in another, tenants shared through NATS KV', async () => {
  const [ingest, backend] = await Promise.all([startTier(['ingest']), startTier(['engine', 'query'])])
  const health = await (await fetch(`${ingest.url}/api/v2/health`)).json()
  expect(health.roles).toEqual(['ingest'])
  // The ingest process never opened ClickHouse.
  expect(health.clickhouse).toBeUndefined()

  const created = spawnSync(process.execPath, [bin, 'tenant', 'create', 'spread'], { env: { ...process.env, NATS_URL: nats.url }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  expect(created.status, created.stderr).toBe(0)
  const tenant = JSON.parse(created.stdout)

  const post = await fetch(`${ingest.url}/api/v2/analytics/metrics`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.ingestToken}`, 'content-type': 'application/json' },
    body: JSON.stringify([{ cpu_usage: 85 }, { cpu_usage: 70 }]),
  })
  expect(post.status).toBe(200)
  // The ingest process serves no reads.
  expect((await fetch(`${ingest.url}/api/v2/analytics/aggregate?metric=cpu_usage`, { headers: { authorization: `Bearer ${tenant.apiKey}` } })).status).toBe(404)

  await expect
    .poll(
      async () => {
        const res = await fetch(`${backend.url}/api/v2/analytics/aggregate?metric=cpu_usage&step=60`, { headers: { authorization: `Bearer ${tenant.apiKey}` } })
        return (await res.json()).total
      },
      { timeout: 15_000, interval: 200 }
    )
    .toEqual({ count: 2, sum: 155, avg: 77.5, min: 70, max: 85 })
})
