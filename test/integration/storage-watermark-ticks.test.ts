// The stream engine publishes watermark ticks into tm.beacons.<p> so replays see
// them; storage shares those subjects and must ack a tick without writing it or
// taking it for a poison batch.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { encodeBatch } from '../../engine/model/beacon-batch.ts'
import { beaconSubject, DEAD_LETTERS_STREAM } from '../../engine/nats/subjects.ts'
import { tickMessage } from '../../engine/stream/watermark-ticks.ts'
import { openStorageRig, samplesOf, type StorageRig } from './storage-rig.ts'

let rig: StorageRig

beforeAll(async () => {
  rig = await openStorageRig({ ackWaitMs: 2000 })
})
afterAll(async () => rig?.close())

it('acks watermark ticks between batches without storing them or dead-lettering them', async () => {
  const { storage } = await rig.consumer()
  const tenant = 't_ticks'
  for (let i = 0; i < 3; i++) {
    await rig.js.publish(beaconSubject(1), encodeBatch(samplesOf(tenant, 10)))
    const tick = tickMessage(1, 1_700_000_000_000 + i * 1000)
    await rig.js.publish(beaconSubject(1), tick.data, { headers: tick.headers, msgID: tick.msgID })
  }
  await rig.settled()
  expect(await rig.counts(tenant)).toEqual({ samples: 30, rollup1m: 30, rollup1h: 30 })
  expect(storage.stats.watermarkTicks).toBe(3)
  expect(storage.stats.deadLetters).toBe(0)
  expect((await rig.jsm.streams.info(DEAD_LETTERS_STREAM)).state.messages).toBe(0)
})
