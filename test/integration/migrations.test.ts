// The ClickHouse schema as numbered migrations, on chDB: migration 1 is the
// released schema to the statement, a data directory made by that release
// upgrades without losing a row, each migration is idempotent both ways and
// rolls back, and `tidemark migrate` reports and moves the schema.
import fs from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../engine/index.ts'
import { openClickHouse, type ClickHouseStore } from '../../engine/clickhouse/clickhouse-store.ts'
import { migrateCommand } from '../../engine/clickhouse/migrate-command.ts'
import { MIGRATIONS, type Migration } from '../../engine/clickhouse/migrations.ts'
import { applyMigrations, migrateDown, migrateUp, migrationStatus, MIGRATIONS_TABLE } from '../../engine/clickhouse/migrator.ts'
import { runSql } from '../../query/sql/sql-console.ts'
import { tempDir } from '../helpers/stack.ts'

const RELEASE_SQL = fs.readFileSync(new URL('../fixtures/schema-release-0.1.0.sql', import.meta.url), 'utf8')
const LATEST = Math.max(...MIGRATIONS.map((m) => m.id))
/** The migrations after the tenant views (2), newest first: what a rollback to 2 undoes. */
const AFTER_2 = MIGRATIONS.map((m) => m.id).filter((id) => id > 2).sort((a, b) => b - a)

let dir: string
let chdbPath: string
let store: ClickHouseStore

/** The release's statements for database `db`, as its applySchema ran them. */
function releaseStatements(db: string): string[] {
  const body = RELEASE_SQL.split('\n')
    .filter((line) => !line.startsWith('--'))
    .join('\n')
  return body
    .split(/;\s*\n/)
    .map((s) => s.trim().replace(/;$/, ''))
    .filter(Boolean)
    .map((s) => s.replaceAll('tidemark.', `${db}.`))
}

const squash = (sql: string): string => sql.replace(/\s+/g, ' ').trim()

/** chDB's directory takes one session at a time: the current one closes before the next opens. */
async function open(db: string): Promise<ClickHouseStore> {
  await store?.close()
  return openClickHouse({ database: db, chdbPath })
}

async function count(db: string, table: string): Promise<number> {
  const [row] = await store.rows<{ n: string }>(`SELECT count() AS n FROM ${db}.${table}`)
  return Number(row?.n)
}

