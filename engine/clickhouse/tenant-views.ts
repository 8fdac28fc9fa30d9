// The tables a tenant sees: parameterized views over the stored samples and
// rollups, each filtered by `tenant = {tenant:String}`. A view can only be
// read with a value for that parameter, so whoever instantiates one decides
// the tenant: the SQL console binds it from the credential, never from the
// analyst's text (query/sql/). The base tables lead their sort keys with
// tenant, so the filter reads only that tenant's granules.
//
// The specification's tables are here as views, not copies: analytics_metrics
// is the samples under the specification's column names, cache_stats and
// performance_metrics pivot the metrics a cache or server reporter sends (one
// row per timestamp and tag set), and tenant_analytics summarises each metric
// per hour from the hourly rollup as a JSON object.

export interface TenantView {
  /** The name an analyst writes: `SELECT … FROM samples`. */
  name: string
  /** The parameterized view in Tidemark's database: `<name>_for_tenant(tenant = …)`. */
  view: string
  /** Column names and what they hold, for docs/sql.md and error messages. */
  columns: ReadonlyArray<readonly [name: string, meaning: string]>
  /** The view's SELECT, with {tenant:String} as its only parameter. */
  select(db: string): string
}

/** Metric names the cache_stats pivot reads (the reporter's hits, misses and size). */
export const CACHE_METRICS = { hits: 'cache_hits', misses: 'cache_misses', sizeKb: 'cache_size_kb', sizeBytes: 'cache_size_bytes' } as const
/** Metric names the performance_metrics pivot reads. */
export const PERFORMANCE_METRICS = ['response_time', 'db_query_time', 'memory_usage'] as const

const quoted = (names: readonly string[]): string => names.map((n) => `'${n}'`).join(', ')

const rollupView = (name: string, table: string, meaning: string): TenantView => ({
  name,
  view: `${name}_for_tenant`,
  columns: [
    ['metric', 'metric name'],
    ['t', `bucket start (${meaning}), DateTime UTC`],
    ['count', 'samples in the bucket'],
    ['sum', 'sum of their values'],
    ['min', 'smallest value'],
    ['max', 'largest value'],
    ['avg', 'sum / count'],
  ],
  // The rollups are AggregatingMergeTree: rows of one bucket merge in the background, so the view finishes the merge.
  select: (db) => `SELECT metric, t, sum(count) AS count, sum(sum) AS sum, toFloat64(min(min)) AS min, toFloat64(max(max)) AS max, sum / count AS avg
    FROM ${db}.${table} WHERE tenant = {tenant:String} GROUP BY metric, t`,
})

export const TENANT_VIEWS: readonly TenantView[] = [
  {
    name: 'samples',
    view: 'samples_for_tenant',
    columns: [
      ['metric', 'metric name'],
      ['ts', 'sample time, DateTime64(3) UTC'],
      ['value', 'Float64'],
      ['tags', "Map(String, String): tags['site']"],
      ['received_at', 'when ingest received it, DateTime64(3) UTC'],
    ],
    select: (db) => `SELECT metric, ts, value, tags, received_at FROM ${db}.samples WHERE tenant = {tenant:String}`,
  },
  rollupView('samples_1m', 'samples_1m', 'whole minutes'),
  rollupView('samples_1h', 'samples_1h', 'whole hours'),
  {
    name: 'analytics_metrics',
    view: 'analytics_metrics_for_tenant',
    columns: [
      ['timestamp', 'sample time, DateTime64(3) UTC'],
      ['metric_name', 'metric name'],
      ['value', 'Float64'],
      ['tenant_id', "the tenant's id"],
      ['tags', 'Map(String, String)'],
    ],
    select: (db) => `SELECT ts AS timestamp, metric AS metric_name, value, tenant AS tenant_id, tags FROM ${db}.samples WHERE tenant = {tenant:String}`,
  },
  {
    name: 'cache_stats',
    view: 'cache_stats_for_tenant',
    columns: [
      ['timestamp', 'report time, DateTime64(3) UTC'],
      ['tags', 'Map(String, String) of the report'],
      ['hits', `UInt64, from ${CACHE_METRICS.hits}`],
      ['misses', `UInt64, from ${CACHE_METRICS.misses}`],
      ['size_kb', `Nullable(Float64), from ${CACHE_METRICS.sizeKb} or ${CACHE_METRICS.sizeBytes} / 1024`],
    ],
    select: (db) => `SELECT ts AS timestamp, tags,
        toUInt64(sumIf(value, metric = '${CACHE_METRICS.hits}')) AS hits,
        toUInt64(sumIf(value, metric = '${CACHE_METRICS.misses}')) AS misses,
        coalesce(maxIfOrNull(value, metric = '${CACHE_METRICS.sizeKb}'), maxIfOrNull(value, metric = '${CACHE_METRICS.sizeBytes}') / 1024) AS size_kb
      FROM ${db}.samples
      WHERE tenant = {tenant:String} AND metric IN (${quoted(Object.values(CACHE_METRICS))})
      GROUP BY ts, tags`,
  },
  {
    name: 'performance_metrics',
    view: 'performance_metrics_for_tenant',
    columns: [
      ['timestamp', 'report time, DateTime64(3) UTC'],
      ['tags', 'Map(String, String) of the report'],
      ['response_time', 'Nullable(Float64), ms'],
      ['db_query_time', 'Nullable(Float64), ms'],
      ['memory_usage', 'Nullable(Float64), percent'],
    ],
    select: (db) => `SELECT ts AS timestamp, tags,
        ${PERFORMANCE_METRICS.map((m) => `avgIfOrNull(value, metric = '${m}') AS ${m}`).join(',\n        ')}
      FROM ${db}.samples
      WHERE tenant = {tenant:String} AND metric IN (${quoted(PERFORMANCE_METRICS)})
      GROUP BY ts, tags`,
  },
  {
    name: 'tenant_analytics',
    view: 'tenant_analytics_for_tenant',
    columns: [
      ['metric_name', 'metric name'],
      ['metric_value', 'String holding a JSON object {"count","sum","min","max","avg"} for the hour: JSONExtractFloat(metric_value, \'avg\')'],
      ['created_at', 'the hour, DateTime UTC'],
    ],
    // JSON text rather than the JSON type: that type is experimental on the ClickHouse server docker-compose runs (24.8).
    select: (db) => `SELECT metric AS metric_name,
        toJSONString(CAST((count, sum, min, max, sum / count), 'Tuple(count UInt64, sum Float64, min Float64, max Float64, avg Float64)')) AS metric_value,
        t AS created_at
      FROM (SELECT metric, t, sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max
            FROM ${db}.samples_1h WHERE tenant = {tenant:String} GROUP BY metric, t)`,
  },
]

export function tenantView(name: string): TenantView | undefined {
  return TENANT_VIEWS.find((v) => v.name === name)
}

/** CREATE OR REPLACE: a view holds no data, so redefining it is safe and idempotent. */
export function tenantViewStatements(db: string): string[] {
  return TENANT_VIEWS.map((v) => `CREATE OR REPLACE VIEW ${db}.${v.view} AS ${v.select(db)}`)
}
