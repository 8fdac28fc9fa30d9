// The one schema source for what a metrics beacon may hold. Ingest compiles it
// once into fastify's validator; the docs and the tests read it from here.
import { Type, type TSchema } from '@sinclair/typebox'
import { CACHE_METRICS } from '../clickhouse/migrations/002-tenant-views.ts'
import { KNOWN_METRICS, METRIC_KIND_SCHEMAS, METRIC_NAME_PATTERN, SUFFIX_KINDS } from './metric-catalogue.ts'

/** Keys in a beacon that are not metrics. */
export const RESERVED_KEYS = ['ts', 'tags'] as const

export const MAX_METRICS_PER_BEACON = 64
export const MAX_BEACONS_PER_REQUEST = 1000
export const MAX_TAGS = 16
/** Timestamps are accepted from 2000-01-01 up to this far past the receive time. */
export const MAX_FUTURE_SKEW_MS = 10 * 60_000
/** 2000-01-01T00:00:00Z: the earliest ts, for epoch and ISO alike (the rollups' DateTime cannot hold a time before 1970). */
export const MIN_TIMESTAMP_MS = 946_684_800_000
/** 2100-01-01T00:00:00Z. */
export const MAX_TIMESTAMP_MS = 4_102_444_800_000

/** When the values were measured; the receive time when absent. */
export const TimestampSchema = Type.Union(
  [
    Type.Integer({ minimum: MIN_TIMESTAMP_MS, maximum: MAX_TIMESTAMP_MS, description: 'epoch milliseconds' }),
    // iso-date-time, not date-time: an ISO time without an offset is accepted, and read as UTC.
    Type.String({ format: 'iso-date-time', maxLength: 40, description: 'ISO 8601 date-time' }),
  ],
  { description: 'epoch milliseconds or an ISO 8601 date-time' }
)

const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/

/**
 * Epoch ms of an ISO 8601 date-time the schema accepted; NaN for anything else.
 * Date.parse is not used: it reads a time without an offset as local time, and
 * refuses a `+05` offset and a leap second (`23:59:60`), which RFC 3339 allows.
 * A leap second is read as the first instant of the next minute, as POSIX time does.
 */
export function parseIsoTimestamp(text: string): number {
  const m = ISO_DATE_TIME.exec(text)
  if (!m) return Number.NaN
  const [, year, month, day, hour, minute, second, fraction, , sign, offsetHours, offsetMinutes] = m
  // Date.UTC maps years 0-99 to 1900-1999; such a ts is refused anyway, so say NaN rather than a wrong year.
  if (Number(year) < 100) return Number.NaN
  let ms = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second))
  if (fraction) ms += Math.floor(Number(`0.${fraction}`) * 1000)
  if (sign) ms -= (sign === '-' ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes ?? 0)) * 60_000
  return ms
}

/**
 * Tag names Tidemark sets itself: `metric` names the scored metric on the anomaly_score series
 * (engine/anomaly/stream-anomaly.ts SCORED_METRIC_TAG), so a beacon may not carry it.
 */
export const SCORED_METRIC_TAG = 'metric'
export const RESERVED_TAGS = [SCORED_METRIC_TAG] as const

const reservedTag = Type.Not(Type.Unknown(), {
  description: 'is a reserved tag name: Tidemark sets tag "metric" on anomaly_score series to the metric scored; rename the tag',
})

export const TagsSchema = Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.-]{0,63}$' }), Type.String({ maxLength: 256 }), {
  maxProperties: MAX_TAGS,
  additionalProperties: false,
  description: 'string labels that, with the metric name, identify a series',
  // With the pattern above, a reserved name also matches this: it is refused by name (error-handler.ts says why).
  properties: Object.fromEntries(RESERVED_TAGS.map((name) => [name, reservedTag])),
})

const knownMetricProperties: Record<string, TSchema> = {}
for (const [name, kind] of Object.entries(KNOWN_METRICS)) knownMetricProperties[name] = Type.Optional(METRIC_KIND_SCHEMAS[kind])

const suffixProperties: Record<string, TSchema> = {}
for (const [pattern, kind] of SUFFIX_KINDS) suffixProperties[pattern] = METRIC_KIND_SCHEMAS[kind]

export const BeaconSchema = Type.Object(
  { ts: Type.Optional(TimestampSchema), tags: Type.Optional(TagsSchema), ...knownMetricProperties },
  {
    minProperties: 1,
    maxProperties: MAX_METRICS_PER_BEACON + RESERVED_KEYS.length,
    propertyNames: { pattern: METRIC_NAME_PATTERN },
    patternProperties: suffixProperties,
    additionalProperties: METRIC_KIND_SCHEMAS.gauge,
    description: 'metric name to value, with optional ts and tags',
  }
)

/** A request body: one beacon, or an array of them. `if` keeps ajv's errors to the branch that applies. */
export const MetricsBodySchema = Type.Unsafe<unknown>({
  type: ['object', 'array'],
  if: { type: 'array' },
  then: { type: 'array', minItems: 1, maxItems: MAX_BEACONS_PER_REQUEST, items: BeaconSchema },
  else: BeaconSchema,
})

export type BeaconBody = Record<string, unknown> & { ts?: number | string; tags?: Record<string, string> }

/** The cache-stats route's metrics: the names the cache_stats view pivots (one source: its migration). */
export const CACHE_STATS_METRICS = { hits: CACHE_METRICS.hits, misses: CACHE_METRICS.misses, size_kb: CACHE_METRICS.sizeKb } as const
/** The tag a cache report's `name` is stored under. */
export const CACHE_NAME_TAG = 'cache'

const WholeNumber = (description: string) => Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description })

/** One cache report: POST /api/v2/analytics/cache stores it as the three samples of CACHE_STATS_METRICS. */
export const CacheStatsSchema = Type.Object(
  {
    hits: WholeNumber('lookups the cache answered'),
    misses: WholeNumber('lookups it did not'),
    size_kb: WholeNumber('its size in kilobytes'),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: `which cache; stored as the tag "${CACHE_NAME_TAG}"` })),
    ts: Type.Optional(TimestampSchema),
    tags: Type.Optional(TagsSchema),
  },
  { additionalProperties: false, description: 'cache stats: hits, misses and size, with an optional name, ts and tags' }
)

export const CacheStatsBodySchema = Type.Unsafe<unknown>({
  type: ['object', 'array'],
  if: { type: 'array' },
  then: { type: 'array', minItems: 1, maxItems: MAX_BEACONS_PER_REQUEST, items: CacheStatsSchema },
  else: CacheStatsSchema,
})

export type CacheStatsBody = { hits: number; misses: number; size_kb: number; name?: string; ts?: number | string; tags?: Record<string, string> }