async function tables(db: string): Promise<string[]> {
  const rows = await store.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name`, { db })
  return rows.map((r) => r.name)
}

async function logEntries(db: string): Promise<number> {
  return count(db, MIGRATIONS_TABLE)
}

beforeAll(async () => {
  dir = tempDir('migrations')
  chdbPath = `${dir}/chdb`
  store = await open('tidemark')
})
afterAll(async () => {
  await store?.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('migration 1', () => {
  it('is the schema release 0.1.0 created, statement for statement', () => {
    const release = releaseStatements('tidemark').map(squash)
    const migration1 = MIGRATIONS.find((m) => m.id === 1)!.up('tidemark').map(squash)
    expect(migration1).toEqual(release)
  })
})

describe('a fresh database', () => {
  it('starts at version 0, applies every migration in order, and records each once', async () => {
    const db = 'fresh'
    store = await open(db)
    const before = await migrationStatus(store)
    expect(before).toMatchObject({ version: 0, unknown: [] })
    expect(before.migrations.every((m) => !m.applied)).toBe(true)
    await applyMigrations(store)
    const after = await migrationStatus(store)
    expect(after.version).toBe(LATEST)
    expect(after.migrations.every((m) => m.applied && !m.changed && /^\d{4}-\d{2}-\d{2}T/.test(m.at ?? ''))).toBe(true)
    expect(await tables(db)).toEqual(expect.arrayContaining(['samples', 'samples_1m', 'samples_1h', 'samples_1m_mv', 'samples_1h_mv', 'samples_for_tenant', 'analytics_metrics_for_tenant']))
    const entries = await logEntries(db)
    expect(entries).toBe(MIGRATIONS.length)
    // At the next start there is nothing to do, and nothing more is recorded.
    await applyMigrations(store)
    expect(await logEntries(db)).toBe(entries)
  })
})

describe('a data directory made by release 0.1.0', () => {
  const db = 'released'

  it('upgrades without losing a row, and its old rows read through the new views', async () => {
    // The release at work: its schema, rows stored (the rollups fill through their views), then a restart.
    store = await open(db)
    for (const statement of releaseStatements(db)) await store.command(statement)
    await store.command(`INSERT INTO ${db}.samples (tenant, metric, ts, value, tags, received_at, stream_seq)
      SELECT if(number % 3 = 0, 't_a', 't_b'), 'page_views', toDateTime64('2026-01-01 00:00:00', 3, 'UTC') + number, number, map('site', 'x'), now64(3, 'UTC'), number
      FROM system.numbers LIMIT 5000 SETTINGS async_insert = 0`)
    const before = { samples: await count(db, 'samples'), m1: await count(db, 'samples_1m'), h1: await count(db, 'samples_1h') }
    expect(before.samples).toBe(5000)
    await store.close()

    store = await open(db)
    await applyMigrations(store)
    expect(await migrationStatus(store)).toMatchObject({ version: LATEST })
    expect({ samples: await count(db, 'samples'), m1: await count(db, 'samples_1m'), h1: await count(db, 'samples_1h') }).toEqual(before)
    const [sums] = await store.rows<{ n: string; total: number }>(`SELECT toString(count()) AS n, sum(value) AS total FROM ${db}.samples`)
    expect(sums).toEqual({ n: '5000', total: (4999 * 5000) / 2 })

    const viaConsole = await runSql(store, 't_a', 'SELECT (SELECT count() FROM samples) AS n, (SELECT sum(count) FROM samples_1h) AS rolled')
    expect(viaConsole.rows).toEqual([['1667', '1667']])
    expect(viaConsole.columns.map((c) => c.name)).toEqual(['n', 'rolled'])
    // The rollups per series start with the release's rows in them.
    for (const table of ['series_1m', 'series_1h']) {
      const [rolled] = await store.rows<{ n: string }>(`SELECT toString(sum(count)) AS n FROM ${db}.${table}`)
      expect(rolled?.n, table).toBe('5000')
    }
  })

  it('keeps storing: new rows reach the release rollups and the new ones', async () => {
    await store.command(`INSERT INTO ${db}.samples (tenant, metric, ts, value, tags, received_at, stream_seq) SETTINGS async_insert = 0 VALUES ('t_a', 'page_views', '2026-01-01 02:00:00', 1, map(), now64(3), 99999)`)
    for (const table of ['samples_1h', 'series_1h', 'series_1m']) {
      const [row] = await store.rows<{ n: string }>(`SELECT toString(sum(count)) AS n FROM ${db}.${table} WHERE tenant = 't_a'`)
      expect(row?.n, table).toBe('1668')
    }
  })
})

describe('rolling back and forward', () => {
  const db = 'rollback'

  it('rolls back one migration by default, and rolls back the rollups keeping the rows, then applies them again', async () => {
    store = await open(db)
    await applyMigrations(store)
    await store.command(`INSERT INTO ${db}.samples (tenant, metric, ts, value, tags, received_at, stream_seq) SETTINGS async_insert = 0 VALUES ('t_a', 'x', now64(3), 1, map(), now64(3), 1)`)
    // The latest (trigger events) drops stored history, as retention's down forgets the tenants' policies: it asks first.
    await expect(migrateDown(store)).rejects.toMatchObject({ code: 'TM_ENGINE_SCHEMA_MIGRATION_FAILED' })
    const down = await migrateDown(store, { to: 2, allowDataLoss: true })
    expect(down.map((m) => m.id)).toEqual(AFTER_2)
    expect(await migrationStatus(store)).toMatchObject({ version: 2 })
    expect(await tables(db)).not.toContain('series_1h')
    expect(await count(db, 'samples')).toBe(1)
    const up = await migrateUp(store)
    expect(up.map((m) => m.id)).toEqual([...AFTER_2].reverse())
    expect(await tables(db)).toContain('series_1h')
    // Rolled forward again, the rollup is rebuilt from the samples.
    const [rebuilt] = await store.rows<{ n: string }>(`SELECT toString(sum(count)) AS n FROM ${db}.series_1h`)
    expect(rebuilt?.n).toBe('1')
    // The log keeps the history: applied, rolled back, applied.
    const [history] = await store.rows<{ n: string }>(`SELECT count() AS n FROM ${db}.${MIGRATIONS_TABLE} WHERE id = 3`)
    expect(Number(history?.n)).toBe(3)
  })

  it('refuses a rollback that drops stored rows unless asked, and then drops them', async () => {
    await expect(migrateDown(store, { to: 0 })).rejects.toMatchObject({ code: 'TM_ENGINE_SCHEMA_MIGRATION_FAILED', message: expect.stringMatching(/drops stored data.*--drop-data/) })
    expect(await migrationStatus(store)).toMatchObject({ version: LATEST })
    expect(await count(db, 'samples')).toBe(1)
    await migrateDown(store, { to: 0, allowDataLoss: true })
    expect(await migrationStatus(store)).toMatchObject({ version: 0 })
    expect(await tables(db)).toEqual([MIGRATIONS_TABLE])
    await migrateUp(store, { to: 1 })
    expect(await migrationStatus(store)).toMatchObject({ version: 1 })
    expect(await tables(db)).toContain('samples')
  })
})

describe('each migration', () => {
  it('is idempotent both ways: up twice, down twice, up again', async () => {
    const db = 'idempotent'
    store = await open(db)
    for (const migration of MIGRATIONS) {
      for (const statement of [...migration.up(db), ...migration.up(db)]) await store.command(statement)
    }
    for (const migration of [...MIGRATIONS].reverse()) {
      for (const statement of [...migration.down(db), ...migration.down(db)]) await store.command(statement)
    }
    expect(await tables(db)).toEqual([])
    for (const migration of MIGRATIONS) for (const statement of migration.up(db)) await store.command(statement)
    expect((await tables(db)).length).toBeGreaterThan(5)
  })

  it('is reported when edited after it was applied, and the database refuses code older than itself', async () => {
    const db = 'fresh'
    store = await open(db)
    const edited: Migration[] = MIGRATIONS.map((m) => (m.id === 1 ? { ...m, up: (d: string) => [...m.up(d), 'SELECT 1'] } : m))
    const status = await migrationStatus(store, edited)
    expect(status.migrations.find((m) => m.id === 1)).toMatchObject({ applied: true, changed: true })
    const newer: Migration[] = [...MIGRATIONS, { id: 99, name: 'from the future', up: () => [], down: () => [] }]
    await migrateUp(store, {}, newer)
    await expect(migrateUp(store)).rejects.toMatchObject({ code: 'TM_ENGINE_SCHEMA_MIGRATION_FAILED', message: expect.stringMatching(/migration 99 \(from the future\).*newer release/) })
    await migrateDown(store, { to: LATEST }, newer)
    await expect(migrateUp(store)).resolves.toEqual([])
  })
})

describe('tidemark migrate', () => {
  const db = 'cli'
  let out = ''
  let err = ''
  const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) }
  const migrate = async (...args: string[]): Promise<number> => {
    out = ''
    err = ''
    const config = loadConfig({}, { dataDir: dir, chdbPath, clickhouseDatabase: db })
    return migrateCommand(config, args, io)
  }

  beforeAll(async () => {
    // The command opens chDB's directory itself: one session at a time.
    await store.close()
  })

  it('shows status, applies, rolls back and refuses a bad request', async () => {
    expect(await migrate('status')).toBe(0)
    expect(out).toMatch(/^schema version 0 of cli \(chDB at .*\)\n\s+1\s+pending\s+samples and 1-minute/)
    expect(await migrate('up', '1')).toBe(0)
    expect(out).toBe(`applied 1  ${MIGRATIONS[0]!.name}\nschema version 1 of cli\n`)
    expect(await migrate('up')).toBe(0)
    expect(out).toMatch(new RegExp(`applied 2 .*\\napplied ${LATEST} .*\\nschema version ${LATEST} of cli\\n$`, 's'))
    expect(await migrate('up')).toBe(0)
    expect(out).toBe(`nothing to do: schema version ${LATEST} of cli\n`)
    expect(await migrate('status', '--json')).toBe(0)
    expect(JSON.parse(out)).toMatchObject({ version: LATEST, unknown: [], migrations: MIGRATIONS.map((m) => ({ id: m.id, applied: true })) })
    expect(await migrate('down', '2', '--drop-data')).toBe(0)
    expect(out).toMatch(new RegExp(`^${AFTER_2.map((id) => `rolled back ${id} .*\\n`).join('')}schema version 2 of cli\\n$`))
    expect(await migrate('down')).toBe(0)
    expect(out).toMatch(/^rolled back 2 .*\nschema version 1 of cli\n$/)
    expect(await migrate('down', '0')).toBe(1)
    expect(err).toMatch(/TM_ENGINE_SCHEMA_MIGRATION_FAILED: .*--drop-data/)
    expect(await migrate('down', '0', '--drop-data')).toBe(0)
    expect(out).toMatch(/rolled back 1 .*\nschema version 0 of cli\n$/)
    for (const bad of [[], ['sideways'], ['up', 'two'], ['up', '-1'], ['status', '--force'], ['up', '1', '2']]) {
      expect(await migrate(...bad), bad.join(' ')).toBe(2)
      expect(err).toMatch(/^usage: tidemark migrate/)
    }
  })
})
