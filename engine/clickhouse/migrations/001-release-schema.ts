// The schema Tidemark 0.1.0 created at every start.
import type { Migration } from '../migration.ts'

/**
 * Migration 1 is the schema Tidemark 0.1.0 created at every start, statement
 * for statement (test/fixtures/schema-release-0.1.0.sql; the migration test
 * compares them), so a data directory made by that release upgrades by
 * recording it: every statement is IF NOT EXISTS and finds its object there.
 */
export const releaseSchema: Migration = {
  id: 1,
  name: 'samples and 1-minute, 1-hour rollups (release 0.1.0)',
  dataLoss: true,
  up(db) {
    // The release's DEDUPLICATION_WINDOW, written out: this migration does not follow later changes of the constant.
    const dedup = 'SETTINGS non_replicated_deduplication_window = 10000'
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
      ...rollup('samples_1m', 'toStartOfMinute'),
      ...rollup('samples_1h', 'toStartOfHour'),
    ]
  },
  down: (db) => [
    `DROP VIEW IF EXISTS ${db}.samples_1h_mv`,
    `DROP TABLE IF EXISTS ${db}.samples_1h`,
    `DROP VIEW IF EXISTS ${db}.samples_1m_mv`,
    `DROP TABLE IF EXISTS ${db}.samples_1m`,
    `DROP TABLE IF EXISTS ${db}.samples`,
  ],
}
