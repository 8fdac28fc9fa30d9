// Item 3 of "Hardening the foundation": a batch ClickHouse refuses for its
// content, or one that does not decode, goes to the dead-letter stream with the
// reason, and storage goes on. The good messages written in the same insert are
// stored exactly once, also when the write is interrupted after the bisection and
// redone: the halves have tokens derived from the batch's, and the dead letters
// message ids.
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { encodeBatch } from '../../engine/model/beacon-batch.ts'
import { DeadLetterHeader, STORAGE_DEAD_LETTER_SUBJECT } from '../../engine/storage/dead-letters.ts'
import { registerHealthRoute } from '../../engine/http/health-route.ts'
import type { Sample } from '../../engine/model/sample.ts'
import { beaconSubject, BEACONS_STREAM, DEAD_LETTERS_STREAM } from '../../engine/nats/subjects.ts'
import { openStorageRig, samplesOf, type StorageRig } from './storage-rig.ts'

let rig: StorageRig

beforeAll(async () => {
  rig = await openStorageRig({ ackWaitMs: 2000 })
})
afterAll(async () => rig?.close())

/** A batch that decodes, with a value ClickHouse cannot parse as a Float64 among good samples. */
function wrongTyped(tenant: string): Uint8Array {
  const samples = samplesOf(tenant, 5)
  ;(samples[2] as unknown[])[3] = 'abc'
  return encodeBatch(samples as Sample[])
}

async function deadLetters(): Promise<Array<{ data: Uint8Array; header: (name: string) => string }>> {
  const state = (await rig.jsm.streams.info(DEAD_LETTERS_STREAM)).state
  const letters = []
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const stored = await rig.jsm.streams.getMessage(DEAD_LETTERS_STREAM, { seq })
    if (stored) letters.push({ data: stored.data, header: (name: string) => stored.header.get(name) })
  }
  return letters
}

// Twice: RowBinary (chDB's default), where the encoder finds the wrong-typed value before any insert, and
// JSON text (the HTTP path), where ClickHouse refuses it and halving isolates it.
it.each([
  { path: 'RowBinary', binaryInserts: true, tenant: 'poison' },
  { path: 'text', binaryInserts: false, tenant: 'poison-text' },
])('dead-letters a refused and an undecodable batch, stores their neighbours once, and goes on ($path)', async ({ binaryInserts, tenant }) => {
  const lettersBefore = (await rig.jsm.streams.info(DEAD_LETTERS_STREAM)).state.messages
  let crashed = false
  const { storage } = await rig.consumer({
    binaryInserts,
    // One insert holds everything published below.
    lingerMs: 500,
    health: { deadLetterAlarm: 3 },
    afterInsert: () => {
      // Interrupted after the bisection and the dead letters, before any ack: the redo must change nothing.
      if (crashed) return
      crashed = true
      throw new Error('simulated crash before the acks')
    },
  })
  let good = 0
  const publishGood = async (messages: number): Promise<void> => {
    for (let i = 0; i < messages; i++) {
      await rig.publish(samplesOf(tenant, 10), i % 4)
      good += 10
    }
  }
  await publishGood(6)
  const poison = wrongTyped(tenant)
  const refusedSeq = await rig.publishRaw(poison, 1)
  await publishGood(5)
  const garbage = randomBytes(64)
  const garbageSeq = await rig.publishRaw(garbage, 2)
  await publishGood(1)

  await rig.settled()
  expect(crashed).toBe(true)
  expect(await rig.counts(tenant)).toEqual({ samples: good, rollup1m: good, rollup1h: good })
  expect(storage.stats).toMatchObject({ deadLetters: 2, writeFailures: 1, replayedIntents: 1 })
  // 13 messages, one refused: halving finds it in 4 refused inserts (13 -> 7 -> 4 -> 2 -> 1); the encoder finds it with none.
  if (binaryInserts) expect(storage.stats.refusedInserts).toBe(0)
  else expect(storage.stats.refusedInserts).toBeGreaterThanOrEqual(4)

  const letters = (await deadLetters()).filter((l) => [String(refusedSeq), String(garbageSeq)].includes(l.header(DeadLetterHeader.Sequence)))
  expect(letters.map((l) => l.header(DeadLetterHeader.Sequence)).sort()).toEqual([String(refusedSeq), String(garbageSeq)].sort())
  const refused = letters.find((l) => l.header(DeadLetterHeader.Sequence) === String(refusedSeq))!
  expect(refused.header(DeadLetterHeader.Code)).toBe('TM_ENGINE_STORAGE_BATCH_REFUSED')
  expect(refused.header(DeadLetterHeader.Reason)).toMatch(binaryInserts ? /sample 2: value is "abc", not a number/ : /CANNOT_PARSE|Cannot read floating point/)
  expect(refused.header(DeadLetterHeader.Subject)).toBe(beaconSubject(1))
  expect(refused.header(DeadLetterHeader.Stream)).toBe(BEACONS_STREAM)
  expect(Buffer.from(refused.data)).toEqual(Buffer.from(poison))
  const undecodable = letters.find((l) => l.header(DeadLetterHeader.Sequence) === String(garbageSeq))!
  expect(undecodable.header(DeadLetterHeader.Code)).toBe('TM_ENGINE_BATCH_DECODE_FAILED')
  expect(Buffer.from(undecodable.data)).toEqual(garbage)

  // Two dead letters are reported, not alarmed on; storage goes on.
  const health = await storage.health()
  expect(health).toMatchObject({ ok: true, deadLetters: 2, recentDeadLetters: 2 })
  await rig.publish(samplesOf(tenant, 10))
  good += 10
  await rig.settled()
  expect(await rig.counts(tenant)).toEqual({ samples: good, rollup1m: good, rollup1h: good })

  // A third within the window: dead letters are piling up, and /api/v2/health says so with a 503.
  await rig.publishRaw(wrongTyped(tenant), 0)
  await rig.settled()
  const app = Fastify()
  registerHealthRoute(app, { storage: () => storage.health() }, ['engine'])
  const answer = await app.inject({ method: 'GET', url: '/api/v2/health' })
  expect(answer.statusCode).toBe(503)
  expect(answer.json().storage).toMatchObject({ ok: false, code: 'TM_ENGINE_STORAGE_UNHEALTHY', deadLetters: 3 })
  expect(answer.json().storage.reason).toMatch(/3 batches dead-lettered/)
  await app.close()
  expect((await rig.jsm.streams.info(DEAD_LETTERS_STREAM)).state.messages).toBe(lettersBefore + 3)
  // The next case's consumer is the only one pulling.
  await storage.stop()
  expect(STORAGE_DEAD_LETTER_SUBJECT).toBe('tm.deadletter.storage')
})
