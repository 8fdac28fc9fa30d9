// The ClickHouse tables Tidemark writes and reads. Every statement is
// idempotent and runs at each start. Tenant leads every sort key, so a tenant's
// reads touch only its own granules.
import { triggerEventsTableStatement } from './rules/trigger-history.ts'

/** Blocks remembered for insert deduplication: a redelivered batch within this many inserts is stored once. */
export const DEDUPLICATION_WINDOW = 10_000

export function schemaStatements(db: string): string[] {
  const dedup = `SETTINGS non_replicated_deduplication_window = ${DEDUPLICATION_WINDOW}`
  const rollup = (table: string, bucket: string): string[] => [
    `CREATE TABLE IF NOT EXISTS ${db}.${table} (
      tenant LowCardinality(String),
      metric LowCardinality(String),
      t DateTime('UTC'),
      count SimpleAggregateFunction(sum, UInt64),
      sum SimpleAggregateFunction(sum, Float64),
      min SimpleAggregateFunction(min, Float64),
      max SimpleAggregateFunction(max, Float64)
    ) ENGINE = AggregatingMergeTree
    PARTITION BY toYYYYMM(t)
    ORDER BY (tenant, metric, t)
    ${dedup}`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${table}_mv TO ${db}.${table} AS
      SELECT tenant, metric, ${bucket}(ts) AS t, count() AS count, sum(value) AS sum, min(value) AS min, max(value) AS max
      FROM ${db}.samples GROUP BY tenant, metric, t`,
  ]
  return [
    // One row per sample. stream_seq is the JetStream sequence of the batch that carried it: provenance for replays.
    `CREATE TABLE IF NOT EXISTS ${db}.samples (
      tenant LowCardinality(String),
      metric LowCardinality(String),
      ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD),
      value Float64 CODEC(Gorilla, ZSTD),
      tags Map(LowCardinality(String), String),
      received_at DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD),
      stream_seq UInt64 CODEC(DoubleDelta, ZSTD)
    ) ENGINE = MergeTree
    PARTITION BY toYYYYMM(ts)
    ORDER BY (tenant, metric, ts)
    ${dedup}`,
    // avg/min/max over many series is where rollups pay (DESIGN.md: p95 132 ms -> 14 ms).
    ...rollup('samples_1m', 'toStartOfMinute'),
    ...rollup('samples_1h', 'toStartOfHour'),
    // Trigger events (alert transitions and ladder steps) for history; one row per stable event id.
    triggerEventsTableStatement(db),
  ]
}

export const SAMPLE_COLUMNS = ['tenant', 'metric', 'ts', 'value', 'tags', 'received_at', 'stream_seq'] as const

/** Rollup tables by their bucket width in seconds, widest first. */
export const ROLLUPS: ReadonlyArray<{ table: string; seconds: number }> = [
  { table: 'samples_1h', seconds: 3600 },
  { table: 'samples_1m', seconds: 60 },
]
