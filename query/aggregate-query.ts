// Aggregates one metric of one tenant (all its series) into step-wide buckets,
// from the widest rollup whose buckets divide the step and that carries what
// was asked, else from raw samples. Quantiles (p50, p95, p99) and visitors are
// asked for explicitly: only the hourly rollup carries their states, so a
// minute step that asks for them reads raw rows. Either way the sketch is the
// same DDSketch, and sketches merge exactly, so the source never changes the
// answer. The answer is columnar with one entry per bucket, as uPlot draws it.
import { QUANTILES_FN, ROLLUPS, VISITORS_FN, type ClickHouseStore } from '../engine/index.ts'
import { QueryErrors } from './errors.ts'
import type { AggregateResponse, AggregateSeries, AggregateTotals } from './read-contract.ts'
import type { TimeRange } from './time-range.ts'

export type AggregateResult = Pick<AggregateResponse, 'total' | 'series' | 'source'>

/** What an aggregate may add to count, sum, avg, min and max. */
export type AggregateStat = 'quantiles' | 'visitors'

export interface AggregateOptions {
  stats?: readonly AggregateStat[]
  /** Read raw rows whatever the step: how a test compares both paths. */
  raw?: boolean
}

interface BucketRow {
  bucket: string | number
  count: string | number
  sum: number
  min: number
  max: number
  quantiles?: number[]
  visitors?: string | number
}

/**
 * Rows one aggregate may read. Queries on one chDB connection run one at a
 * time, storage inserts included (DESIGN.md), so a caller must not be able to
 * hold it with an unbounded scan: a raw-step query over the 10,000 steps a
 * range may hold reads at most a week, and steps of whole minutes read the
 * rollups, far below this.
 */
export const MAX_ROWS_READ = 50_000_000

/**
 * Every read of this tier goes through here. A read over its row bound is the
 * caller's to fix (400); any other ClickHouse failure becomes a 503 whose
 * message says nothing of ClickHouse's own text (table names, its version, the
 * query). That text stays the error's cause, which the error handler logs.
 */
async function readRows<T>(store: ClickHouseStore, sql: string, params: Record<string, unknown>, withTotals = false): Promise<{ rows: T[]; totals: T | undefined }> {
  try {
    if (!withTotals) return { rows: await store.rows<T>(sql, params), totals: undefined }
    // JSON rather than JSONEachRow: it carries the WITH TOTALS row apart from the buckets.
    const result = await store.client.query({ query: sql, format: 'JSON', query_params: params })
    const answer = (await result.json()) as { data: T[]; totals?: T }
    return { rows: answer.data, totals: answer.totals }
  } catch (err) {
    if ((err as { type?: string }).type === 'TOO_MANY_ROWS') {
      throw new QueryErrors.InvalidQuery('the range holds more samples than one query may read: use a step of whole minutes (served from rollups) or a narrower range', {
        cause: err,
      })
    }
    throw new QueryErrors.StorageUnavailable({ cause: err })
  }
}

export function sourceFor(stepS: number, options: AggregateOptions = {}): { table: string; raw: boolean } {
  const needsSketches = (options.stats ?? []).length > 0
  const rollup = options.raw ? undefined : ROLLUPS.find((r) => stepS % r.seconds === 0 && (r.sketches || !needsSketches))
  return rollup ? { table: rollup.table, raw: false } : { table: 'samples', raw: true }
}

