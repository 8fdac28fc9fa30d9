// Pure logic of the beacon model: series keys, partitions, the batch wire format, metric kinds.
import { describe, expect, it } from 'vitest'
import { decodeBatch, encodeBatch, metricKind, partitionOf, seriesKey, type Sample } from '../../engine/index.ts'
import { beaconsToSamples } from '../../ingest/metrics-route.ts'

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
})

describe('batch wire format', () => {
  it('round-trips samples through msgpack', () => {
    const samples: Sample[] = [
      ['t1', 'page_views', 1_700_000_000_000, 150, null, 1_700_000_000_005],
      ['t1', 'load_time', 1_700_000_000_000, 420.5, { site: 'a' }, 1_700_000_000_005],
    ]
    expect(decodeBatch(encodeBatch(samples))).toEqual(samples)
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
