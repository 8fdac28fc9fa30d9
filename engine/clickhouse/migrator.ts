// Runs the numbered migrations (migrations.ts) in order and records each in
// <db>.schema_migrations: an append-only log of (id, direction, checksum,
// time), where a migration's state is its latest entry. A log rather than
// rows updated in place: MergeTree has no cheap UPDATE, and the log is the
// history `migrate status` shows.
//
// applyMigrations runs at every start in place of the old applySchema: on a
// data directory made by release 0.1.0, migration 1 finds every object there
// (IF NOT EXISTS) and is recorded, and the later ones apply.
import type { ClickHouseStore } from './clickhouse-store.ts'
import { sha256Hex } from '../tenancy/digest.ts'
import { EngineErrors } from '../errors.ts'
import { MIGRATIONS, type Migration } from './migrations.ts'
import { retention } from './migrations/004-retention.ts'
import { applyRetentionPolicies } from './retention.ts'

const RETENTION_MIGRATION = retention.id

export const MIGRATIONS_TABLE = 'schema_migrations'

export interface MigrationState {
  id: number
  name: string
  applied: boolean
  /** When its latest entry was written, ISO 8601 UTC; undefined when never applied. */
  at: string | undefined
  /** Applied from an `up` other than the one in this code: a released migration was edited. */
  changed: boolean
}

export interface SchemaStatus {
  /** The highest applied migration; 0 for none. */
  version: number
  migrations: MigrationState[]
  /** Applied migrations this code does not know: a newer Tidemark made the database. */
  unknown: Array<{ id: number; name: string }>
}

interface Entry {
  id: number
  name: string
  direction: 'up' | 'down'
  checksum: string
  at: string
}

/** Of the statements, not of the database's name, so one checksum holds for every database. */
export function migrationChecksum(migration: Migration): string {
  return sha256Hex(migration.up('<db>').join(';\n'))
}

async function ensureLog(store: ClickHouseStore): Promise<void> {
  await store.command(`CREATE TABLE IF NOT EXISTS ${store.database}.${MIGRATIONS_TABLE} (
    id UInt32,
    name String,
    direction LowCardinality(String),
    checksum String,
    at DateTime64(3, 'UTC'),
    seq UInt64
  ) ENGINE = MergeTree ORDER BY (id, seq)`)
}

async function latestEntries(store: ClickHouseStore): Promise<Map<number, Entry>> {
  const rows = await store.rows<Entry>(
    `SELECT id, argMax(name, seq) AS name, argMax(direction, seq) AS direction, argMax(checksum, seq) AS checksum,
       toString(argMax(at, seq)) AS at
     FROM ${store.database}.${MIGRATIONS_TABLE} GROUP BY id ORDER BY id`
  )
  // "2026-01-01 00:00:00.000" in UTC (the column's zone) -> ISO 8601.
  return new Map(rows.map((r) => [Number(r.id), { ...r, id: Number(r.id), at: `${r.at.replace(' ', 'T')}Z` }]))
}

let lastSeq = 0
/** Microseconds since the epoch, strictly increasing within the process: orders a migration's entries. */
function nextSeq(): number {
  lastSeq = Math.max(lastSeq + 1, Date.now() * 1000)
  return lastSeq
}

async function record(store: ClickHouseStore, migration: Migration, direction: 'up' | 'down'): Promise<void> {
  // async_insert = 0: chDB turns it on by default, and the next status must see this entry.
  await store.client.command({
    query: `INSERT INTO ${store.database}.${MIGRATIONS_TABLE} (id, name, direction, checksum, at, seq) SETTINGS async_insert = 0
      SELECT {id:UInt32}, {name:String}, {direction:String}, {checksum:String}, now64(3, 'UTC'), {seq:UInt64}`,
    query_params: { id: migration.id, name: migration.name, direction, checksum: migrationChecksum(migration), seq: nextSeq() },
  })
}

function sorted(migrations: readonly Migration[]): Migration[] {
  return [...migrations].sort((a, b) => a.id - b.id)
}

