// The specification's tables (analytics_metrics, cache_stats, performance_metrics,
// tenant_analytics) with the columns it gives, fed through the real ingest path and
// read through the SQL console: the seed test data lands where the specification
// says, each tenant sees only its own rows, and tenant leads every sort key.
import fs from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CreatedTenant } from '../../engine/index.ts'
import { startStack, type Stack } from '../helpers/stack.ts'

const seed = JSON.parse(fs.readFileSync(new URL('../fixtures/seed-test-data.json', import.meta.url), 'utf8'))

let stack: Stack
let acme: CreatedTenant
let other: CreatedTenant
const T0 = Date.UTC(2026, 2, 1, 12)

async function sql(statement: string, tenant: CreatedTenant = acme): Promise<{ columns: Array<{ name: string }>; rows: unknown[][] }> {
  const res = await stack.request('POST', '/api/v2/query', tenant.apiKey, { sql: statement })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body
}

const names = (answer: { columns: Array<{ name: string }> }): string[] => answer.columns.map((c) => c.name)

beforeAll(async () => {
  stack = await startStack()
  acme = await stack.createTenant('acme')
  other = await stack.createTenant('other')
  const post = async (tenant: CreatedTenant, body: unknown): Promise<number> => (await stack.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, body)).status

  // The seed's analytics beacons: the valid one is stored as its two metrics, the invalid one changes nothing.
  expect(await post(acme, { ...seed.analytics.valid, ts: T0 })).toBe(200)
  expect(await post(acme, seed.analytics.invalid)).toBe(400)
  // The seed's scaling data as a reporter sends it: CPU every 10 s over the duration, one host at each level.
  for (const [host, { duration, value }] of Object.entries(seed.scaling as Record<string, { duration: number; value: number }>)) {
    const beacons = Array.from({ length: duration / 10 + 1 }, (_, i) => ({ cpu_usage: value, ts: T0 + i * 10_000, tags: { host } }))
    expect(await post(acme, beacons)).toBe(200)
  }
  expect(await post(acme, { cache_hits: 90, cache_misses: 10, cache_size_bytes: 2_048_000, ts: T0, tags: { cache: 'redis' } })).toBe(200)
  expect(await post(acme, { response_time: 420, db_query_time: 35, memory_usage: 61.5, ts: T0, tags: { host: 'web-1' } })).toBe(200)
  expect(await post(other, { page_views: 9999, cache_hits: 9999, response_time: 9999, ts: T0 })).toBe(200)
  expect(await stack.waitForRows(acme.id, 2 + 31 * 2 + 3 + 3)).toBe(2 + 31 * 2 + 3 + 3)
  expect(await stack.waitForRows(other.id, 3)).toBe(3)
}, 60_000)
afterAll(async () => stack?.stop())

describe("the specification's tables", () => {
  it('analytics_metrics (timestamp, metric_name, value, tenant_id) holds the seed beacon as its metrics', async () => {
    const answer = await sql(`SELECT timestamp, metric_name, value, tenant_id FROM analytics_metrics WHERE metric_name IN ('page_views', 'load_time') ORDER BY metric_name`)
    expect(names(answer)).toEqual(['timestamp', 'metric_name', 'value', 'tenant_id'])
    const iso = new Date(T0).toISOString()
    expect(answer.rows).toEqual([
      [iso, 'load_time', 420, acme.id],
      [iso, 'page_views', 150, acme.id],
    ])
  })

  it('answers the seed scaling case: CPU 85 for 300 s fires the 80 % rule, CPU 70 for 300 s does not', async () => {
    const answer = await sql(`
      SELECT tags['host'] AS host, count() AS samples,
             min(value) > 80 AND dateDiff('second', min(timestamp), max(timestamp)) >= 300 AS fires
      FROM analytics_metrics WHERE metric_name = 'cpu_usage' GROUP BY host ORDER BY host`)
    expect(answer.rows).toEqual([
      ['high_cpu', 31, 1],
      ['normal', 31, 0],
    ])
  })

  it('cache_stats (timestamp, hits, misses, size_kb) holds one row per cache report', async () => {
    const answer = await sql(`SELECT timestamp, hits, misses, size_kb, tags['cache'] AS cache FROM cache_stats`)
    expect(answer.rows).toEqual([[new Date(T0).toISOString(), 90, 10, 2000, 'redis']])
  })

  it('performance_metrics (timestamp, response_time, db_query_time, memory_usage) holds one row per report', async () => {
    const answer = await sql(`SELECT timestamp, response_time, db_query_time, memory_usage FROM performance_metrics`)
    expect(names(answer)).toEqual(['timestamp', 'response_time', 'db_query_time', 'memory_usage'])
    expect(answer.rows).toEqual([[new Date(T0).toISOString(), 420, 35, 61.5]])
  })

  it('tenant_analytics (metric_name, metric_value as JSON, created_at) summarises each metric per hour', async () => {
    const answer = await sql(`SELECT metric_name, metric_value, created_at FROM tenant_analytics WHERE metric_name IN ('page_views', 'cpu_usage') ORDER BY metric_name`)
    expect(names(answer)).toEqual(['metric_name', 'metric_value', 'created_at'])
    const [cpu, views] = answer.rows as [[string, string, string], [string, string, string]]
    expect(JSON.parse(cpu[1])).toEqual({ count: 62, sum: 31 * 85 + 31 * 70, min: 70, max: 85, avg: (85 + 70) / 2 })
    expect(JSON.parse(views[1])).toEqual({ count: 1, sum: 150, min: 150, max: 150, avg: 150 })
    expect(views[2]).toBe('2026-03-01T12:00:00Z')
  })

  it("shows each tenant only its own rows, in every table", async () => {
    for (const table of ['analytics_metrics', 'cache_stats', 'performance_metrics', 'tenant_analytics']) {
      const mine = await sql(`SELECT * FROM ${table}`, other)
      const text = JSON.stringify(mine.rows)
      expect(mine.rows.length, table).toBeGreaterThan(0)
      for (const theirs of ['150', '420', 'redis', 'high_cpu', acme.id]) expect(text, `${table} shows ${theirs}`).not.toContain(theirs)
    }
  })

  it('leads every sort key with the tenant, and filters every view by it', async () => {
    const store = stack.tidemark.runtime.store!
    const tables = await store.rows<{ name: string; sorting_key: string; engine: string; create_table_query: string }>(
      `SELECT name, sorting_key, engine, create_table_query FROM system.tables WHERE database = {db:String} AND name != 'schema_migrations'`,
      { db: store.database }
    )
    const merges = tables.filter((t) => t.engine.endsWith('MergeTree'))
    expect(merges.map((t) => t.name).sort()).toEqual(['events', 'pageviews', 'retention_policies', 'samples', 'samples_1h', 'samples_1m', 'series_1h', 'series_1m', 'trigger_events'])
    for (const t of merges) expect(t.sorting_key, t.name).toMatch(/^tenant(,|$)/)
    const views = tables.filter((t) => t.name.endsWith('_for_tenant'))
    expect(views).toHaveLength(11)
    for (const v of views) expect(v.create_table_query, v.name).toMatch(/WHERE \(?tenant = \{tenant:String\}/)
  })
})
