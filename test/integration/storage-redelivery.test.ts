// A batch that reached ClickHouse but was never acked (the process died in
// between) is redelivered by JetStream, mixed with newer messages; it must be
// stored exactly once, rollups included.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstreamManager } from '@nats-io/jetstream'
import { BEACONS_STREAM, STORAGE_CONSUMER, type CreatedTenant } from '../../engine/index.ts'
import { startStack, type Stack } from '../helpers/stack.ts'

let stack: Stack
let tenant: CreatedTenant
let crashes = 0
let crashNext = false

beforeAll(async () => {
  stack = await startStack(
    // fatal: the simulated crash is logged as an error, which is noise here. No stream engine: its anomaly
    // scores are rows too, stored by the same consumer, and this counts what the client sent.
    { storageAckWaitMs: 1500, logLevel: 'fatal', streamEngine: false },
    {
      afterInsert: () => {
        // Dies after ClickHouse accepted the insert and before the acks: the worst moment.
        if (!crashNext) return
        crashNext = false
        crashes++
        throw new Error('simulated crash between insert and ack')
      },
    }
  )
  tenant = await stack.createTenant('redelivery')
})
afterAll(async () => stack?.stop())

async function post(count: number, metric: string): Promise<void> {
  const beacons = Array.from({ length: count }, (_, i) => ({ [metric]: i + 1 }))
  const res = await stack.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, beacons)
  expect(res.status).toBe(200)
}

async function count(table: string, column: string): Promise<number> {
  const [row] = await stack.tidemark.runtime.store!.rows<{ n: string }>(`SELECT ${column} AS n FROM tidemark.${table} WHERE tenant = {t:String}`, {
    t: tenant.id,
  })
  return Number(row?.n ?? 0)
}

it('stores a redelivered batch once, even when it comes back mixed with new messages', async () => {
  const storage = stack.tidemark.storage!
  crashNext = true
  await post(50, 'page_views')
  // The insert landed: the rows are there, but JetStream still holds the messages unacked.
  // (Polled, not waitForRows: that one also waits for storage to settle, which would let the redelivery finish first.)
  await expect.poll(() => count('samples', 'count()'), { timeout: 10_000 }).toBe(50)
  await expect.poll(() => crashes).toBe(1)
  const jsm = await jetstreamManager(stack.tidemark.runtime.nc)
  expect((await jsm.consumers.info(BEACONS_STREAM, STORAGE_CONSUMER)).num_ack_pending).toBeGreaterThan(0)

  // New data arrives while the redelivery is still pending.
  await post(30, 'visits')
  // The crashed batch came back (naked by the failing write, or after the ack wait) and was regrouped by its intent.
  await expect.poll(() => storage.stats.replayedIntents, { timeout: 15_000, interval: 100 }).toBe(1)
  expect(await stack.waitForRows(tenant.id, 80)).toBe(80)
  await expect.poll(async () => (await jsm.consumers.info(BEACONS_STREAM, STORAGE_CONSUMER)).num_ack_pending, { timeout: 10_000 }).toBe(0)

  // Exactly once: no duplicate raw rows, and the rollups saw each sample once too.
  expect(await count('samples', 'count()')).toBe(80)
  expect(await count('samples_1m', 'sum(count)')).toBe(80)
  expect(await count('samples_1h', 'sum(count)')).toBe(80)
  expect(await count('samples', "sumIf(value, metric = 'page_views')")).toBe((50 * 51) / 2)
  expect(storage.stats.writeFailures).toBe(1)
})
