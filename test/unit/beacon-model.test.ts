// Pure logic of the beacon model: series keys, partitions, the batch wire format, metric kinds.
import { describe, expect, it } from 'vitest'
import { Packr } from 'msgpackr'
import {
  decodeBatch,
  encodeBatch,
  metricKind,
  parseIsoTimestamp,
  partitionOf,
  seriesKey,
  seriesPartition,
  seriesTagsKey,
  tenantHashSeed,
  type Sample,
} from '../../engine/index.ts'
import { BATCH_ENVELOPE_BYTES, batchByteLimit, sampleBytesBound } from '../../ingest/batch-bytes.ts'
import { beaconsToSamples, notDurableBeacons } from '../../ingest/beacon-samples.ts'
import { decodeDurable, encodeDurable } from '../../ingest/idempotency.ts'

describe('seriesKey and partitionOf', () => {
  it('give the same series the same key whatever the tag order', () => {
    expect(seriesKey('cpu', { b: '2', a: '1' })).toBe(seriesKey('cpu', { a: '1', b: '2' }))
    expect(seriesKey('cpu', { a: '1' })).toBe('cpu{a=1}')
    expect(seriesKey('cpu', null)).toBe('cpu')
    expect(seriesKey('cpu', {})).toBe('cpu')
  })

  it('keeps a tenant+series in one partition and spreads many over all of them', () => {
    expect(partitionOf('t1', 'cpu{host=a}', 16)).toBe(partitionOf('t1', 'cpu{host=a}', 16))
    const seen = new Set<number>()
    for (let i = 0; i < 2000; i++) seen.add(partitionOf(`tenant-${i % 7}`, `metric_${i}`, 16))
    expect(seen.size).toBe(16)
    // The tenant is part of the hash: the same series of two tenants need not share a partition.
    const differs = Array.from({ length: 50 }, (_, i) => partitionOf('a', `m${i}`, 16) !== partitionOf('b', `m${i}`, 16))
    expect(differs).toContain(true)
  })

  it('seriesPartition, from the pieces without building the key, is partitionOf of the key (ingest partitions with it, the engine reads by it)', () => {
    const tagSets: Array<Record<string, string> | null> = [null, {}, { page: '/p1' }, { b: '2', a: '1' }, { host: 'é€😀', 'x.y-z': '' }, { k: '{a=1}' }]
    for (const tenant of ['t_0123456789abcdef', 'tenant-é', '']) {
      for (const metric of ['page_views', 'm', 'x'.repeat(63)]) {
        for (const tags of tagSets) {
          expect(seriesKey(metric, tags)).toBe(metric + seriesTagsKey(tags))
          for (const partitions of [1, 7, 16, 64]) {
            expect(seriesPartition(tenantHashSeed(tenant), metric, seriesTagsKey(tags), partitions)).toBe(partitionOf(tenant, seriesKey(metric, tags), partitions))
          }
        }
      }
    }
  })
})

describe('batch wire format', () => {
  it('round-trips samples through msgpack', () => {
    const samples: Sample[] = [
      ['t1', 'page_views', 1_700_000_000_000, 150, null, 1_700_000_000_005],
      ['t1', 'load_time', 1_700_000_000_000, 420.5, { site: 'a' }, 1_700_000_000_005],
    ]
    expect(decodeBatch(encodeBatch(samples))).toEqual(samples)
  })

  it("writes Packr's very bytes (storage's batchLength reads its layout), for any numbers, strings and tags", () => {
    const packr = new Packr({ useRecords: false, mapsAsObjects: true })
    const now = 1_763_800_000_123
    const shared = { page: '/p1', host: 'h' }
    const manyTags = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'v'.repeat(300)]))
    const numbers = [0, 1, 31, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), 1.5, -0, NaN, Infinity, 1e300, now]
    const samples: Sample[] = []
    for (const [i, n] of numbers.entries()) samples.push(['t1', 'page_views', n, numbers[(i + 3) % numbers.length] as number, i % 2 ? shared : null, n])
    samples.push(['tenant-é', 'm'.repeat(40), now, 420, shared, now], ['t1', 'load_time', now, 1, shared, now])
    samples.push(['t', 'x', now, 1, { ['ä'.repeat(20)]: '€'.repeat(100), emoji: '😀'.repeat(10), empty: '' }, now], ['t', 'y', now, 2, manyTags, now], ['t', 'z', now, 3, {}, now])
    const long = Array.from({ length: 70_000 }, (_, i): Sample => ['t1', i % 2 ? 'load_time' : 'page_views', now, i, { page: `/p${i % 50}` }, now])
    // Frozen tags shared by beacons far apart, as the msgpack reader makes them: encoded once, then copied.
    const frozen = Array.from({ length: 7 }, (_, i) => Object.freeze({ page: `/f${i}`, long: 'é'.repeat(i * 20) }))
    const sharedFrozen = Array.from({ length: 500 }, (_, i): Sample => ['t1', 'page_views', now, i, frozen[(i * 3) % 7] as Record<string, string>, now])
    for (const batch of [samples, [], samples.slice(0, 15), samples.slice(0, 16), long, sharedFrozen, sharedFrozen.slice(100, 140)]) {
      const ours = Buffer.from(encodeBatch(batch))
      expect(ours.equals(Buffer.from(packr.pack({ v: 1, s: batch }))), `${batch.length} samples`).toBe(true)
      expect(decodeBatch(ours)).toEqual(packr.unpack(ours).s)
    }
    // A batch of another shape (never from ingest) still encodes, through Packr.
    const odd = [['t', 'm', now, 1, null, now, 'extra']] as unknown as Sample[]
    expect(decodeBatch(encodeBatch(odd))).toEqual(odd)
    // Consecutive batches do not share bytes (the writer's buffer is reused).
    const first = encodeBatch(samples.slice(0, 2))
    const copy = Buffer.from(first)
    encodeBatch(samples.slice(2, 4))
    expect(Buffer.from(first).equals(copy)).toBe(true)
  })

  it('refuses bytes that are not a batch with TM_ENGINE_BATCH_DECODE_FAILED', () => {
    expect(() => decodeBatch(new Uint8Array([0xc1]))).toThrow(expect.objectContaining({ code: 'TM_ENGINE_BATCH_DECODE_FAILED' }))
    expect(() => decodeBatch(encodeBatch([]).map((b, i) => (i === 2 ? 9 : b)))).toThrow(/batch/)
  })
})

