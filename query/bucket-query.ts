// The one query every reporting route runs: measures of some metrics of one
// tenant in step-wide buckets, optionally split by a group (a tag's value or
// the metric), from the widest rollup that divides the step and carries what
// was asked (per metric when no tag filters or splits, else per series), else
// raw samples. One statement answers the buckets, each
// group's total and the overall figures: GROUP BY CUBE(group, bucket) with
// group_by_use_nulls, where NULL marks the rolled-up side. Quantile sketches
// and visitor states merge exactly there, so totals are not sums of buckets.
import { METRIC_ROLLUPS, ROLLUPS, VISITOR_TAG, type ClickHouseStore } from '../engine/index.ts'
import { QueryErrors } from './errors.ts'
import { tagFilterSql, type TagFilter } from './tag-filters.ts'
import type { TimeRange } from './time-range.ts'

/**
 * Rows one query may read. Queries on one chDB connection run one at a time,
 * storage inserts included (DESIGN.md), so a caller must not be able to hold
 * it with an unbounded scan: a raw-step query over the 10,000 steps a range
 * may hold reads at most a week, and steps of whole minutes read the rollups,
 * far below this.
 */
export const MAX_ROWS_READ = 50_000_000
/** Groups one answer holds at most (a chart legend past that is unreadable, and the answer grows with it). */
export const MAX_GROUPS = 100

/** One figure per bucket, as SQL over raw samples (`value`, `tags`) and over a rollup (its columns). */
export interface Measure {
  name: string
  raw: string
  rollup: string
}

export interface BucketSpec {
  metrics: readonly string[]
  measures: readonly Measure[]
  filters?: readonly TagFilter[]
  /** Split by a tag's value or by metric; none: overall figures only. */
  groupBy?: { tag: string } | { metric: true }
  /** Some measure merges quantile sketches or visitor states: only the hourly rollup carries them. */
  needsSketches?: boolean
  /** Read raw rows whatever the step: how a test compares both paths. */
  raw?: boolean
  maxRowsRead?: number
}

export interface BucketRow {
  /** The group's value; null: every group (the overall row). */
  grp: string | null
  /** Bucket start in epoch ms; null: the whole range. */
  bucket: number | null
  [measure: string]: unknown
}

/**
 * Every read of this tier goes through here. A read over its row bound is the
 * caller's to fix (400); any other ClickHouse failure becomes a 503 whose
 * message says nothing of ClickHouse's own text (table names, its version, the
 * query). That text stays the error's cause, which the error handler logs.
 */
