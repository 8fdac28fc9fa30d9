// The ClickHouse tables Tidemark writes and reads. Their definitions are the
// numbered migrations in engine/clickhouse/migrations/ (applied and recorded
// by engine/clickhouse/migrator.ts); this file keeps what the rest of the
// engine needs to know about them. Tenant leads every sort key, so a
// tenant's reads touch only its own granules.
import { MIGRATIONS } from './clickhouse/migrations.ts'

/** Blocks remembered for insert deduplication: a redelivered batch within this many inserts is stored once. */
export const DEDUPLICATION_WINDOW = 10_000

/**
 * Every migration's statements, in order: the whole schema, unrecorded.
 * Kept for callers that apply the schema without the migrator; start-up
 * should use applyMigrations (engine/clickhouse/migrator.ts), which records.
 */
export function schemaStatements(db: string): string[] {
  return MIGRATIONS.flatMap((m) => m.up(db))
}

export const SAMPLE_COLUMNS = ['tenant', 'metric', 'ts', 'value', 'tags', 'received_at', 'stream_seq'] as const

/** Rollup tables by their bucket width in seconds, widest first. */
export const ROLLUPS: ReadonlyArray<{ table: string; seconds: number }> = [
  { table: 'samples_1h', seconds: 3600 },
  { table: 'samples_1m', seconds: 60 },
]
