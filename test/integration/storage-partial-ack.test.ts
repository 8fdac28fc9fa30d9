// Item 2 of "Hardening the foundation": a write whose acks only partly landed
// (the engine was killed halfway through acknowledging) is completed by another
// engine. The acknowledged half is never redelivered, so the intent is finished
// from the stream itself: every sample is stored once and JetStream ends up
// holding nothing for storage.
import { setTimeout as sleep } from 'node:timers/promises'
import type { JsMsg } from '@nats-io/jetstream'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openStorageRig, samplesOf, type StorageRig } from './storage-rig.ts'

const ACK_WAIT_MS = 1000
let rig: StorageRig

beforeAll(async () => {
  rig = await openStorageRig({ ackWaitMs: ACK_WAIT_MS })
})
afterAll(async () => rig?.close())

it('completes an intent whose acks only partly landed, and stores each sample once', async () => {
  let killed = false
  const victim = await rig.consumer({
    lingerMs: 300,
    afterInsert: async (_token: string, messages: readonly JsMsg[]) => {
      if (killed) return
      killed = true
      // Half the acks land, then the process dies: its connection goes, nothing else is sent.
      await Promise.all(messages.slice(0, Math.floor(messages.length / 2)).map((m) => m.ackAck()))
      await victim.nc.close()
      throw new Error('killed while acknowledging')
    },
  })
  let published = 0
  for (let i = 0; i < 10; i++) {
    await rig.publish(samplesOf('partial', 10), i % 3)
    published += 10
  }
  await expect.poll(() => killed, { timeout: 10_000 }).toBe(true)
  await expect.poll(async () => (await rig.info()).num_ack_pending, { timeout: 5000 }).toBeGreaterThan(0)
  const halfAcked = await rig.info()
  expect(halfAcked.num_ack_pending).toBeLessThan(10)
  expect(halfAcked.ack_floor.stream_seq).toBeGreaterThan(0)

  // A second engine takes over what the dead one left.
  const heir = await rig.consumer()
  await rig.settled(15_000)
  await sleep(2 * ACK_WAIT_MS)
  await rig.settled()
  expect(await rig.counts('partial')).toEqual({ samples: published, rollup1m: published, rollup1h: published })
  expect(heir.storage.stats.replayedIntents).toBe(1)
  // The acknowledged half was read back from the stream, not waited for.
  expect(heir.storage.stats.readFromStream).toBe(10 - halfAcked.num_ack_pending)
  // Once the ack floor has passed it for an ack wait, the intent is deleted.
  await expect.poll(() => heir.storage.health().then((h) => h.intents), { timeout: 10_000 }).toBe(0)
  expect(await rig.intentKeys()).toEqual([])

  // And storage goes on.
  await rig.publish(samplesOf('partial', 5))
  await rig.settled()
  await expect.poll(async () => (await rig.counts('partial')).samples).toBe(published + 5)
}, 40_000)
