import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_INSTANT_MS, parseInstant, resolveRange } from '../../query/time-range.ts'
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

describe('parseInstant', () => {
  // Node reads TZ at each conversion: the server's zone must not move an instant.
  const zone = process.env.TZ
  beforeAll(() => {
    process.env.TZ = 'America/New_York'
  })
  afterAll(() => {
    if (zone === undefined) delete process.env.TZ
    else process.env.TZ = zone
  })

  it('reads an ISO date-time without an offset as UTC, whatever the server zone', () => {
    expect(new Date(2026, 0, 1).getTimezoneOffset()).toBe(300) // the zone really is not UTC here
    expect(parseInstant('2026-01-01T00:00:00', 'from', 0)).toBe(Date.UTC(2026, 0, 1))
    expect(parseInstant('2026-01-01T12:30', 'from', 0)).toBe(Date.UTC(2026, 0, 1, 12, 30))
    expect(parseInstant('2026-01-01T00:00:00.250', 'from', 0)).toBe(Date.UTC(2026, 0, 1) + 250)
  })

  it('honours an explicit offset', () => {
    expect(parseInstant('2026-01-01T00:00:00Z', 'from', 0)).toBe(Date.UTC(2026, 0, 1))
    expect(parseInstant('2026-01-01T02:00:00+02:00', 'from', 0)).toBe(Date.UTC(2026, 0, 1))
    expect(parseInstant('2025-12-31T19:00:00-0500', 'from', 0)).toBe(Date.UTC(2026, 0, 1))
  })

  it('refuses dates that do not exist instead of rolling them over', () => {
    for (const bad of ['2026-02-29T00:00:00Z', '2026-02-31T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:60:00Z', '2026-01-01Tnoon']) {
      expect(() => parseInstant(bad, 'from', 0), bad).toThrow(expect.objectContaining({ code: 'TM_QUERY_INVALID_RANGE' }))
    }
    expect(parseInstant('2028-02-29T00:00:00Z', 'from', 0)).toBe(Date.UTC(2028, 1, 29))
  })

  it('refuses instants outside 1970..2100 with a 400, 16 digits included', () => {
    for (const bad of ['9999999999999999', '8640000000000001', String(MAX_INSTANT_MS + 1), '0070-01-01T00:00:00Z', '1969-12-31T23:59:59Z', '2100-01-01T00:00:01Z']) {
      expect(() => parseInstant(bad, 'to', 0), bad).toThrow(expect.objectContaining({ code: 'TM_QUERY_INVALID_RANGE', statusCode: 400 }))
    }
    expect(() => resolveRange({ from: '9999999999999000', to: '9999999999999999' })).toThrow(/between 1970-01-01T00:00:00Z and 2100/)
    expect(parseInstant(String(MAX_INSTANT_MS), 'to', 0)).toBe(MAX_INSTANT_MS)
  })
})

describe('aggregate source', () => {
  it('reads the widest rollup that divides the step, else raw rows', () => {
    const site = [{ name: 'site', values: ['a'] }]
    expect(sourceFor(7200, { filters: site }).table).toBe('series_1h')
    expect(sourceFor(300, { filters: site }).table).toBe('series_1m')
    expect(sourceFor(300, { groupBy: 'site' }).table).toBe('series_1m')
    expect(sourceFor(45).table).toBe('samples')
  })

  it('reads every series of a metric from the rollups per metric, one row a bucket', () => {
    expect(sourceFor(7200).table).toBe('samples_1h')
    expect(sourceFor(300).table).toBe('samples_1m')
    expect(sourceFor(45).table).toBe('samples')
    expect(sourceFor(300, { raw: true }).table).toBe('samples')
  })

  it('reads quantiles and visitors from the hourly rollup only, else raw rows', () => {
    expect(sourceFor(7200, { stats: ['quantiles'] }).table).toBe('series_1h')
    expect(sourceFor(300, { stats: ['visitors'] }).table).toBe('samples')
    expect(sourceFor(7200, { raw: true }).table).toBe('samples')
  })

  it('binds the tenant as a parameter, never as text', () => {
    const { sql } = aggregateSql('tidemark', 60)
    expect(sql).toContain('tenant = {tenant:String}')
  })

  it('bounds the rows and the time of every aggregate in its own SETTINGS clause', () => {
    const { sql } = aggregateSql('tidemark', 7)
    expect(sql).toMatch(/SETTINGS group_by_use_nulls = 1, max_execution_time = 30, max_rows_to_read = 50000000, read_overflow_mode = 'throw'$/)
  })
})
