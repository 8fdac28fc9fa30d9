// POST /api/v2/analytics/cache on real parts: reports land in the cache_stats
// view (read through the SQL console as an analyst would), alone or in a batch,
// in every body format, with the metrics route's errors, durability and
// Idempotency-Key.
import { pack } from 'msgpackr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CreatedTenant } from '../../engine/index.ts'
import { startStack, type Stack } from '../helpers/stack.ts'

let stack: Stack
const T0 = Date.UTC(2026, 2, 1, 12)

beforeAll(async () => {
  stack = await startStack()
})
afterAll(async () => stack?.stop())

async function post(tenant: CreatedTenant, body: unknown, headers: Record<string, string> = {}) {
  const binary = headers['content-type'] === 'application/msgpack'
  const response = await fetch(`${stack.url}/api/v2/analytics/cache`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.ingestToken}`, 'content-type': 'application/json', ...headers },
    body: binary ? new Uint8Array(pack(body)) : JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as any, headers: response.headers }
}

async function cacheStats(tenant: CreatedTenant, where = ''): Promise<unknown[][]> {
  const res = await stack.request('POST', '/api/v2/query', tenant.apiKey, {
    sql: `SELECT timestamp, hits, misses, size_kb, tags['cache'] AS cache, tags['region'] AS region FROM cache_stats ${where} ORDER BY timestamp, cache`,
  })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body.rows
}

describe('POST /api/v2/analytics/cache', () => {
  it('stores one report as one cache_stats row, the name as the cache tag', async () => {
    const t = await stack.createTenant('cache-one')
    const res = await post(t, { hits: 90, misses: 10, size_kb: 2000, name: 'redis', ts: T0, tags: { region: 'eu' } })
    expect(res).toMatchObject({ status: 200, body: { accepted: 3, beacons: 1 } })
    expect(await stack.waitForRows(t.id, 3)).toBe(3)
    expect(await cacheStats(t)).toEqual([[new Date(T0).toISOString(), 90, 10, 2000, 'redis', 'eu']])
  })

  it('stores a batch, in JSON and msgpack, each report its own row; without ts a report is stamped at receipt', async () => {
    const t = await stack.createTenant('cache-batch')
    const batch = Array.from({ length: 50 }, (_, i) => ({ hits: i, misses: 2 * i, size_kb: 100 + i, name: `c${i % 5}`, ts: T0 + i * 1000 }))
    expect((await post(t, batch)).body).toEqual({ accepted: 150, beacons: 50 })
    expect((await post(t, [{ hits: 7, misses: 0, size_kb: 0 }], { 'content-type': 'application/msgpack' })).body).toEqual({ accepted: 3, beacons: 1 })
    expect(await stack.waitForRows(t.id, 153)).toBe(153)
    const rows = await cacheStats(t)
    expect(rows.length).toBe(51)
    expect(rows[3]).toEqual([new Date(T0 + 3000).toISOString(), 3, 6, 103, 'c3', ''])
    const recent = rows.at(-1) as unknown[]
    expect(recent.slice(1, 5)).toEqual([7, 0, 0, ''])
    expect(Date.now() - Date.parse(recent[0] as string)).toBeLessThan(60_000)
  })

  it('refuses a bad report with the fields named, storing nothing of the batch', async () => {
    const t = await stack.createTenant('cache-bad')
    const res = await post(t, [
      { hits: 1, misses: 1, size_kb: 1 },
      { hits: -1, misses: 1.5, size_kb: 1, extra: 3 },
      { hits: 1, size_kb: 1 },
    ])
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('TM_INGEST_INVALID_BEACON')
    const fields = res.body.fields.map((f: { field: string }) => f.field)
    expect(fields).toEqual(expect.arrayContaining(['[1].hits', '[1].misses', '[2].misses']))
    const conflict = await post(t, { hits: 1, misses: 1, size_kb: 1, name: 'redis', tags: { cache: 'memcached' } })
    expect(conflict.body).toMatchObject({ code: 'TM_INGEST_INVALID_BEACON', fields: [{ field: 'tags.cache' }] })
    expect((await post(t, [])).body).toMatchObject({ statusCode: 400, code: 'TM_INGEST_EMPTY_BATCH' })
    // Nothing of it reached storage: a later good report is the only row.
    expect((await post(t, { hits: 5, misses: 5, size_kb: 5, ts: T0 })).status).toBe(200)
    expect(await stack.waitForRows(t.id, 3)).toBe(3)
    expect(await cacheStats(t)).toEqual([[new Date(T0).toISOString(), 5, 5, 5, '', '']])
  })

  it('takes an ingestToken only, and replays an Idempotency-Key', async () => {
    const t = await stack.createTenant('cache-keyed')
    const asReader = await fetch(`${stack.url}/api/v2/analytics/cache`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ hits: 1, misses: 1, size_kb: 1 }),
    })
    expect(asReader.status).toBe(403)
    const report = { hits: 3, misses: 4, size_kb: 5, ts: T0, name: 'edge' }
    expect((await post(t, report, { 'idempotency-key': 'cache-1' })).status).toBe(200)
    const again = await post(t, report, { 'idempotency-key': 'cache-1' })
    expect(again).toMatchObject({ status: 200, body: { accepted: 3, beacons: 1 } })
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(await stack.waitForRows(t.id, 3)).toBe(3)
    expect(await cacheStats(t)).toEqual([[new Date(T0).toISOString(), 3, 4, 5, 'edge', '']])
  })
})
