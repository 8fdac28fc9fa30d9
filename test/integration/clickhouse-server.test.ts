// Tidemark against a ClickHouse server (CLICKHOUSE_URL), not chDB: `tidemark
// migrate up` over HTTP, storage's server insert (JSONCompactEachRow in the
// request body, under a deduplication token, rollup views included), the
// dashboard aggregate from each of its sources, and the SQL console's tenant
// views. Runs only when TIDEMARK_TEST_CLICKHOUSE_URL names a server
// (http://host:8123; TIDEMARK_TEST_CLICKHOUSE_USER and _PASSWORD if it needs
// them): none can be installed on the development machines (no Docker; Debian's
// clickhouse-server is 18.16, far older than Tidemark needs; no npm package
// ships a server). Each run uses a database of its own and drops it.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../engine/index.ts'
import { openClickHouse, type ClickHouseStore } from '../../engine/clickhouse/clickhouse-store.ts'
import { migrateCommand } from '../../engine/clickhouse/migrate-command.ts'
import { MIGRATIONS } from '../../engine/clickhouse/migrations.ts'
import { decodeItem, insertStatement, rowsOf } from '../../engine/storage/storage-insert.ts'
import { encodeBatch, type Sample } from '../../engine/index.ts'
import { aggregate, MAX_ROWS_READ } from '../../query/aggregate-query.ts'
import { runSql } from '../../query/sql/sql-console.ts'
import { resolveRange } from '../../query/time-range.ts'
import { tempDir } from '../helpers/stack.ts'

const URL_ = process.env.TIDEMARK_TEST_CLICKHOUSE_URL
const USER = process.env.TIDEMARK_TEST_CLICKHOUSE_USER ?? 'default'
const PASSWORD = process.env.TIDEMARK_TEST_CLICKHOUSE_PASSWORD ?? ''
const SKIPPED = 'against a ClickHouse server: skipped, TIDEMARK_TEST_CLICKHOUSE_URL is not set (a ClickHouse 24.8 or newer server, e.g. `docker run -p 8123:8123 clickhouse/clickhouse-server:24.8`)'
if (!URL_) console.warn(`clickhouse-server.test.ts: ${SKIPPED}`)

const db = `tidemark_test_${randomBytes(4).toString('hex')}`
const LATEST = Math.max(...MIGRATIONS.map((m) => m.id))
const T0 = Date.UTC(2026, 3, 1, 6)
const HOUR = 3_600_000
const SITES = ['a', 'b', 'c']
const ROWS = 720

let store: ClickHouseStore

function samples(tenant: string, n: number, value: (i: number) => number): Sample[] {
  return Array.from({ length: n }, (_, i): Sample => {
    const ts = T0 + Math.floor((i * 2 * HOUR) / n)
    return [tenant, 'response_time', ts, value(i), { site: SITES[i % 3]! }, ts]
  })
}

describe.skipIf(!URL_)(`against a ClickHouse server (${URL_ ?? 'unset'})`, () => {
  const config = (): ReturnType<typeof loadConfig> =>
    loadConfig({}, { dataDir: tempDir('server'), clickhouseUrl: URL_, clickhouseUser: USER, clickhousePassword: PASSWORD, clickhouseDatabase: db })

  beforeAll(async () => {
    store = await openClickHouse({ url: URL_, username: USER, password: PASSWORD, database: db })
  })
  afterAll(async () => {
    await store?.command(`DROP DATABASE IF EXISTS ${db}`).catch(() => {})
    await store?.close()
  })

  it('is the HTTP store: no local files, no chDB', () => {
    expect(store.mode).toBe('http')
    expect(store.localFilesDir).toBeNull()
  })

  it('migrates up with `tidemark migrate up` and reports the latest version', async () => {
    let out = ''
    let err = ''
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) }
    expect(await migrateCommand(config(), ['up'], io), err).toBe(0)
    expect(out).toContain(`schema version ${LATEST} of ${db}`)
    out = ''
    expect(await migrateCommand(config(), ['status', '--json'], io), err).toBe(0)
    expect(JSON.parse(out).version).toBe(LATEST)
  })

  it("stores with storage's server insert once per token, rollups included", async () => {
    const items = [decodeItem(1, 'tm.beacons.0', encodeBatch(samples('t_acme', ROWS, (i) => 10 + (i % 50))))]
    const statement = insertStatement(db, 'server-test-1', rowsOf(items))
    await store.command(statement)
    await store.command(statement) // a redelivery: the same token, dropped by the table and by its views
    await store.command(insertStatement(db, 'server-test-2', rowsOf([decodeItem(2, 'tm.beacons.0', encodeBatch(samples('t_other', 10, () => 99999)))])))
    for (const [table, measure] of [
      ['samples', 'count()'],
      ['samples_1m', 'sum(count)'],
      ['series_1m', 'sum(count)'],
      ['series_1h', 'sum(count)'],
    ]) {
      const [row] = await store.rows<{ n: string }>(`SELECT toString(${measure}) AS n FROM ${db}.${table} WHERE tenant = {t:String}`, { t: 't_acme' })
      expect(row?.n, table).toBe(String(ROWS))
    }
  })

  it('answers the aggregate from the rollups per metric, per series and raw rows alike, one tenant only', async () => {
    const range = resolveRange({ from: String(T0), to: String(T0 + 2 * HOUR), step: 60 })
    const metric = await aggregate(store, 't_acme', 'response_time', range)
    const series = await aggregate(store, 't_acme', 'response_time', range, MAX_ROWS_READ, { filters: [{ name: 'site', values: SITES }] })
    const raw = await aggregate(store, 't_acme', 'response_time', range, MAX_ROWS_READ, { raw: true })
    expect([metric.source, series.source, raw.source]).toEqual(['samples_1m', 'series_1m', 'samples'])
    expect(metric.total).toMatchObject({ count: ROWS, min: 10, max: 59 })
    for (const key of ['count', 'min', 'max'] as const) {
      expect(metric.series[key]).toEqual(raw.series[key])
      expect(series.series[key]).toEqual(raw.series[key])
    }
    const hourly = await aggregate(store, 't_acme', 'response_time', resolveRange({ from: String(T0), to: String(T0 + 2 * HOUR), step: 3600 }), MAX_ROWS_READ, { stats: ['quantiles'] })
    expect(hourly.source).toBe('series_1h')
    expect(hourly.series.p50?.every((v) => v !== null && v >= 10 && v <= 59)).toBe(true)
  })

  it("reads the SQL console's tenant views (parameterized views) for the credential's tenant only", async () => {
    const answer = await runSql(store, 't_acme', 'SELECT count() AS n, max(value) AS top FROM samples')
    expect(answer.rows).toEqual([[String(ROWS), 59]]) // UInt64 as text: exact past 2^53 (query/sql/result-shapes.ts)
  })
})

describe.skipIf(!!URL_)('against a ClickHouse server', () => {
  it.skip(SKIPPED, () => {})
})
