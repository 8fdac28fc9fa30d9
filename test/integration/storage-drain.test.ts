// Item 3 (drain) and item 8 of "Hardening the foundation": while ClickHouse
// cannot take inserts, drain() still returns by its deadline, health says
// storage is stuck and why, and what was not stored is stored exactly once by
// the next engine when ClickHouse is back.
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { registerHealthRoute } from '../../engine/http/health-route.ts'
import { openStorageRig, samplesOf, type StorageRig } from './storage-rig.ts'

let rig: StorageRig

beforeAll(async () => {
  rig = await openStorageRig({ ackWaitMs: 1000 })
})
afterAll(async () => rig?.close())

it('keeps the drain deadline while inserts fail, reports being stuck, and loses nothing', async () => {
  const { storage } = await rig.consumer({ health: { stuckAfterMs: 1000 } })
  await rig.store.command('RENAME TABLE tidemark.samples TO tidemark.samples_away')
  let published = 0
  for (let i = 0; i < 5; i++) {
    await rig.publish(samplesOf('down', 20), i)
    published += 20
  }
  await expect.poll(() => storage.stats.insertFailures, { timeout: 5000 }).toBeGreaterThanOrEqual(2)
  await expect
    .poll(() => storage.health(), { timeout: 5000, interval: 200 })
    .toMatchObject({ ok: false, code: 'TM_ENGINE_STORAGE_UNHEALTHY', held: { messages: 5, rows: 100 } })
  const health = await storage.health()
  expect(health.reason).toMatch(/no write completed for \d+ s with 5 messages waiting, the insert under way failed \d+ times/)
  expect(health.reason).toMatch(/UNKNOWN_TABLE|does not exist/)
  const app = Fastify()
  registerHealthRoute(app, { storage: () => storage.health() }, ['engine'])
  const answer = await app.inject({ method: 'GET', url: '/api/v2/health' })
  expect(answer.statusCode).toBe(503)
  expect(answer.json().storage.reason).toMatch(/^Storage is failing: no write completed/)
  await app.close()

  const started = Date.now()
  await storage.drain(1500)
  const took = Date.now() - started
  expect(took).toBeGreaterThanOrEqual(1400)
  expect(took).toBeLessThan(2500)

  await rig.store.command('RENAME TABLE tidemark.samples_away TO tidemark.samples')
  const heir = await rig.consumer()
  await rig.settled()
  expect(await rig.counts('down')).toEqual({ samples: published, rollup1m: published, rollup1h: published })
  expect(await heir.storage.health()).toMatchObject({ ok: true, held: { messages: 0 } })
})

it('keeps the drain deadline while chDB is held busy, and the insert it could not take back lands once', async () => {
  const { storage } = await rig.consumer({ batchRows: 40 })
  const busy = rig.store.rows('SELECT sum(sleepEachRow(0.5)) AS s FROM numbers(8) SETTINGS max_block_size = 1')
  await sleep(50)
  let published = 0
  for (let i = 0; i < 10; i++) {
    await rig.publish(samplesOf('busy', 20), i % 4)
    published += 20
  }
  await expect.poll(async () => ((await storage.health()).held as { writes: number }).writes).toBe(2)
  const started = Date.now()
  await storage.drain(1000)
  expect(Date.now() - started).toBeLessThan(2000)
  await busy

  await rig.consumer()
  await rig.settled()
  await sleep(1500)
  await rig.settled()
  expect(await rig.counts('busy')).toEqual({ samples: published, rollup1m: published, rollup1h: published })
})