describe('metricKind', () => {
  it('knows the seed names and reads suffixes for the rest', () => {
    expect(metricKind('page_views')).toBe('count')
    expect(metricKind('load_time')).toBe('duration_ms')
    expect(metricKind('cpu_usage')).toBe('percent')
    expect(metricKind('checkout_latency')).toBe('duration_ms')
    expect(metricKind('heap_bytes')).toBe('bytes')
    expect(metricKind('signups_total')).toBe('count')
    expect(metricKind('queue_depth')).toBe('gauge')
  })
})

describe('beaconsToSamples', () => {
  const now = 1_800_000_000_000
  it('makes one sample per metric, with receive time as the default ts', () => {
    expect(beaconsToSamples('t', { page_views: 150, load_time: 420 }, now)).toEqual([
      ['t', 'page_views', now, 150, null, now],
      ['t', 'load_time', now, 420, null, now],
    ])
  })

  it('parses ISO timestamps and keeps tags', () => {
    const [sample] = beaconsToSamples('t', [{ visits: 1, ts: '2027-01-15T08:00:00.250Z', tags: { site: 'x' } }], now) as Sample[]
    expect(sample).toEqual(['t', 'visits', Date.parse('2027-01-15T08:00:00.250Z'), 1, { site: 'x' }, now])
  })

  it('names the beacon that has no metric or a future ts', () => {
    expect(beaconsToSamples('t', [{ visits: 1 }, { tags: { a: 'b' } }, { visits: 1, ts: now + 3600_000 }], now)).toEqual([
      { field: '[1]', problem: expect.stringMatching(/no metric/) },
      { field: '[2].ts', problem: expect.stringMatching(/future/) },
    ])
  })
})

