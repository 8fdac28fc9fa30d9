// Item 8 of "Storage and query tier": storage inserts RowBinary through a file
// on chDB, encoded in a worker thread. These tests read the rows back: the
// binary path stores what the text path stores, tricky values included; a second
// insert under the same token adds nothing, to the samples nor to the rollups;
// a message that is not rows is set aside with the reason, its neighbours stored.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { encodeBatch } from '../../engine/model/beacon-batch.ts'
import type { Sample } from '../../engine/model/sample.ts'
import { decodeItem, fileInsertStatement } from '../../engine/storage/storage-insert.ts'
import { encodeToFile, scratchFile } from '../../engine/storage/row-binary-encoder.ts'
import { StorageWriter } from '../../engine/storage/storage-writer.ts'
import { newStorageStats } from '../../engine/storage/storage-stats.ts'
import { openStorageRig, samplesOf, type StorageRig } from './storage-rig.ts'

let rig: StorageRig

beforeAll(async () => {
  rig = await openStorageRig({ ackWaitMs: 2000 })
})
afterAll(async () => rig?.close())

function writer(binary: boolean, stats = newStorageStats()): StorageWriter {
  return new StorageWriter({ js: rig.js, jsm: rig.jsm, store: rig.store, consumerName: 'binary-test', stats, signal: new AbortController().signal, log: undefined, binary })
}

/** Samples whose every column has an edge: unicode and empty tags, no tags, signs and fractions, the ends of DateTime64(3). */
function tricky(tenant: string): Sample[] {
  return [
    [tenant, 'm', 0, -1.5, { 'städt': 'Zürich 🌊', '': '' }, 1],
    [tenant, 'm', Date.UTC(2299, 11, 31, 23, 59, 59, 999), 1e308, {}, Date.UTC(2024, 0, 1)],
    [tenant, 'métrique', Date.UTC(2024, 5, 1, 12, 0, 0, 1), -0.000001, null, Date.UTC(2024, 5, 1)],
    [tenant, 'm', Date.UTC(1970, 0, 1, 0, 0, 1), 123456789.123456, { long: 'x'.repeat(300), quote: `'"\\\n` }, Date.UTC(2024, 5, 1)],
  ]
}

const rowsSql =
  `SELECT metric, toUnixTimestamp64Milli(ts) AS ts, value, tags, toUnixTimestamp64Milli(received_at) AS received_at, stream_seq ` +
  `FROM tidemark.samples WHERE tenant = {t:String} ORDER BY stream_seq, ts, metric, value`

it('stores through RowBinary exactly what the text path stores, tricky values included', async () => {
  const large = 2 ** 53 - 1
  const plain = samplesOf('', 3)
  const as = (tenant: string, samples: Sample[]): Sample[] => samples.map(([, ...rest]) => [tenant, ...rest])
  const items = (tenant: string) => [decodeItem(7, 'tm.beacons.0', encodeBatch(tricky(tenant))), decodeItem(large, 'tm.beacons.1', encodeBatch(as(tenant, plain)))]
  await writer(false).store(items('cmp-text'), 'cmp-text-1')
  const binary = writer(true)
  await binary.store(items('cmp-bin'), 'cmp-bin-1')
  const text = await rig.store.rows<Record<string, unknown>>(rowsSql, { t: 'cmp-text' })
  const bin = await rig.store.rows<Record<string, unknown>>(rowsSql, { t: 'cmp-bin' })
  expect(bin).toHaveLength(7)
  expect(bin).toEqual(text)
  // And what was meant, not only the same: the edges survive.
  expect(bin[0]).toMatchObject({ metric: 'm', ts: 0, value: -1.5, tags: { 'städt': 'Zürich 🌊', '': '' }, received_at: 1, stream_seq: 7 })
  expect(bin.find((r) => r.metric === 'métrique')).toMatchObject({ tags: {}, value: -0.000001 })
  expect(bin.some((r) => Number(r.ts) === Date.UTC(2299, 11, 31, 23, 59, 59, 999) && r.value === 1e308)).toBe(true)
  expect(bin.some((r) => (r.tags as Record<string, string>).quote === `'"\\\n`)).toBe(true)
  expect(bin.at(-1)).toMatchObject({ stream_seq: large })
  // The files are gone after their insert.
  expect(fs.readdirSync(rig.store.localFilesDir!).filter((f) => f.endsWith('.rowbinary'))).toEqual([])
})

it('adds nothing on a second insert of a file under the same token, to the samples or the rollups', async () => {
  const dir = rig.store.localFilesDir!
  fs.mkdirSync(dir, { recursive: true })
  const data = [encodeBatch(samplesOf('dedup-bin', 50)), encodeBatch(samplesOf('dedup-bin', 50))]
  const insert = async (token: string): Promise<void> => {
    const file = scratchFile(dir)
    expect((await encodeToFile({ datas: data, seqs: [1, 2], file })).rows).toBe(100)
    await rig.store.command(fileInsertStatement('tidemark', token, file))
    fs.rmSync(file)
  }
  await insert('dedup-bin-token')
  expect(await rig.counts('dedup-bin')).toEqual({ samples: 100, rollup1m: 100, rollup1h: 100 })
  await insert('dedup-bin-token')
  expect(await rig.counts('dedup-bin')).toEqual({ samples: 100, rollup1m: 100, rollup1h: 100 })
  // A different token is a different insert: the check above could fail.
  await insert('dedup-bin-other')
  expect(await rig.counts('dedup-bin')).toEqual({ samples: 200, rollup1m: 200, rollup1h: 200 })
  expect(path.isAbsolute(dir)).toBe(true)
})

it('sets aside a message that is not rows with the reason, and stores the rest', async () => {
  const bad = samplesOf('notrows-bin', 4) as unknown[][]
  ;(bad[1] as unknown[])[3] = 'abc'
  const badTag = samplesOf('notrows-bin', 2) as unknown[][]
  ;(badTag[0] as unknown[])[4] = { n: 5 }
  const items = [
    decodeItem(1, 'tm.beacons.0', encodeBatch(samplesOf('notrows-bin', 5))),
    decodeItem(2, 'tm.beacons.0', encodeBatch(bad as Sample[])),
    decodeItem(3, 'tm.beacons.0', encodeBatch(badTag as Sample[])),
    decodeItem(4, 'tm.beacons.0', encodeBatch(samplesOf('notrows-bin', 6))),
  ]
  const stats = newStorageStats()
  await writer(true, stats).store(items, 'notrows-bin-1')
  expect(await rig.counts('notrows-bin')).toEqual({ samples: 11, rollup1m: 11, rollup1h: 11 })
  // Found by the encoder, not refused by ClickHouse: no insert was refused or halved.
  expect(stats).toMatchObject({ deadLetters: 2, refusedInserts: 0, inserts: 1, rows: 11 })
  expect(stats.lastDeadLetter).toMatch(/#3: .*sample 0: tag "n" is 5, not a string/)
})
