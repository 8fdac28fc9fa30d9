// The ClickHouse tables Tidemark writes and reads. Their definitions are the
// numbered migrations in engine/clickhouse/migrations/ (applied and recorded
// by engine/clickhouse/migrator.ts); this file keeps what the rest of the
// engine needs to know about them. Tenant leads every sort key, so a
// tenant's reads touch only its own granules.
import { SERIES_ROLLUPS } from './migrations/003-series-rollups.ts'

/** Blocks remembered for insert deduplication: a redelivered batch within this many inserts is stored once. */
export const DEDUPLICATION_WINDOW = 10_000

export const SAMPLE_COLUMNS = ['tenant', 'metric', 'ts', 'value', 'tags', 'received_at', 'stream_seq'] as const

/**
 * The rollups per series the query tier reads, widest first, and whether they
 * carry quantile sketches and visitor states (migrations/003-series-rollups.ts
 * says why only the hourly one does). samples_1m and samples_1h, release
 * 0.1.0's rollups per metric, are still fed for the views that read them.
 */
export const ROLLUPS: ReadonlyArray<{ table: string; seconds: number; sketches: boolean }> = SERIES_ROLLUPS

/**
 * Release 0.1.0's rollups per metric (migrations/001), widest first: one row
 * per tenant, metric and bucket, whatever the series. A read of every series
 * of a metric with plain measures (count, sum, min, max) scans one row per
 * bucket there instead of one per series and bucket: a hundred times fewer
 * for a metric of a hundred series. Same samples, same retention (retention.ts),
 * so the same figures as the per-series rollups.
 */
export const METRIC_ROLLUPS: ReadonlyArray<{ table: string; seconds: number }> = [
  { table: 'samples_1h', seconds: 3600 },
  { table: 'samples_1m', seconds: 60 },
]

export { QUANTILES_FN, SKETCH_ACCURACY, SKETCH_LEVELS, VISITOR_TAG, VISITORS_FN } from './migrations/003-series-rollups.ts'
