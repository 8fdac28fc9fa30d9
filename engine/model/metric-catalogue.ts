// What a metric name says about its values. Known names carry their kind
// explicitly; any other well-formed name takes its kind from its suffix, so
// `checkout_time` is checked like `load_time` without registering it.
import { Type, type TSchema } from '@sinclair/typebox'

export type MetricKind = 'count' | 'duration_ms' | 'percent' | 'bytes' | 'gauge'

/** Metric names: lower snake case, so they are safe as ClickHouse values and NATS tokens alike. */
export const METRIC_NAME_PATTERN = '^[a-z][a-z0-9_]{0,62}$'

export const METRIC_KIND_SCHEMAS: Record<MetricKind, TSchema> = {
  count: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'a count: a whole number, 0 or more' }),
  duration_ms: Type.Number({ minimum: 0, maximum: 86_400_000, description: 'a duration in milliseconds, 0 or more' }),
  percent: Type.Number({ minimum: 0, maximum: 100, description: 'a percentage from 0 to 100' }),
  bytes: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'a size in bytes, 0 or more' }),
  gauge: Type.Number({ minimum: -1e15, maximum: 1e15, description: 'a finite number' }),
}

/** Names the seeds and the dashboards use; each is checked by its kind. */
export const KNOWN_METRICS: Record<string, MetricKind> = {
  page_views: 'count',
  visits: 'count',
  unique_visitors: 'count',
  sessions: 'count',
  bounces: 'count',
  errors: 'count',
  requests: 'count',
  cache_hits: 'count',
  cache_misses: 'count',
  cache_evictions: 'count',
  load_time: 'duration_ms',
  response_time: 'duration_ms',
  db_query_time: 'duration_ms',
  ttfb: 'duration_ms',
  fcp: 'duration_ms',
  lcp: 'duration_ms',
  cpu_usage: 'percent',
  memory_usage: 'percent',
  disk_usage: 'percent',
  cache_hit_rate: 'percent',
  cache_size_bytes: 'bytes',
  // Kilobytes, a whole number 0 or more, as POST /api/v2/analytics/cache takes it: checked like a count.
  cache_size_kb: 'count',
}

/** Suffix rules for names outside KNOWN_METRICS, checked in this order. */
export const SUFFIX_KINDS: ReadonlyArray<readonly [suffixPattern: string, kind: MetricKind]> = [
  ['_(count|total|views|visits|hits|misses)$', 'count'],
  ['_(time|ms|latency|duration)$', 'duration_ms'],
  ['_(percent|pct|usage|rate)$', 'percent'],
  ['_bytes$', 'bytes'],
]

const SUFFIX_MATCHERS = SUFFIX_KINDS.map(([pattern, kind]) => [new RegExp(pattern), kind] as const)

export function metricKind(name: string): MetricKind {
  // An own-property check: a plain lookup finds Object.prototype's `constructor` for a metric of that name.
  if (Object.hasOwn(KNOWN_METRICS, name)) return KNOWN_METRICS[name] as MetricKind
  for (const [pattern, kind] of SUFFIX_MATCHERS) if (pattern.test(name)) return kind
  return 'gauge'
}
