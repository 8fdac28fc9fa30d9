// Retention per tenant on real parts: old rows go in through ingest, a tenant
// sets a policy over HTTP, ClickHouse is made to merge, and only that tenant's
// expired rows are gone, raw and rolled up alike; every other row stays.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ANOMALY_METRIC, applyMigrations, insertHits, type CreatedTenant } from '../../engine/index.ts'
import { startStack, type Stack } from '../helpers/stack.ts'
import { pageviewHit } from '../helpers/tracker-hits.ts'

let stack: Stack
let acme: CreatedTenant
let other: CreatedTenant

const DAY = 86_400_000
/** Whole hours, so each sample starts its own bucket in every rollup. */
const now = Math.floor(Date.now() / 3_600_000) * 3_600_000
const AGES = [400, 120, 40, 10, 1] as const

beforeAll(async () => {
  stack = await startStack()
  acme = await stack.createTenant('acme')
  other = await stack.createTenant('other')
  for (const tenant of [acme, other]) {
    const beacons = AGES.map((age) => ({ page_views: age, ts: now - age * DAY }))
    expect((await stack.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, beacons)).status).toBe(200)
    expect(await stack.waitForRows(tenant.id, AGES.length)).toBe(AGES.length)
    // The tracker's pageviews age with the raw samples.
    await insertHits(stack.tidemark.runtime.store!, AGES.map((age) => pageviewHit(tenant.id, 's_00000000000a', 'v', now - age * DAY)))
  }
}, 60_000)
afterAll(async () => stack?.stop())

/** The ages (days) of a tenant's rows left in a table, after ClickHouse merged every part. */
async function agesIn(table: string, tenant: CreatedTenant): Promise<number[]> {
  const store = stack.tidemark.runtime.store!
  const time = table === 'samples' || table === 'pageviews' ? 'toUnixTimestamp64Milli(ts)' : 'toInt64(toUnixTimestamp(t)) * 1000'
  const rows = await store.rows<{ at: number | string }>(`SELECT ${time} AS at FROM ${store.database}.${table} WHERE tenant = {t:String}${table === 'pageviews' ? '' : ` AND metric != '${ANOMALY_METRIC}'`} ORDER BY at`, { t: tenant.id })
  return rows.map((r) => Math.round((now - Number(r.at)) / DAY)).sort((a, b) => b - a)
}

async function mergeAll(): Promise<void> {
  const store = stack.tidemark.runtime.store!
  for (const table of ['samples', 'series_1m', 'series_1h', 'samples_1m', 'samples_1h', 'pageviews']) await store.command(`OPTIMIZE TABLE ${store.database}.${table} FINAL`)
}

describe('retention', () => {
  it('keeps everything until a tenant sets a policy', async () => {
    const res = await stack.request('GET', '/api/v2/retention', acme.apiKey)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ rawDays: null, rollup1mDays: null, rollup1hDays: null })
    await mergeAll()
    expect(await agesIn('samples', acme)).toEqual([...AGES])
  })

  it("deletes only the tenant's expired rows, per table, when ClickHouse merges", async () => {
    const policy = { rawDays: 30, rollup1mDays: 90, rollup1hDays: 365 }
    const put = await stack.request('PUT', '/api/v2/retention', acme.apiKey, policy)
    expect(put.status, JSON.stringify(put.body)).toBe(200)
    expect((await stack.request('GET', '/api/v2/retention', acme.apiKey)).body).toEqual(policy)
    await mergeAll()
    expect(await agesIn('samples', acme)).toEqual([10, 1])
    expect(await agesIn('pageviews', acme)).toEqual([10, 1])
    expect(await agesIn('series_1m', acme)).toEqual([40, 10, 1])
    expect(await agesIn('samples_1m', acme)).toEqual([40, 10, 1])
    expect(await agesIn('series_1h', acme)).toEqual([120, 40, 10, 1])
    expect(await agesIn('samples_1h', acme)).toEqual([120, 40, 10, 1])
    for (const table of ['samples', 'series_1m', 'series_1h', 'pageviews']) expect(await agesIn(table, other), table).toEqual([...AGES])
  })

  it('answers aggregates from what remains', async () => {
    const res = await stack.request('GET', `/api/v2/analytics/aggregate?metric=page_views&from=${now - 399 * DAY}&to=${now + 3_600_000}&step=86400`, acme.apiKey)
    expect(res.status).toBe(200)
    expect(res.body.total.count).toBe(4)
  })

  it('keeps a policy per tenant: a second one adds its own rule, and null lifts one', async () => {
    expect((await stack.request('PUT', '/api/v2/retention', other.apiKey, { rawDays: 100, rollup1mDays: null, rollup1hDays: null })).status).toBe(200)
    await mergeAll()
    expect(await agesIn('samples', other)).toEqual([40, 10, 1])
    expect(await agesIn('series_1m', other)).toEqual([...AGES])
    expect(await agesIn('samples', acme)).toEqual([10, 1])
    const store = stack.tidemark.runtime.store!
    const [ttl] = await store.rows<{ q: string }>(`SELECT create_table_query AS q FROM system.tables WHERE database = {db:String} AND name = 'samples'`, { db: store.database })
    expect(ttl?.q).toContain(`WHERE tenant = '${acme.id}'`)
    expect(ttl?.q).toContain(`WHERE tenant = '${other.id}'`)
  })

  it('survives a restart: applying the migrations writes the policies back into the TTLs', async () => {
    const store = stack.tidemark.runtime.store!
    await applyMigrations(store)
    const [ttl] = await store.rows<{ q: string }>(`SELECT create_table_query AS q FROM system.tables WHERE database = {db:String} AND name = 'samples'`, { db: store.database })
    expect(ttl?.q).toContain(`toIntervalDay(30) WHERE tenant = '${acme.id}'`)
    expect(ttl?.q).toContain(`toIntervalDay(100) WHERE tenant = '${other.id}'`)
  })

  it('refuses a bad policy naming the field, and any credential but the apiKey', async () => {
    for (const body of [{ rawDays: 0, rollup1mDays: null, rollup1hDays: null }, { rawDays: 'forever', rollup1mDays: null, rollup1hDays: null }, { rawDays: 1.5, rollup1mDays: null, rollup1hDays: null }, { rawDays: 30 }]) {
      const res = await stack.request('PUT', '/api/v2/retention', acme.apiKey, body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.body.code).toBe('TM_HTTP_INVALID_REQUEST')
      expect(res.body.fields.length).toBeGreaterThan(0)
    }
    expect((await stack.request('PUT', '/api/v2/retention', acme.ingestToken, { rawDays: 1, rollup1mDays: 1, rollup1hDays: 1 })).status).toBe(403)
    expect((await stack.request('GET', '/api/v2/retention', undefined)).status).toBe(401)
    expect((await stack.request('GET', '/api/v2/retention', acme.apiKey)).body.rawDays).toBe(30)
  })
})
