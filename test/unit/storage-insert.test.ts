// The pure parts of storage: rows from samples, the bisection that isolates the
// messages ClickHouse refuses, and which ClickHouse errors count as a refusal.
import { expect, it } from 'vitest'
import { encodeBatch } from '../../engine/model/beacon-batch.ts'
import { clickHouseErrorName, isContentRefusal } from '../../engine/clickhouse/clickhouse-errors.ts'
import type { Sample } from '../../engine/model/sample.ts'
import { pack } from 'msgpackr'
import { batchLength, decodeItem, insertIsolating, rowsOf, type BatchItem, type Refusal } from '../../engine/storage/storage-insert.ts'

const item = (seq: number, samples: unknown[]): BatchItem => decodeItem(seq, 'tm.beacons.0', encodeBatch(samples as Sample[]))
const good = (seq: number): BatchItem => item(seq, [['t', 'm', 1000 * seq, seq, null, 0]])
const refusal = (): Error => Object.assign(new Error('Cannot read floating point value here'), { type: 'CANNOT_PARSE_NUMBER', code: '72' })

it('isolates the refused messages by halving, each half under a token derived from its parent', async () => {
  const items = [1, 2, 3, 4, 5, 6, 7].map((seq) => (seq === 5 ? item(seq, [['t', 'm', 0, 'abc', null, 0]]) : good(seq)))
  const inserted = new Map<string, number[]>()
  const tried: string[] = []
  const insert = async (lines: string[], token: string): Promise<void> => {
    tried.push(token)
    if (lines.some((l) => l.includes('"abc"'))) throw refusal()
    inserted.set(token, lines.map((l) => Number(/,(\d+)\]$/.exec(l)?.[1])))
  }
  const refused: Refusal[] = []
  await insertIsolating(items, 'T', insert, refused)
  expect(refused.map((r) => [r.item.seq, r.error.code])).toEqual([[5, 'TM_ENGINE_STORAGE_BATCH_REFUSED']])
  // Every good message inserted exactly once, under a token that is the same on every replay.
  expect([...inserted.values()].flat().sort()).toEqual([1, 2, 3, 4, 6, 7])
  expect([...inserted.keys()]).toEqual(['T/0', 'T/1/0/1', 'T/1/1'])
  const again: string[] = []
  await insertIsolating(items, 'T', async (lines, token) => {
    again.push(token)
    if (lines.some((l) => l.includes('"abc"'))) throw refusal()
  }, [])
  expect(again).toEqual(tried)
})

it('lets an outage through untouched: no halving, nothing refused', async () => {
  const refused: Refusal[] = []
  const down = Object.assign(new Error('Table tidemark.samples does not exist'), { type: 'UNKNOWN_TABLE' })
  let calls = 0
  const insert = async (): Promise<void> => {
    calls++
    throw down
  }
  await expect(insertIsolating([good(1), good(2)], 'T', insert, refused)).rejects.toBe(down)
  expect([calls, refused.length]).toEqual([1, 0])
})

it('writes a wrong-typed field as a quoted value, never as text that could start another row', () => {
  const [line, ...rest] = rowsOf([item(9, [['t', 'm', '1],["other","m",0', '5,{},0,1],["x', null, 0]])])
  expect(rest).toEqual([])
  expect(JSON.parse(line as string)).toEqual(['t', 'm', '1],["other","m",0', '5,{},0,1],["x', {}, 0, 9])
})

it('turns what is not a batch of sample tuples into an item with the reason', () => {
  expect(decodeItem(1, 's', new Uint8Array([0xc1, 0xff, 0x00]))).toMatchObject({ samples: null, problem: expect.any(String) })
  expect(item(2, [['t', 'm', 0, 1, null, 0], 42])).toMatchObject({ samples: null, problem: 'sample 1 is not a sample tuple' })
  expect(good(3).samples).toHaveLength(1)
})

it('tells content refusals from outages by the ClickHouse error name', () => {
  expect(isContentRefusal(refusal())).toBe(true)
  expect(isContentRefusal({ type: 'CANNOT_PARSE_INPUT_ASSERTION_FAILED' })).toBe(true)
  expect(isContentRefusal({ type: 'TYPE_MISMATCH' })).toBe(true)
  // As chDB words it when no type was parsed out.
  const text = new Error('Code: 41. DB::Exception: Cannot read DateTime: unexpected alphabetical character. (CANNOT_PARSE_DATETIME) (version 26.7)')
  expect(clickHouseErrorName(text)).toBe('CANNOT_PARSE_DATETIME')
  expect(isContentRefusal(text)).toBe(true)
  for (const outage of [
    { type: 'UNKNOWN_TABLE' },
    { type: 'MEMORY_LIMIT_EXCEEDED' },
    { type: 'TOO_MANY_PARTS' },
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' }),
    new Error('socket hang up'),
    new Error('(CANNOT_PARSE_NUMBER) but not from ClickHouse'),
  ]) {
    expect(isContentRefusal(outage), JSON.stringify(outage)).toBe(false)
  }
})

it('counts the samples of a batch from its first bytes, as decoding would, and decodes what it cannot read', () => {
  for (const n of [0, 1, 15, 16, 1000, 70_000]) {
    const data = encodeBatch(Array.from({ length: n }, (_, i) => ['t', 'm', i, i, null, 0] as Sample))
    expect(batchLength(data)).toBe(n)
    expect(decodeItem(1, 's', data, { decode: false })).toMatchObject({ samples: null, rows: n, problem: null })
  }
  // Another layout (the keys the other way round) is decoded, not guessed at.
  const swapped = pack({ s: [['t', 'm', 1, 2, null, 0]], v: 1 })
  expect(batchLength(swapped)).toBeNull()
  expect(decodeItem(1, 's', swapped, { decode: false })).toMatchObject({ rows: 1, problem: null })
  expect(decodeItem(1, 's', Uint8Array.from([0xde, 0, 2, 1, 2]), { decode: false }).problem).not.toBeNull()
})
