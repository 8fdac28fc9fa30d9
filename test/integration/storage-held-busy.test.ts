// Item 1 of "Hardening the foundation": while ClickHouse is held busy for longer
// than the ack wait, storage keeps what it holds alive, so the other engine is
// never handed a batch this one is still going to write. Two consumers, each on
// its own NATS connection, share the one chDB; a long query occupies chDB's one
// connection for four ack waits. Every published sample is stored exactly
// once, in the raw table and in both rollups.
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openStorageRig, samplesOf, type StorageRig } from './storage-rig.ts'

const ACK_WAIT_MS = 1000
let rig: StorageRig

beforeAll(async () => {
  rig = await openStorageRig({ ackWaitMs: ACK_WAIT_MS })
})
afterAll(async () => rig?.close())

it('stores every sample once while ClickHouse is busy for longer than the ack wait, with two engines', async () => {
  const engines = [await rig.consumer({ batchRows: 400 }), await rig.consumer({ batchRows: 400 })]
  // Both engines take part: warm up until each has stored something.
  let warm = 0
  while (engines.some((e) => e.storage.stats.inserts === 0)) {
    await rig.publish(samplesOf('warm', 10), warm++ % 4)
    await sleep(20)
  }
  await rig.settled()

  // Measured: chDB runs one statement at a time, off the event loop; this holds it for 4 s (0.5 s a row, one
  // row a block) while inserts queue behind it and timers, the keep-alives among them, go on firing.
  const started = Date.now()
  const busy = rig.store.rows('SELECT sum(sleepEachRow(0.5)) AS s FROM numbers(8) SETTINGS max_block_size = 1')
  await sleep(50)
  let published = 0
  for (let i = 0; i < 60; i++) {
    await rig.publish(samplesOf('held', 50), i % 4)
    published += 50
    await sleep(20)
  }
  // Still busy: each engine holds a bounded amount (writes queued up to two, plus one buffer), the rest waits in JetStream.
  expect(Date.now() - started).toBeLessThan(3500)
  expect((await rig.info()).num_pending).toBeGreaterThan(0)
  for (const { storage } of engines) expect(((await storage.health()).held as { rows: number }).rows).toBeLessThanOrEqual(3 * 400 + 50)
  await busy
  expect(Date.now() - started).toBeGreaterThan(3 * ACK_WAIT_MS)

  await rig.settled(20_000)
  // Nothing comes back later either.
  await sleep(3 * ACK_WAIT_MS)
  await rig.settled()
  expect(await rig.counts('held')).toEqual({ samples: published, rollup1m: published, rollup1h: published })
  expect(await rig.counts('warm')).toEqual({ samples: warm * 10, rollup1m: warm * 10, rollup1h: warm * 10 })
  // Kept alive throughout: JetStream never redelivered anything, and nothing lapsed.
  for (const { storage } of engines) expect([storage.stats.redelivered, storage.stats.lapsedMessages]).toEqual([0, 0])
}, 40_000)
