// Aggregates one metric of one tenant (all its series, or those whose tags
// match the filters) into step-wide buckets, overall or split by a tag, from
// the widest rollup whose buckets divide the step and that carries what was
// asked, else from raw samples (query/bucket-query.ts). Quantiles (p50, p95,
// p99) and visitors are asked for explicitly: only the hourly rollup carries
// their states, so a minute step that asks for them reads raw rows. Either way
// the sketch is the same DDSketch, and sketches merge exactly, so the source
// never changes the answer. The answer is columnar with one entry per bucket,
// as uPlot draws it.
import { QUANTILES_FN, ROLLUPS, VISITORS_FN, type ClickHouseStore } from '../engine/index.ts'
import { bucketSql, MAX_ROWS_READ, readBuckets, readRows, rowsByGroup, sourceFor as bucketSource, type BucketRow, type Measure } from './bucket-query.ts'
import type { AggregateGroup, AggregateResponse, AggregateSeries, AggregateTotals } from './read-contract.ts'
import type { TagFilter } from './tag-filters.ts'
import type { TimeRange } from './time-range.ts'

export { MAX_ROWS_READ }

export type AggregateResult = Pick<AggregateResponse, 'total' | 'series' | 'source' | 'groups'>

/** What an aggregate may add to count, sum, avg, min and max. */
export type AggregateStat = 'quantiles' | 'visitors'

export interface AggregateOptions {
  stats?: readonly AggregateStat[]
  /** Read raw rows whatever the step: how a test compares both paths. */
  raw?: boolean
  filters?: readonly TagFilter[]
  /** A tag name: one series per value of it (samples without it form the group ""). */
  groupBy?: string
}

const QUANTILE_NAMES = ['p50', 'p95', 'p99'] as const

function measuresFor(stats: readonly AggregateStat[]): Measure[] {
  const measures: Measure[] = [
    { name: 'count', raw: 'count()', rollup: 'sum(count)' },
    { name: 'sum', raw: 'sum(value)', rollup: 'sum(sum)' },
    { name: 'min', raw: 'min(value)', rollup: 'min(min)' },
    { name: 'max', raw: 'max(value)', rollup: 'max(max)' },
  ]
  if (stats.includes('quantiles')) measures.push({ name: 'quantiles', raw: `${QUANTILES_FN}(value)`, rollup: `${QUANTILES_FN.replace('(', 'Merge(')}(quantiles)` })
  if (stats.includes('visitors')) measures.push({ name: 'visitors', raw: VISITORS_FN, rollup: 'uniqMerge(visitors)' })
  return measures
}

export function sourceFor(stepS: number, options: AggregateOptions = {}): { table: string; raw: boolean } {
  const perSeries = (options.filters ?? []).length > 0 || options.groupBy !== undefined
  return bucketSource(stepS, { needsSketches: (options.stats ?? []).length > 0, raw: options.raw, perSeries })
}

export function aggregateSql(db: string, stepS: number, maxRowsRead = MAX_ROWS_READ, options: AggregateOptions = {}): { sql: string; table: string } {
  const stats = options.stats ?? []
  return bucketSql(db, stepS, { metrics: ['x'], measures: measuresFor(stats), needsSketches: stats.length > 0, raw: options.raw, filters: options.filters, maxRowsRead })
}

/** Aligned arrays for one group (or all), every bucket present, from that group's rows. */
function columnsOf(rows: readonly BucketRow[], range: TimeRange, stats: readonly AggregateStat[]): { series: AggregateSeries; total: AggregateTotals } {
  const stepMs = range.stepS * 1000
  const series: AggregateSeries = { t: [], count: [], sum: [], avg: [], min: [], max: [] }
  const quantiles = stats.includes('quantiles') ? QUANTILE_NAMES : []
  for (const q of quantiles) series[q] = []
  if (stats.includes('visitors')) series.visitors = []
  for (let i = 0; i < range.points; i++) {
    series.t.push(range.fromMs + i * stepMs)
    series.count.push(0)
    series.sum.push(null)
    series.avg.push(null)
    series.min.push(null)
    series.max.push(null)
    for (const q of quantiles) series[q]!.push(null)
    series.visitors?.push(0)
  }
  const total: AggregateTotals = { count: 0, sum: null, avg: null, min: null, max: null }
  for (const q of quantiles) total[q] = null
  if (series.visitors) total.visitors = 0
  for (const row of rows) {
    const count = Number(row.count)
    if (count === 0) continue
    const sum = Number(row.sum)
    // No closure made per row: under tsx (keepNames) each one also has its name defined on it, which for 1,440
    // buckets cost more than the rest of the shaping (about 0.3 ms a request; bench/README.md, query).
    const sketch = row.quantiles as number[] | undefined
    const min = Number(row.min)
    const max = Number(row.max)
    if (row.bucket === null) {
      Object.assign(total, { count, sum, avg: sum / count, min, max })
      for (let k = 0; k < quantiles.length; k++) total[quantiles[k]!] = sketch?.[k] ?? null
      if (series.visitors) total.visitors = Number(row.visitors ?? 0)
      continue
    }
    const i = (row.bucket - range.fromMs) / stepMs
    series.count[i] = count
    series.sum[i] = sum
    series.avg[i] = sum / count
    series.min[i] = min
    series.max[i] = max
    for (let k = 0; k < quantiles.length; k++) series[quantiles[k]!]![i] = sketch?.[k] ?? null
    if (series.visitors) series.visitors[i] = Number(row.visitors ?? 0)
  }
  return { series, total }
}

export async function aggregate(
  store: ClickHouseStore,
  tenant: string,
  metric: string,
  range: TimeRange,
  maxRowsRead = MAX_ROWS_READ,
  options: AggregateOptions = {}
): Promise<AggregateResult> {
  const stats = options.stats ?? []
  const { rows, table } = await readBuckets(store, tenant, range, {
    metrics: [metric],
    measures: measuresFor(stats),
    needsSketches: stats.length > 0,
    raw: options.raw,
    filters: options.filters,
    groupBy: options.groupBy === undefined ? undefined : { tag: options.groupBy },
    maxRowsRead,
  })
  const byGroup = rowsByGroup(rows)
  const overall = columnsOf(byGroup.get(null) ?? [], range, stats)
  const result: AggregateResult = { total: overall.total, series: overall.series, source: table }
  if (options.groupBy !== undefined) {
    result.groups = [...byGroup]
      .filter((entry): entry is [string, BucketRow[]] => entry[0] !== null)
      .map(([value, groupRows]): AggregateGroup => ({ value, ...columnsOf(groupRows, range, stats) }))
      .sort((a, b) => b.total.count - a.total.count || a.value.localeCompare(b.value))
  }
  return result
}

/** The tenant's metric names with how many samples each has, from the widest rollup. */
export async function metricNames(store: ClickHouseStore, tenant: string): Promise<{ name: string; samples: number }[]> {
  const rows = await readRows<{ name: string; samples: string | number }>(
    store,
    `SELECT metric AS name, sum(count) AS samples FROM ${store.database}.${ROLLUPS[0]!.table} WHERE tenant = {tenant:String} GROUP BY metric ORDER BY metric SETTINGS max_execution_time = 10`,
    { tenant }
  )
  return rows.map((r) => ({ name: r.name, samples: Number(r.samples) }))
}