export async function migrationStatus(store: ClickHouseStore, migrations: readonly Migration[] = MIGRATIONS): Promise<SchemaStatus> {
  await ensureLog(store)
  const entries = await latestEntries(store)
  const known = new Set(migrations.map((m) => m.id))
  const states = sorted(migrations).map((m): MigrationState => {
    const entry = entries.get(m.id)
    const applied = entry?.direction === 'up'
    return { id: m.id, name: m.name, applied, at: entry?.at, changed: applied && entry?.checksum !== migrationChecksum(m) }
  })
  const unknown = [...entries.values()].filter((e) => e.direction === 'up' && !known.has(e.id)).map((e) => ({ id: e.id, name: e.name }))
  const version = Math.max(0, ...states.filter((s) => s.applied).map((s) => s.id), ...unknown.map((u) => u.id))
  return { version, migrations: states, unknown }
}

async function run(store: ClickHouseStore, migration: Migration, direction: 'up' | 'down'): Promise<void> {
  for (const statement of migration[direction](store.database)) {
    try {
      await store.command(statement)
    } catch (err) {
      throw new EngineErrors.SchemaMigrationFailed(`${direction} of migration ${migration.id} (${migration.name}) failed: ${(err as Error).message}`, { cause: err })
    }
  }
  await record(store, migration, direction)
}

export interface MigrateOptions {
  /** The version to end at: up to the latest by default, down to one below the current by default. */
  to?: number
  /** Called after each migration ran. */
  onMigrated?: (migration: Migration, direction: 'up' | 'down') => void
}

/** Applies every pending migration up to `to`, in order. Returns those it applied. */
export async function migrateUp(store: ClickHouseStore, options: MigrateOptions = {}, migrations: readonly Migration[] = MIGRATIONS): Promise<Migration[]> {
  const status = await migrationStatus(store, migrations)
  if (status.unknown.length > 0) {
    const newest = status.unknown.map((u) => `${u.id} (${u.name})`).join(', ')
    throw new EngineErrors.SchemaMigrationFailed(`the database holds migration ${newest}, which this Tidemark does not know: a newer release made it; run that release`)
  }
  const applied = new Set(status.migrations.filter((m) => m.applied).map((m) => m.id))
  const done: Migration[] = []
  for (const migration of sorted(migrations)) {
    if (applied.has(migration.id) || (options.to !== undefined && migration.id > options.to)) continue
    await run(store, migration, 'up')
    options.onMigrated?.(migration, 'up')
    done.push(migration)
  }
  return done
}

/** Rolls back applied migrations above `to`, newest first. Refuses one that drops stored rows unless allowDataLoss. */
export async function migrateDown(
  store: ClickHouseStore,
  options: MigrateOptions & { allowDataLoss?: boolean } = {},
  migrations: readonly Migration[] = MIGRATIONS
): Promise<Migration[]> {
  const status = await migrationStatus(store, migrations)
  const to = options.to ?? Math.max(0, status.version - 1)
  const appliedIds = new Set(status.migrations.filter((m) => m.applied).map((m) => m.id))
  const victims = sorted(migrations)
    .filter((m) => appliedIds.has(m.id) && m.id > to)
    .reverse()
  const lossy = victims.filter((m) => m.dataLoss)
  if (lossy.length > 0 && !options.allowDataLoss) {
    throw new EngineErrors.SchemaMigrationFailed(
      `rolling back to ${to} drops stored data (migration ${lossy.map((m) => `${m.id}: ${m.name}`).join(', ')}); pass --drop-data if that is what you want`
    )
  }
  const done: Migration[] = []
  for (const migration of victims) {
    await run(store, migration, 'down')
    options.onMigrated?.(migration, 'down')
    done.push(migration)
  }
  return done
}

/**
 * What a process runs at start: every pending migration, then the tenants'
 * retention policies onto the tables' TTLs (a table a migration made anew has
 * none yet). The same signature as the applySchema it replaces.
 */
export async function applyMigrations(store: ClickHouseStore, migrations: readonly Migration[] = MIGRATIONS): Promise<void> {
  await migrateUp(store, {}, migrations)
  const status = await migrationStatus(store, migrations)
  if (status.migrations.some((m) => m.id === RETENTION_MIGRATION && m.applied)) await applyRetentionPolicies(store)
}
