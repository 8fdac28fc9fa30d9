// What a tenant reads through the SQL console, and the specification's tables
// (analytics_metrics, cache_stats, performance_metrics, tenant_analytics), as
// parameterized views filtered by `tenant = {tenant:String}` (tenant-views.ts
// says why). Views rather than copies: analytics_metrics is the samples under
// the specification's column names; cache_stats and performance_metrics pivot
// the metrics a cache or server reporter sends, one row per timestamp and tag
// set; tenant_analytics summarises each metric per hour, from the hourly
// rollup, as a JSON object.
import type { Migration } from '../migration.ts'

/** Metric names the cache_stats pivot reads (the reporter's hits, misses and size). */
export const CACHE_METRICS = { hits: 'cache_hits', misses: 'cache_misses', sizeKb: 'cache_size_kb', sizeBytes: 'cache_size_bytes' } as const
/** Metric names the performance_metrics pivot reads. */
export const PERFORMANCE_METRICS = ['response_time', 'db_query_time', 'memory_usage'] as const

const quoted = (names: readonly string[]): string => names.map((n) => `'${n}'`).join(', ')

// The rollups are AggregatingMergeTree: rows of one bucket merge in the background, so the view finishes the merge.
const rollup = (db: string, table: string): string =>
  `SELECT metric, t, sum(count) AS count, sum(sum) AS sum, toFloat64(min(min)) AS min, toFloat64(max(max)) AS max, sum / count AS avg
    FROM ${db}.${table} WHERE tenant = {tenant:String} GROUP BY metric, t`

export function viewSelects(db: string): Record<string, string> {
  return {
    samples: `SELECT metric, ts, value, tags, received_at FROM ${db}.samples WHERE tenant = {tenant:String}`,
    samples_1m: rollup(db, 'samples_1m'),
    samples_1h: rollup(db, 'samples_1h'),
    analytics_metrics: `SELECT ts AS timestamp, metric AS metric_name, value, tenant AS tenant_id, tags FROM ${db}.samples WHERE tenant = {tenant:String}`,
    cache_stats: `SELECT ts AS timestamp, tags,
        toUInt64(sumIf(value, metric = '${CACHE_METRICS.hits}')) AS hits,
        toUInt64(sumIf(value, metric = '${CACHE_METRICS.misses}')) AS misses,
        coalesce(maxIfOrNull(value, metric = '${CACHE_METRICS.sizeKb}'), maxIfOrNull(value, metric = '${CACHE_METRICS.sizeBytes}') / 1024) AS size_kb
      FROM ${db}.samples
      WHERE tenant = {tenant:String} AND metric IN (${quoted(Object.values(CACHE_METRICS))})
      GROUP BY ts, tags`,
    performance_metrics: `SELECT ts AS timestamp, tags,
        ${PERFORMANCE_METRICS.map((m) => `avgIfOrNull(value, metric = '${m}') AS ${m}`).join(',\n        ')}
      FROM ${db}.samples
      WHERE tenant = {tenant:String} AND metric IN (${quoted(PERFORMANCE_METRICS)})
      GROUP BY ts, tags`,
    // JSON text rather than the JSON type: that type is experimental on the ClickHouse server docker-compose runs (24.8).
    // count as Float64 (exact to 2^53): a UInt64 in toJSONString is quoted or not as the reading session's
    // output_format_json_quote_64bit_integers says, and the view's text must not depend on who reads it.
    tenant_analytics: `SELECT metric AS metric_name,
        toJSONString(CAST((count, sum, min, max, sum / count), 'Tuple(count Float64, sum Float64, min Float64, max Float64, avg Float64)')) AS metric_value,
        t AS created_at
      FROM (SELECT metric, t, sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max
            FROM ${db}.samples_1h WHERE tenant = {tenant:String} GROUP BY metric, t)`,
  }
}

export const tenantViews: Migration = {
  id: 2,
  name: "tenant views: samples, rollups and the specification's tables",
  // OR REPLACE rather than IF NOT EXISTS: a view holds no data, and a half-applied run stays repeatable.
  up: (db) => Object.entries(viewSelects(db)).map(([name, select]) => `CREATE OR REPLACE VIEW ${db}.${name}_for_tenant AS ${select}`),
  down: (db) =>
    Object.keys(viewSelects(db))
      .map((name) => `DROP VIEW IF EXISTS ${db}.${name}_for_tenant`)
      .reverse(),
}