export function aggregateSql(db: string, stepS: number, maxRowsRead = MAX_ROWS_READ, options: AggregateOptions = {}): { sql: string; table: string } {
  const { table, raw } = sourceFor(stepS, options)
  const stats = options.stats ?? []
  const timeMs = raw ? 'toUnixTimestamp64Milli(ts)' : 'toInt64(toUnixTimestamp(t)) * 1000'
  const timeColumn = raw ? 'ts' : 't'
  const measures = [raw ? 'count() AS count, sum(value) AS sum, min(value) AS min, max(value) AS max' : 'sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max']
  if (stats.includes('quantiles')) measures.push(raw ? `${QUANTILES_FN}(value) AS quantiles` : `${QUANTILES_FN.replace('(', 'Merge(')}(quantiles) AS quantiles`)
  if (stats.includes('visitors')) measures.push(raw ? `${VISITORS_FN} AS visitors` : 'uniqMerge(visitors) AS visitors')
  // The tenant comes from the credential and is bound as a parameter, never spliced into the text.
  const sql = `SELECT intDiv(${timeMs}, {stepMs:Int64}) * {stepMs:Int64} AS bucket, ${measures.join(', ')}
    FROM ${db}.${table}
    WHERE tenant = {tenant:String} AND metric = {metric:String}
      AND ${timeColumn} >= fromUnixTimestamp64Milli({fromMs:Int64}, 'UTC') AND ${timeColumn} < fromUnixTimestamp64Milli({toMs:Int64}, 'UTC')
    GROUP BY bucket${stats.length > 0 ? ' WITH TOTALS' : ''} ORDER BY bucket
    SETTINGS max_execution_time = 30, max_rows_to_read = ${Math.floor(maxRowsRead)}, read_overflow_mode = 'throw'`
  return { sql, table }
}

export async function aggregate(
  store: ClickHouseStore,
  tenant: string,
  metric: string,
  range: TimeRange,
  maxRowsRead = MAX_ROWS_READ,
  options: AggregateOptions = {}
): Promise<AggregateResult> {
  const stepMs = range.stepS * 1000
  const stats = options.stats ?? []
  const { sql, table } = aggregateSql(store.database, range.stepS, maxRowsRead, options)
  const params = { stepMs, tenant, metric, fromMs: range.fromMs, toMs: range.toMs }
  const { rows, totals } = await readRows<BucketRow>(store, sql, params, stats.length > 0)
  const series: AggregateSeries = { t: [], count: [], sum: [], avg: [], min: [], max: [] }
  const quantiles = stats.includes('quantiles') ? (['p50', 'p95', 'p99'] as const) : []
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
  for (const row of rows) {
    const i = (Number(row.bucket) - range.fromMs) / stepMs
    const count = Number(row.count)
    series.count[i] = count
    series.sum[i] = row.sum
    series.avg[i] = count > 0 ? row.sum / count : null
    series.min[i] = row.min
    series.max[i] = row.max
    quantiles.forEach((q, k) => (series[q]![i] = row.quantiles?.[k] ?? null))
    if (series.visitors) series.visitors[i] = Number(row.visitors ?? 0)
    total.count += count
    total.sum = (total.sum ?? 0) + row.sum
    total.min = total.min === null ? row.min : Math.min(total.min, row.min)
    total.max = total.max === null ? row.max : Math.max(total.max, row.max)
  }
  total.avg = total.count > 0 && total.sum !== null ? total.sum / total.count : null
  // Quantiles and visitors of the whole range come from ClickHouse's totals row: they do not add up from the buckets.
  const hasRows = total.count > 0
  quantiles.forEach((q, k) => (total[q] = hasRows ? (totals?.quantiles?.[k] ?? null) : null))
  if (stats.includes('visitors')) total.visitors = hasRows ? Number(totals?.visitors ?? 0) : 0
  return { total, series, source: table }
}

/** The tenant's metric names with how many samples each has, from the widest rollup. */
export async function metricNames(store: ClickHouseStore, tenant: string): Promise<{ name: string; samples: number }[]> {
  const { rows } = await readRows<{ name: string; samples: string | number }>(
    store,
    `SELECT metric AS name, sum(count) AS samples FROM ${store.database}.${ROLLUPS[0]!.table} WHERE tenant = {tenant:String} GROUP BY metric ORDER BY metric SETTINGS max_execution_time = 10`,
    { tenant }
  )
  return rows.map((r) => ({ name: r.name, samples: Number(r.samples) }))
}