export async function readRows<T>(store: ClickHouseStore, sql: string, params: Record<string, unknown>): Promise<T[]> {
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

/**
 * Where a read goes: raw rows when asked, else the widest rollup whose buckets divide the step and that
 * carries what is asked. Plain measures over every series of the metrics (no tag filter, no tag group)
 * read the rollups per metric, one row a bucket; the rest the rollups per series.
 */
export function sourceFor(stepS: number, options: { needsSketches?: boolean; raw?: boolean; perSeries?: boolean } = {}): { table: string; raw: boolean } {
  if (options.raw) return { table: 'samples', raw: true }
  const perMetric = options.needsSketches || options.perSeries ? undefined : METRIC_ROLLUPS.find((r) => stepS % r.seconds === 0)
  const rollup = perMetric ?? ROLLUPS.find((r) => stepS % r.seconds === 0 && (r.sketches || !options.needsSketches))
  return rollup ? { table: rollup.table, raw: false } : { table: 'samples', raw: true }
}

/** The visitor tag is kept out of the rollups' series (it is their uniq state): filtering or grouping by it reads raw rows. */
function usesVisitorTag(spec: BucketSpec): boolean {
  return (spec.filters ?? []).some((f) => f.name === VISITOR_TAG) || (spec.groupBy !== undefined && 'tag' in spec.groupBy && spec.groupBy.tag === VISITOR_TAG)
}

export function bucketSql(db: string, stepS: number, spec: BucketSpec): { sql: string; table: string; params: Record<string, unknown> } {
  const perSeries = (spec.filters ?? []).length > 0 || (spec.groupBy !== undefined && 'tag' in spec.groupBy)
  const { table, raw } = sourceFor(stepS, { needsSketches: spec.needsSketches, raw: spec.raw || usesVisitorTag(spec), perSeries })
  const timeMs = raw ? 'toUnixTimestamp64Milli(ts)' : 'toInt64(toUnixTimestamp(t)) * 1000'
  const timeColumn = raw ? 'ts' : 't'
  const filters = tagFilterSql(spec.filters ?? [])
  const params: Record<string, unknown> = { ...filters.params, metrics: spec.metrics }
  let group = 'CAST(NULL AS Nullable(String))'
  if (spec.groupBy && 'tag' in spec.groupBy) {
    group = 'tags[{groupTag:String}]'
    params.groupTag = spec.groupBy.tag
  } else if (spec.groupBy) group = 'toString(metric)'
  const measures = spec.measures.map((m) => `${raw ? m.raw : m.rollup} AS ${m.name}`)
  // The tenant comes from the credential and is bound as a parameter, never spliced into the text.
  const sql = `SELECT ${group} AS grp, intDiv(${timeMs}, {stepMs:Int64}) * {stepMs:Int64} AS bucket, ${measures.join(', ')}
    FROM ${db}.${table}
    WHERE tenant = {tenant:String} AND metric IN {metrics:Array(String)}
      AND ${timeColumn} >= fromUnixTimestamp64Milli({fromMs:Int64}, 'UTC') AND ${timeColumn} < fromUnixTimestamp64Milli({toMs:Int64}, 'UTC')${filters.sql}
    GROUP BY ${spec.groupBy ? 'CUBE(grp, bucket)' : 'ROLLUP(bucket)'} ORDER BY grp NULLS FIRST, bucket NULLS FIRST
    SETTINGS group_by_use_nulls = 1, max_execution_time = 30, max_rows_to_read = ${Math.floor(spec.maxRowsRead ?? MAX_ROWS_READ)}, read_overflow_mode = 'throw'`
  return { sql, table, params }
}

/**
 * The buckets with data, each group's and the overall totals. A tag group-by first counts the groups (a
 * cheap scan of the same rows, bounded by LIMIT) and refuses past MAX_GROUPS, so a tag holding request ids
 * is a clear 400 rather than an answer of millions of rows.
 */
export async function readBuckets(
  store: ClickHouseStore,
  tenant: string,
  range: TimeRange,
  spec: BucketSpec,
  maxGroups = MAX_GROUPS
): Promise<{ rows: BucketRow[]; table: string }> {
  const { sql, table, params } = bucketSql(store.database, range.stepS, spec)
  const bound = { ...params, tenant, stepMs: range.stepS * 1000, fromMs: range.fromMs, toMs: range.toMs }
  if (spec.groupBy && 'tag' in spec.groupBy) {
    const from = sql.slice(sql.indexOf('\n    FROM'), sql.indexOf('\n    GROUP BY'))
    const settings = sql.slice(sql.indexOf('\n    SETTINGS'))
    const groups = await readRows<{ n: string | number }>(
      store,
      `SELECT count() AS n FROM (SELECT tags[{groupTag:String}] AS grp ${from} GROUP BY grp LIMIT ${maxGroups + 1})${settings}`,
      bound
    )
    if (Number(groups[0]?.n ?? 0) > maxGroups) throw new QueryErrors.TooManyGroups(spec.groupBy.tag, String(maxGroups))
  }
  const rows = await readRows<BucketRow>(store, sql, bound)
  for (const row of rows) if (row.bucket !== null) row.bucket = Number(row.bucket)
  return { rows, table }
}

/** The rows of each group (null: the overall rows), in the order read. */
export function rowsByGroup(rows: readonly BucketRow[]): Map<string | null, BucketRow[]> {
  const byGroup = new Map<string | null, BucketRow[]>()
  for (const row of rows) {
    const list = byGroup.get(row.grp)
    if (list) list.push(row)
    else byGroup.set(row.grp, [row])
  }
  return byGroup
}

/** Metrics of `names` this tenant never sent: none of its rollup rows hold them (the rollups keep longest). */
export async function unknownMetrics(store: ClickHouseStore, tenant: string, names: readonly string[]): Promise<string[]> {
  const rows = await readRows<{ metric: string }>(
    store,
    `SELECT DISTINCT metric FROM ${store.database}.${ROLLUPS[0]!.table} WHERE tenant = {tenant:String} AND metric IN {names:Array(String)} SETTINGS max_execution_time = 10`,
    { tenant, names }
  )
  const known = new Set(rows.map((r) => r.metric))
  return names.filter((n) => !known.has(n))
}

/** 404 naming the metrics when none of `names` was ever sent (all of them, with every: true). */
export async function requireKnownMetrics(store: ClickHouseStore, tenant: string, names: readonly string[], every = true): Promise<void> {
  const unknown = await unknownMetrics(store, tenant, names)
  if (unknown.length > 0 && (every || unknown.length === names.length)) throw new QueryErrors.MetricUnknown(unknown.join(', '))
}
