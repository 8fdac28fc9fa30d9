// The storage-cost scenario's variants: the release schema (every migration),
// then one change each, so one run tells what a view, a codec or a MergeTree
// setting costs per stored row. Experiments, not proposals: each drops or
// changes something the product relies on unless a migration says otherwise.
import { rollupSelect } from '../engine/clickhouse/migrations/003-series-rollups.ts'

export interface StorageCostSpec {
  variant: string
  /** Rows a second inserted. */
  rate: number
  seconds: number
  warmupSec: number
  lingerMs: number
  batchRows: number
  /** Pages per metric: series = 2 × pages (and as many anomaly_score series with scores). */
  pages: number
  /** Every other row an anomaly_score (the default stack stores a score per sample). */
  scores: boolean
  /** false: SYSTEM STOP MERGES, so the CPU measured is the inserts' alone (parts pile up: short runs only). */
  merges: boolean
  /** Share of the main thread (0-90 %) kept busy with fixed work units every 10 ms, as the engine's event loop is under load: its delay then shows what chDB's threads leave it. */
  mainBusyPct: number
  /** Nice value of chDB's threads and the encode worker (TIDEMARK_STORAGE_NICE); 0 leaves them. */
  nice: number
}

const VIEWS = ['samples_1m', 'samples_1h', 'series_1m', 'series_1h'] as const
const TABLES = ['samples', ...VIEWS]
const everyTable = (db: string, setting: string): string[] => TABLES.map((t) => `ALTER TABLE ${db}.${t} MODIFY SETTING ${setting}`)

export const STORAGE_COST_VARIANTS: Record<string, { what: string; sql(db: string): string[] }> = {
  base: { what: 'the schema as migrated', sql: () => [] },
  ...Object.fromEntries(VIEWS.map((v) => [`no-${v}`, { what: `without the ${v} view`, sql: (db: string) => [`DROP VIEW ${db}.${v}_mv`] }])),
  'no-views': { what: 'samples alone, no rollup view', sql: (db) => VIEWS.map((v) => `DROP VIEW ${db}.${v}_mv`) },
  'lz4-codecs': {
    what: 'samples with LZ4 instead of ZSTD behind DoubleDelta/Gorilla',
    sql: (db) => [
      `ALTER TABLE ${db}.samples MODIFY COLUMN ts DateTime64(3, 'UTC') CODEC(DoubleDelta, LZ4), MODIFY COLUMN value Float64 CODEC(Gorilla, LZ4), ` +
        `MODIFY COLUMN received_at DateTime64(3, 'UTC') CODEC(DoubleDelta, LZ4), MODIFY COLUMN stream_seq UInt64 CODEC(DoubleDelta, LZ4)`,
    ],
  },
  'default-codecs': {
    what: "samples with ClickHouse's default codec (LZ4) on every column",
    sql: (db) => [
      `ALTER TABLE ${db}.samples MODIFY COLUMN ts DateTime64(3, 'UTC') CODEC(LZ4), MODIFY COLUMN value Float64 CODEC(LZ4), ` +
        `MODIFY COLUMN received_at DateTime64(3, 'UTC') CODEC(LZ4), MODIFY COLUMN stream_seq UInt64 CODEC(LZ4)`,
    ],
  },
  'delta-lz4': {
    what: 'samples with Delta (not DoubleDelta) on the times and the sequence, no Gorilla on values, LZ4 behind them all',
    sql: (db) => [
      `ALTER TABLE ${db}.samples MODIFY COLUMN ts DateTime64(3, 'UTC') CODEC(Delta, LZ4), MODIFY COLUMN value Float64 CODEC(LZ4), ` +
        `MODIFY COLUMN received_at DateTime64(3, 'UTC') CODEC(Delta, LZ4), MODIFY COLUMN stream_seq UInt64 CODEC(Delta, LZ4)`,
    ],
  },
  'no-ttl': { what: 'no TTL on any table (retention off): what evaluating the TTL costs the merges', sql: (db) => TABLES.map((t) => `ALTER TABLE ${db}.${t} REMOVE TTL`) },
  'merge-base-10': { what: 'merge_selector_base 10 (default 5) on every table: fewer, wider merges', sql: (db) => everyTable(db, 'merge_selector_base = 10') },
  'min-merge-8': { what: 'min_parts_to_merge_at_once 8 on every table', sql: (db) => everyTable(db, 'min_parts_to_merge_at_once = 8') },
  'compact-only': { what: 'compact parts at any size (min_bytes_for_wide_part 1 TiB) on every table', sql: (db) => everyTable(db, 'min_bytes_for_wide_part = 1099511627776') },
  'scores-out-of-series_1h': {
    what: 'anomaly_score rows kept out of series_1h (its sketches, visitor states and measures)',
    sql: (db) => [`DROP VIEW ${db}.series_1h_mv`, `CREATE MATERIALIZED VIEW ${db}.series_1h_mv TO ${db}.series_1h AS ${rollupSelect(db, 'toStartOfHour', true, "WHERE s.metric != 'anomaly_score'")}`],
  },
  'scores-samples-only': {
    what: 'anomaly_score rows kept out of both series rollups (in samples and the per-metric rollups only)',
    sql: (db) =>
      [['series_1h', 'toStartOfHour', true], ['series_1m', 'toStartOfMinute', false]].flatMap(([t, bucket, sketches]) => [
        `DROP VIEW ${db}.${t}_mv`,
        `CREATE MATERIALIZED VIEW ${db}.${t}_mv TO ${db}.${t} AS ${rollupSelect(db, bucket as string, sketches as boolean, "WHERE s.metric != 'anomaly_score'")}`,
      ]),
  },
}
