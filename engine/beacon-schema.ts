// The one schema source for what a metrics beacon may hold. Ingest compiles it
// once into fastify's validator; the docs and the tests read it from here.
import { Type, type TSchema } from '@sinclair/typebox'
import { KNOWN_METRICS, METRIC_KIND_SCHEMAS, METRIC_NAME_PATTERN, SUFFIX_KINDS } from './metric-catalogue.ts'

/** Keys in a beacon that are not metrics. */
export const RESERVED_KEYS = ['ts', 'tags'] as const

export const MAX_METRICS_PER_BEACON = 64
export const MAX_BEACONS_PER_REQUEST = 1000
export const MAX_TAGS = 16
/** Timestamps are accepted from 2000-01-01 up to this far past the receive time. */
export const MAX_FUTURE_SKEW_MS = 10 * 60_000

/** When the values were measured; the receive time when absent. */
export const TimestampSchema = Type.Union(
  [
    Type.Integer({ minimum: 946_684_800_000, maximum: 4_102_444_800_000, description: 'epoch milliseconds' }),
    Type.String({ format: 'date-time', maxLength: 40, description: 'ISO 8601 date-time' }),
  ],
  { description: 'epoch milliseconds or an ISO 8601 date-time' }
)

export const TagsSchema = Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.-]{0,63}$' }), Type.String({ maxLength: 256 }), {
  maxProperties: MAX_TAGS,
  additionalProperties: false,
  description: 'string labels that, with the metric name, identify a series',
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
