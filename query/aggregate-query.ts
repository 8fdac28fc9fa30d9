// Aggregates one metric of one tenant into step-wide buckets, from the widest
// rollup whose buckets divide the step, else from raw samples. The answer is
// columnar with one entry per bucket, as uPlot draws it.
import { ROLLUPS, type ClickHouseStore } from '../engine/index.ts'
import { QueryErrors } from './errors.ts'
import type { AggregateResponse, AggregateSeries, AggregateTotals } from './read-contract.ts'
import type { TimeRange } from './time-range.ts'

export type AggregateResult = Pick<AggregateResponse, 'total' | 'series' | 'source'>

interface BucketRow {
  bucket: string | number
  count: string | number
  sum: number
  min: number
  max: number
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
async function readRows<T>(store: ClickHouseStore, sql: string, params: Record<string, unknown>): Promise<T[]> {
  try {
    return await store.rows<T>(sql, params)
  } catch (err) {
    if ((err as { type?: string }).type === 'TOO_MANY_ROWS') {
      throw new QueryErrors.InvalidQuery('the range holds more samples than one query may read: use a step of whole minutes (served from rollups) or a narrower range', {
        cause: err,
      })
    }
    throw new QueryErrors.StorageUnavailable({ cause: err })
  }
}

export function sourceFor(stepS: number): { table: string; raw: boolean } {
  const rollup = ROLLUPS.find((r) => stepS % r.seconds === 0)
  return rollup ? { table: rollup.table, raw: false } : { table: 'samples', raw: true }
}

export function aggregateSql(db: string, stepS: number, maxRowsRead = MAX_ROWS_READ): { sql: string; table: string } {
  const { table, raw } = sourceFor(stepS)
  const timeMs = raw ? 'toUnixTimestamp64Milli(ts)' : 'toInt64(toUnixTimestamp(t)) * 1000'
  const timeColumn = raw ? 'ts' : 't'
  const measures = raw ? 'count() AS count, sum(value) AS sum, min(value) AS min, max(value) AS max' : 'sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max'
  // The tenant comes from the credential and is bound as a parameter, never spliced into the text.
  const sql = `SELECT intDiv(${timeMs}, {stepMs:Int64}) * {stepMs:Int64} AS bucket, ${measures}
    FROM ${db}.${table}
    WHERE tenant = {tenant:String} AND metric = {metric:String}
      AND ${timeColumn} >= fromUnixTimestamp64Milli({fromMs:Int64}, 'UTC') AND ${timeColumn} < fromUnixTimestamp64Milli({toMs:Int64}, 'UTC')
    GROUP BY bucket ORDER BY bucket
    SETTINGS max_execution_time = 30, max_rows_to_read = ${Math.floor(maxRowsRead)}, read_overflow_mode = 'throw'`
  return { sql, table }
}

export async function aggregate(store: ClickHouseStore, tenant: string, metric: string, range: TimeRange, maxRowsRead = MAX_ROWS_READ): Promise<AggregateResult> {
  const stepMs = range.stepS * 1000
  const { sql, table } = aggregateSql(store.database, range.stepS, maxRowsRead)
  const rows = await readRows<BucketRow>(store, sql, { stepMs, tenant, metric, fromMs: range.fromMs, toMs: range.toMs })
  const series: AggregateSeries = { t: [], count: [], sum: [], avg: [], min: [], max: [] }
  for (let i = 0; i < range.points; i++) {
    series.t.push(range.fromMs + i * stepMs)
    series.count.push(0)
    series.sum.push(null)
    series.avg.push(null)
    series.min.push(null)
    series.max.push(null)
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
    total.count += count
    total.sum = (total.sum ?? 0) + row.sum
    total.min = total.min === null ? row.min : Math.min(total.min, row.min)
    total.max = total.max === null ? row.max : Math.max(total.max, row.max)
  }
  total.avg = total.count > 0 && total.sum !== null ? total.sum / total.count : null
  return { total, series, source: table }
}

/** The tenant's metric names with how many samples each has, from the hourly rollup. */
export async function metricNames(store: ClickHouseStore, tenant: string): Promise<{ name: string; samples: number }[]> {
  const rows = await readRows<{ name: string; samples: string | number }>(
    store,
    `SELECT metric AS name, sum(count) AS samples FROM ${store.database}.samples_1h WHERE tenant = {tenant:String} GROUP BY metric ORDER BY metric SETTINGS max_execution_time = 10`,
    { tenant }
  )
  return rows.map((r) => ({ name: r.name, samples: Number(r.samples) }))
}
