// Rollups per series on real parts (ingest -> JetStream -> storage -> chDB): they
// keep each series' tags, and an aggregate read from them equals the one read
// from raw rows, quantiles and visitors included; the quantiles are within the
// sketch's stated 1 % of the exact value at their rank.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SKETCH_ACCURACY, type CreatedTenant } from '../../engine/index.ts'
import { aggregate, MAX_ROWS_READ } from '../../query/aggregate-query.ts'
import { resolveRange } from '../../query/time-range.ts'
import { startStack, type Stack } from '../helpers/stack.ts'

let stack: Stack
let acme: CreatedTenant
let other: CreatedTenant

const HOUR = 3_600_000
const T0 = Date.UTC(2026, 3, 1, 6)
const PER_HOUR = 240
const HOURS = 3
const SITES = ['a', 'b', 'c']
/** A skewed, repeatable spread of response times: most small, a long tail. */
const valueAt = (i: number): number => Math.round((20 + ((i * 7919) % 1000) ** 2 / 2500) * 10) / 10

beforeAll(async () => {
  stack = await startStack()
  acme = await stack.createTenant('acme')
  other = await stack.createTenant('other')
  const beacons = Array.from({ length: PER_HOUR * HOURS }, (_, i) => ({
    response_time: valueAt(i),
    ts: T0 + Math.floor((i * HOUR) / PER_HOUR),
    tags: { site: SITES[i % 3]!, visitor: `v${i % 97}` },
  }))
  for (let i = 0; i < beacons.length; i += 500) {
    expect((await stack.request('POST', '/api/v2/analytics/metrics', acme.ingestToken, beacons.slice(i, i + 500))).status).toBe(200)
  }
  expect((await stack.request('POST', '/api/v2/analytics/metrics', other.ingestToken, { response_time: 99999, ts: T0, tags: { visitor: 'intruder' } })).status).toBe(200)
  expect(await stack.waitForRows(acme.id, PER_HOUR * HOURS)).toBe(PER_HOUR * HOURS)
  expect(await stack.waitForRows(other.id, 1)).toBe(1)
}, 60_000)
afterAll(async () => stack?.stop())

const range = (stepS: number) => resolveRange({ from: String(T0), to: String(T0 + HOURS * HOUR), step: stepS })

