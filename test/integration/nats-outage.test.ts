// While NATS is down nothing is acknowledged: ingest answers 503 and health
// says why. When NATS is back, the same process takes beacons again and
// everything acknowledged before and after is stored.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { SupervisedNatsServer, type CreatedTenant } from '../../engine/index.ts'
import { startStack, tempDir, type Stack } from '../helpers/stack.ts'

const storeDir = tempDir('nats-outage')
let nats: SupervisedNatsServer
let stack: Stack
let tenant: CreatedTenant

beforeAll(async () => {
  nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir })
  // A message delivered to the pull subscription the outage broke comes back after the ack wait: keep it short here.
  stack = await startStack({ publishTimeoutMs: 1500, storageAckWaitMs: 3000, logLevel: 'fatal' }, { nats })
  tenant = await stack.createTenant('outage')
})
afterAll(async () => {
  // Draining must not wait out the ack wait of a message stranded on the consumer the outage broke.
  const started = Date.now()
  await stack?.stop()
  expect(Date.now() - started).toBeLessThan(10_000)
  await nats?.stop()
})

const beacon = (value: number) => stack.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, { page_views: value })

it('answers 503 while JetStream is unreachable, and resumes when it is back', async () => {
  expect((await beacon(1)).status).toBe(200)
  await nats.stop()

  const refused = await beacon(2)
  expect(refused.status).toBe(503)
  expect(refused.body.code).toBe('TM_INGEST_UNAVAILABLE')
  const health = await stack.request('GET', '/api/v2/health', undefined)
  expect(health.status).toBe(503)
  expect(health.body.nats.ok).toBe(false)

  // The same store on the same port: the client reconnects by itself.
  nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir, port: nats.port })
  await expect.poll(async () => (await stack.request('GET', '/api/v2/health', undefined)).status, { timeout: 15_000, interval: 200 }).toBe(200)
  expect((await beacon(3)).status).toBe(200)

  // Both acknowledged beacons are stored; the refused one may or may not have landed, but was never promised.
  // Storage survived the outage: it restarted its consumer and goes on.
  await expect
    .poll(async () => (await stack.request('GET', '/api/v2/analytics/aggregate?metric=page_views&step=60', tenant.apiKey)).body.series.sum.filter((v: number | null) => v !== null).reduce((a: number, b: number) => a + b, 0), { timeout: 20_000, interval: 200 })
    .toBeGreaterThanOrEqual(4)
})