describe('hostile beacons (each once got through)', () => {
  const now = Date.UTC(2026, 5, 1, 12, 0, 0)

  it('gives a metric named like an Object.prototype member its kind by suffix, not a prototype lookup', () => {
    expect(metricKind('constructor')).toBe('gauge')
    expect(metricKind('valueof')).toBe('gauge')
  })

  it('reads an ISO time without an offset as UTC, and accepts a +05 offset and a leap second', () => {
    expect(parseIsoTimestamp('2026-06-01T10:00:00')).toBe(Date.UTC(2026, 5, 1, 10, 0, 0))
    expect(parseIsoTimestamp('2026-06-01 10:00:00.5')).toBe(Date.UTC(2026, 5, 1, 10, 0, 0, 500))
    expect(parseIsoTimestamp('2026-06-01T15:00:00+05')).toBe(Date.UTC(2026, 5, 1, 10, 0, 0))
    expect(parseIsoTimestamp('2026-06-01T15:30:00+0530')).toBe(Date.UTC(2026, 5, 1, 10, 0, 0))
    expect(parseIsoTimestamp('2026-06-01T05:00:00-05:00')).toBe(Date.UTC(2026, 5, 1, 10, 0, 0))
    expect(parseIsoTimestamp('2016-12-31T23:59:60Z')).toBe(Date.UTC(2017, 0, 1, 0, 0, 0))
    expect(parseIsoTimestamp('soon')).toBeNaN()
    const samples = beaconsToSamples('t', [{ visits: 1, ts: '2026-06-01T15:00:00+05' }, { visits: 2, ts: '2026-05-31T23:59:60Z' }, { visits: 3, ts: '2026-06-01T11:00:00' }], now) as Sample[]
    expect(samples.map((s) => s[2])).toEqual([Date.UTC(2026, 5, 1, 10), Date.UTC(2026, 5, 1, 0), Date.UTC(2026, 5, 1, 11)])
  })

  it('bounds ISO timestamps below as it does epoch ones: nothing before 2000 (the rollups cannot hold 1969)', () => {
    expect(beaconsToSamples('t', [{ visits: 1, ts: '1969-12-31T23:59:59Z' }, { visits: 1, ts: '1999-12-31T23:59:59Z' }, { visits: 1, ts: '2000-01-01T00:00:00Z' }], now)).toEqual([
      { field: '[0].ts', problem: 'must not be before 2000-01-01T00:00:00.000Z' },
      { field: '[1].ts', problem: 'must not be before 2000-01-01T00:00:00.000Z' },
    ])
  })

  it('refuses 65 and 66 metrics in a beacon without ts and tags (the limit is 64)', () => {
    const beacon = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`m_${i}`, i]))
    expect(beaconsToSamples('t', beacon(64), now)).toHaveLength(64)
    expect(beaconsToSamples('t', [beacon(64), beacon(66)], now)).toEqual([{ field: '[1]', problem: 'has 66 metrics: at most 64 a beacon' }])
    expect(beaconsToSamples('t', beacon(65), now)).toEqual([{ field: '(body)', problem: 'has 65 metrics: at most 64 a beacon' }])
  })
})

describe('batch byte bound', () => {
  it('is never below the encoded size, for long, multi-byte and many tags', () => {
    const texts = ['', 'a', 'x'.repeat(31), 'y'.repeat(32), 'é'.repeat(100), '€'.repeat(256), '😀'.repeat(128), 'z'.repeat(256)]
    let seed = 7
    const pick = <T>(list: T[]): T => list[(seed = (seed * 48271) % 2147483647) % list.length] as T
    for (let round = 0; round < 300; round++) {
      const tagCount = round % 17
      const tags: Record<string, string> | null = tagCount === 0 ? null : {}
      for (let t = 0; t < tagCount; t++) (tags as Record<string, string>)[`tag_${t}_${pick(['', 'n'.repeat(50)])}`] = pick(texts)
      const sample: Sample = [pick(['t_0123456789ab', 'tenant-é']), pick(['page_views', 'm'.repeat(63)]), pick([0, 1.5, 1e15, -3.25, Date.now()]), pick([0, 0.1, -1e15, 2 ** 53 - 1]), tags, Date.now()]
      const bound = sampleBytesBound(Buffer.byteLength(sample[0]), Buffer.byteLength(seriesKey(sample[1], tags)), tagCount)
      const one = encodeBatch([sample]).length - encodeBatch([]).length
      expect(bound, JSON.stringify(sample).slice(0, 80)).toBeGreaterThanOrEqual(one)
    }
    expect(encodeBatch([]).length).toBeLessThanOrEqual(BATCH_ENVELOPE_BYTES)
  })

  it('keeps a margin under max_payload for headers', () => {
    expect(batchByteLimit(1024 * 1024)).toBe(1024 * 1024 - 16 * 1024)
    expect(batchByteLimit(undefined)).toBe(batchByteLimit(1024 * 1024))
    expect(batchByteLimit(8192)).toBe(7168)
  })
})

describe('what a partial 503 reports', () => {
  it('names beacons that are not durable at all, and the metrics of those partly durable', () => {
    const body = [{ a: 1, b: 2 }, { c: 3, ts: 5, tags: { x: 'y' } }, { d: 4, e: 5 }]
    //                a  b  c  d  e
    const flags = Uint8Array.from([0, 0, 1, 1, 0])
    expect(notDurableBeacons(body, flags)).toEqual([{ beacon: 1 }, { beacon: 2, metrics: ['d'] }])
    expect(notDurableBeacons({ a: 1, b: 2 }, Uint8Array.from([1, 1]))).toEqual([{ beacon: 0 }])
  })

  it('round-trips the durable bitset an Idempotency-Key record keeps', () => {
    const flags = Uint8Array.from({ length: 1003 }, (_, i) => (i % 3 === 0 || i > 990 ? 1 : 0))
    expect(decodeDurable(encodeDurable(flags), flags.length)).toEqual(flags)
    expect(decodeDurable('', 5)).toEqual(new Uint8Array(5))
  })
})
