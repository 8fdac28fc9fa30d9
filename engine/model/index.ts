// The model room's public door (engine/index.ts re-exports it for the tiers).
// The data model: what a beacon may hold (one TypeBox schema source), metric kinds, samples and
// their partition, and the msgpack batch format on tm.beacons.<p>.
export { METRIC_NAME_PATTERN, metricKind, type MetricKind } from './metric-catalogue.ts'
export { KIND_UNITS, unitOfKind, unitScale, formatInUnit, type Unit, type UnitScale } from './units.ts'
export { MetricsBodySchema, MAX_BEACONS_PER_REQUEST, MAX_FUTURE_SKEW_MS, type BeaconBody } from './beacon-schema.ts'
export { MAX_METRICS_PER_BEACON, MIN_TIMESTAMP_MS, parseIsoTimestamp } from './beacon-schema.ts'
// The schema's parts, for ingest's msgpack fast path, which reads its rules from them (ingest/msgpack-beacons.ts).
export { BeaconSchema, TagsSchema, TimestampSchema, RESERVED_KEYS } from './beacon-schema.ts'
export { CacheStatsBodySchema, CACHE_STATS_METRICS, CACHE_NAME_TAG, MAX_TAGS, type CacheStatsBody } from './beacon-schema.ts'
export { SampleField, seriesKey, seriesTagsKey, partitionOf, seriesPartition, tenantHashSeed, type Sample } from './sample.ts'
export { encodeBatch, decodeBatch } from './beacon-batch.ts'