describe('rollups per series', () => {
  it("keep each series' tags, without the visitor", async () => {
    const store = stack.tidemark.runtime.store!
    for (const table of ['series_1m', 'series_1h']) {
      const rows = await store.rows<{ tags: Record<string, string>; n: string }>(
        `SELECT tags, toString(sum(count)) AS n FROM ${store.database}.${table} WHERE tenant = {t:String} AND metric != 'anomaly_score' GROUP BY series, tags ORDER BY tags['site']`,
        { t: acme.id }
      )
      expect(rows, table).toEqual(SITES.map((site) => ({ tags: { site }, n: String((PER_HOUR * HOURS) / 3) })))
    }
  })

  it('answer per hour from series_1h exactly as raw rows do, quantiles and visitors included', async () => {
    const store = stack.tidemark.runtime.store!
    const stats = ['quantiles', 'visitors'] as const
    const rolled = await aggregate(store, acme.id, 'response_time', range(3600), MAX_ROWS_READ, { stats })
    const raw = await aggregate(store, acme.id, 'response_time', range(3600), MAX_ROWS_READ, { stats, raw: true })
    expect(rolled.source).toBe('series_1h')
    expect(raw.source).toBe('samples')
    expect(rolled.series.count).toEqual([PER_HOUR, PER_HOUR, PER_HOUR])
    for (const key of ['count', 'min', 'max', 'p50', 'p95', 'p99', 'visitors'] as const) expect(rolled.series[key], key).toEqual(raw.series[key])
    rolled.series.sum.forEach((s, i) => expect(s).toBeCloseTo(raw.series.sum[i]!, 6))
    expect(rolled.total).toMatchObject({ count: raw.total.count, min: raw.total.min, max: raw.total.max, p50: raw.total.p50, p95: raw.total.p95, p99: raw.total.p99, visitors: 97 })
    expect(raw.total.visitors).toBe(97)
  })

  it('answer per minute from series_1m as raw rows do, and read raw rows when asked for quantiles', async () => {
    const store = stack.tidemark.runtime.store!
    // A filter every sample passes: the per-series rollup, compared with raw rows under the same filter.
    const filters = [{ name: 'site', values: SITES }]
    const rolled = await aggregate(store, acme.id, 'response_time', range(300), MAX_ROWS_READ, { filters })
    const raw = await aggregate(store, acme.id, 'response_time', range(300), MAX_ROWS_READ, { raw: true, filters })
    expect(rolled.source).toBe('series_1m')
    expect(raw.total.count).toBe(PER_HOUR * HOURS)
    for (const key of ['count', 'min', 'max'] as const) expect(rolled.series[key]).toEqual(raw.series[key])
    expect(rolled.total.sum).toBeCloseTo(raw.total.sum!, 6)
    const withQuantiles = await aggregate(store, acme.id, 'response_time', range(300), MAX_ROWS_READ, { stats: ['quantiles'] })
    expect(withQuantiles.source).toBe('samples')
    expect(withQuantiles.series.p95?.filter((v) => v !== null)).toHaveLength(HOURS * 12)
  })

  it('answer every series of a metric from the rollups per metric as raw rows and the rollups per series do', async () => {
    const store = stack.tidemark.runtime.store!
    const filters = [{ name: 'site', values: SITES }]
    for (const [stepS, perMetric, perSeries] of [
      [300, 'samples_1m', 'series_1m'],
      [3600, 'samples_1h', 'series_1h'],
    ] as const) {
      const metric = await aggregate(store, acme.id, 'response_time', range(stepS))
      const series = await aggregate(store, acme.id, 'response_time', range(stepS), MAX_ROWS_READ, { filters })
      const raw = await aggregate(store, acme.id, 'response_time', range(stepS), MAX_ROWS_READ, { raw: true })
      expect([metric.source, series.source, raw.source]).toEqual([perMetric, perSeries, 'samples'])
      expect(metric.total.count).toBe(PER_HOUR * HOURS)
      for (const key of ['t', 'count', 'min', 'max'] as const) {
        expect(metric.series[key], `${key} per ${stepS} s`).toEqual(raw.series[key])
        expect(series.series[key], `${key} per ${stepS} s`).toEqual(raw.series[key])
      }
      metric.series.sum.forEach((v, i) => expect(v).toBeCloseTo(raw.series.sum[i]!, 6))
      expect(metric.total).toMatchObject({ count: raw.total.count, min: raw.total.min, max: raw.total.max })
      expect(metric.total.sum).toBeCloseTo(raw.total.sum!, 6)
      // The other tenant's 99999 is in the same tables: never in this answer.
      expect(metric.total.max).toBeLessThan(99999)
    }
  })

  it('give quantiles within the sketch’s 1 % of the exact value at that rank', async () => {
    const store = stack.tidemark.runtime.store!
    const rolled = await aggregate(store, acme.id, 'response_time', range(3600), MAX_ROWS_READ, { stats: ['quantiles'] })
    const hours = await store.rows<{ values: number[] }>(
      `SELECT arraySort(groupArray(value)) AS values FROM ${store.database}.samples
       WHERE tenant = {t:String} AND metric = 'response_time' GROUP BY toStartOfHour(ts) ORDER BY toStartOfHour(ts)`,
      { t: acme.id }
    )
    expect(hours).toHaveLength(HOURS)
    hours.forEach(({ values }, i) => {
      ;([['p50', 0.5], ['p95', 0.95], ['p99', 0.99]] as const).forEach(([q, level]) => {
        // DDSketch's rank is level × (n − 1); between two values, either is the value at that rank.
        const rank = level * (values.length - 1)
        const [below, above] = [values[Math.floor(rank)]!, values[Math.ceil(rank)]!]
        const estimate = rolled.series[q]![i]!
        expect(estimate, `${q} of hour ${i}`).toBeGreaterThanOrEqual(below * (1 - SKETCH_ACCURACY))
        expect(estimate, `${q} of hour ${i}`).toBeLessThanOrEqual(above * (1 + SKETCH_ACCURACY))
      })
    })
  })

  it('read through the SQL console per series, with the hourly sketch as p50, p95, p99', async () => {
    const res = await stack.request('POST', '/api/v2/query', acme.apiKey, {
      sql: "SELECT tags['site'] AS site, sum(count) AS n, max(visitors) AS v, max(p99) >= max(p50) AS ordered FROM series_1h WHERE metric != 'anomaly_score' GROUP BY site ORDER BY site",
    })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body.rows).toEqual(SITES.map((site) => [site, (PER_HOUR * HOURS) / 3, expect.any(Number), 1]))
  })

  it('serve quantiles and visitors over HTTP, from the hourly rollup, for the own tenant only', async () => {
    const res = await stack.request('GET', `/api/v2/analytics/aggregate?metric=response_time&from=${T0}&to=${T0 + HOURS * HOUR}&step=3600&stats=quantiles,visitors`, acme.apiKey)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body.source).toBe('series_1h')
    expect(res.body.series.visitors).toEqual([97, 97, 97])
    expect(res.body.total.visitors).toBe(97)
    expect(res.body.total.max).toBeLessThan(99999)
    expect(res.body.series.p99).toHaveLength(HOURS)
    const plain = await stack.request('GET', `/api/v2/analytics/aggregate?metric=response_time&from=${T0}&to=${T0 + HOURS * HOUR}&step=3600`, acme.apiKey)
    expect(plain.body.series.p50).toBeUndefined()
    const bad = await stack.request('GET', `/api/v2/analytics/aggregate?metric=response_time&stats=median`, acme.apiKey)
    expect(bad.status).toBe(400)
  })
})
