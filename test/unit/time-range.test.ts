import { describe, expect, it } from 'vitest'
import { resolveRange } from '../../query/time-range.ts'
import { aggregateSql, sourceFor } from '../../query/aggregate-query.ts'

describe('resolveRange', () => {
  it('aligns both ends outward to whole steps', () => {
    expect(resolveRange({ from: '90500', to: '299000', step: 60 })).toEqual({ fromMs: 60_000, toMs: 300_000, stepS: 60, points: 4 })
  })

  it('takes ISO instants and picks a step near 300 points when none is given', () => {
    const r = resolveRange({ from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' })
    expect(r.stepS).toBe(300)
    expect(r.points).toBe(288)
  })

  it('defaults to the last hour', () => {
    const r = resolveRange({}, 7_200_000)
    expect(r.toMs).toBe(7_200_000)
    expect(r.fromMs).toBe(3_600_000)
  })

  it('refuses reversed ranges, bad instants and too many points', () => {
    expect(() => resolveRange({ from: '5000', to: '1000' })).toThrow(expect.objectContaining({ code: 'TM_QUERY_INVALID_RANGE' }))
    expect(() => resolveRange({ from: 'yesterday' })).toThrow(/epoch milliseconds or an ISO 8601/)
    expect(() => resolveRange({ from: '0', to: '86400000', step: 1 })).toThrow(expect.objectContaining({ code: 'TM_QUERY_TOO_MANY_POINTS' }))
  })
})

describe('aggregate source', () => {
  it('reads the widest rollup that divides the step, else raw rows', () => {
    expect(sourceFor(7200).table).toBe('samples_1h')
    expect(sourceFor(300).table).toBe('samples_1m')
    expect(sourceFor(45).table).toBe('samples')
  })

  it('binds the tenant as a parameter, never as text', () => {
    const { sql } = aggregateSql('tidemark', 60)
    expect(sql).toContain('tenant = {tenant:String}')
  })
})
