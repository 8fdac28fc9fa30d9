// The reporting routes on real parts (nats-server, chDB, Tidemark on a port):
// beacons posted through ingest, read back filtered by tag, grouped by a tag,
// per site, as performance and cache figures, and trigger history; CSV on
// Accept: text/csv; a metric never sent is a 404 naming it; one tenant never
// sees another's figures.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { insertHits, insertTriggerEvents, toTriggerEvent, type CreatedTenant } from '../../engine/index.ts'
import { MAX_GROUPS } from '../../query/bucket-query.ts'
import { startStack, type Stack } from '../helpers/stack.ts'
import { pageviewHit } from '../helpers/tracker-hits.ts'

let stack: Stack
let acme: CreatedTenant
let globex: CreatedTenant
const HOUR = 3600_000
/** Three whole hours ago: every beacon lies in closed hours, so the hourly rollup and raw rows hold the same. */
const t0 = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR
const range = `from=${t0}&to=${t0 + 2 * HOUR}`
let posted = 0

async function post(tenant: CreatedTenant, beacons: object[]): Promise<void> {
  const res = await stack.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, beacons)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
}

const get = (route: string, tenant: CreatedTenant = acme) => stack.request('GET', route, tenant.apiKey)

beforeAll(async () => {
  stack = await startStack()
  acme = await stack.createTenant('acme')
  globex = await stack.createTenant('globex')
  // Tracker-like beacons: site a sees visitors v1, v2; site b sees v1 (again) and v3; one beacon has no site.
  const views = [
    { site: 'a', visitor: 'v1', page_views: 3, visits: 1, at: 0 },
    { site: 'a', visitor: 'v2', page_views: 2, visits: 1, at: 10 },
    { site: 'b', visitor: 'v1', page_views: 5, visits: 1, at: 70 },
    { site: 'b', visitor: 'v3', page_views: 1, visits: 1, at: 80 },
  ]
  await post(
    acme,
    views.map((v) => ({ page_views: v.page_views, visits: v.visits, ts: t0 + v.at * 60_000, tags: { site: v.site, visitor: v.visitor, env: 'prod' } }))
  )
  await post(acme, [{ page_views: 7, ts: t0 + 20 * 60_000, tags: { env: 'dev' } }])
  // Performance: response_time 1..100 in the first hour, 1000 once in the second; db_query_time 10s; memory_usage 50.
  await post(
    acme,
    Array.from({ length: 100 }, (_, i) => ({ response_time: i + 1, db_query_time: 10, memory_usage: 50, ts: t0 + i * 30_000 }))
  )
  await post(acme, [{ response_time: 1000, ts: t0 + HOUR + 60_000 }])
  // Cache: 30 hits and 10 misses in the first hour, 5 and 5 in the second; sizes in kB.
  await post(acme, [
    { cache_hits: 30, cache_misses: 10, cache_size_kb: 512, ts: t0 + 60_000 },
    { cache_hits: 5, cache_misses: 5, cache_size_kb: 640, ts: t0 + HOUR + 60_000 },
  ])
  // globex: the same site name and a metric acme never sent.
  await post(globex, [{ page_views: 1000, visits: 1, ts: t0, tags: { site: 'a', visitor: 'g1' } }, { checkout_time: 5, ts: t0 }])
  posted = 4 * 2 + 1 + 100 * 3 + 1 + 2 * 3
  expect(await stack.waitForRows(acme.id, posted, 20_000)).toBe(posted)
  expect(await stack.waitForRows(globex.id, 3, 20_000)).toBe(3)
}, 60_000)
afterAll(async () => stack?.stop())

describe('GET /api/v2/analytics/aggregate: tag filters and groupBy', () => {
  it('filters by tag=name:value (the same name twice is either value), on rollups and raw rows alike', async () => {
    for (const step of [3600, 60, 45]) {
      const a = await get(`/api/v2/analytics/aggregate?metric=page_views&${range}&step=${step}&tag=site:a`)
      expect(a.status).toBe(200)
      expect(a.body.total).toMatchObject({ count: 2, sum: 5 })
      expect(a.body.filters).toEqual({ site: ['a'] })
      const both = await get(`/api/v2/analytics/aggregate?metric=page_views&${range}&step=${step}&tag=site:a&tag=site:b&tag=env:prod`)
      expect(both.body.total).toMatchObject({ count: 4, sum: 11 })
      const untagged = await get(`/api/v2/analytics/aggregate?metric=page_views&${range}&step=${step}&tag=site:`)
      expect(untagged.body.total).toMatchObject({ count: 1, sum: 7 })
    }
    // The visitor tag is not kept in the rollups' series: filtering on it reads raw rows, and still answers.
    const v1 = await get(`/api/v2/analytics/aggregate?metric=page_views&${range}&step=3600&tag=visitor:v1`)
    expect(v1.body).toMatchObject({ source: 'samples', total: { count: 2, sum: 8 } })
  })

  it('refuses a bad tag filter or group name with a 400 that names it, and binds values (no injection)', async () => {
    const bad = await get(`/api/v2/analytics/aggregate?metric=page_views&${range}&tag=${encodeURIComponent("si'te:a")}`)
    expect(bad.status).toBe(400)
    expect(bad.body.message).toMatch(/tag=name:value/)
    const noColon = await get(`/api/v2/analytics/aggregate?metric=page_views&${range}&tag=site`)
    expect(noColon.status).toBe(400)
    const group = await get(`/api/v2/analytics/aggregate?metric=page_views&${range}&groupBy=${encodeURIComponent('x]') }`)
    expect(group.status).toBe(400)
    expect(group.body.fields[0].field).toBe('groupBy')
    const hostile = await get(`/api/v2/analytics/aggregate?metric=page_views&${range}&tag=${encodeURIComponent("site:a' OR 1=1 --")}`)
    expect(hostile.status).toBe(200)
    expect(hostile.body.total.count).toBe(0)
  })

  it('groupBy=site answers a series per value (untagged as ""), with totals that match the overall ones', async () => {
    for (const step of [3600, 60]) {
      const res = await get(`/api/v2/analytics/aggregate?metric=page_views&${range}&step=${step}&groupBy=site&stats=quantiles,visitors`)
      expect(res.status).toBe(200)
      expect(res.body.groupBy).toBe('site')
      expect(res.body.total).toMatchObject({ count: 5, sum: 18, visitors: 3 })
      const groups = Object.fromEntries(res.body.groups.map((g: any) => [g.value, g]))
      expect(Object.keys(groups).sort()).toEqual(['', 'a', 'b'])
      expect(groups.a.total).toMatchObject({ count: 2, sum: 5, min: 2, max: 3, visitors: 2 })
      expect(groups.b.total).toMatchObject({ count: 2, sum: 6, visitors: 2 })
      expect(groups[''].total).toMatchObject({ count: 1, sum: 7, visitors: 0 })
      for (const g of res.body.groups) {
        expect(g.series.t).toEqual(res.body.series.t)
        expect(g.series.count.reduce((x: number, y: number) => x + y, 0)).toBe(g.total.count)
      }
    }
  })

  it('refuses a groupBy past the group cap with a clear 400', async () => {
    await post(
      acme,
      Array.from({ length: MAX_GROUPS + 1 }, (_, i) => ({ queue_depth: i, ts: t0 + 1000, tags: { request: `r${i}` } }))
    )
    posted += MAX_GROUPS + 1
    await stack.waitForRows(acme.id, posted, 20_000)
    const res = await get(`/api/v2/analytics/aggregate?metric=queue_depth&${range}&step=3600&groupBy=request`)
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('TM_QUERY_TOO_MANY_GROUPS')
    expect(res.body.message).toMatch(/groupBy=request .*100 groups/)
    const capped = await get(`/api/v2/analytics/aggregate?metric=queue_depth&${range}&step=3600&groupBy=request&tag=request:r1&tag=request:r2`)
    expect(capped.status).toBe(200)
    expect(capped.body.groups.map((g: any) => g.value).sort()).toEqual(['r1', 'r2'])
  })
})

describe('what the reporting routes refuse or bound', () => {
  it('answers a metric the tenant never sent with a 404 naming it, another tenant\'s included', async () => {
    const typo = await get(`/api/v2/analytics/aggregate?metric=page_veiws&${range}`)
    expect(typo.status).toBe(404)
    expect(typo.body.code).toBe('TM_QUERY_METRIC_UNKNOWN')
    expect(typo.body.message).toContain('page_veiws')
    // checkout_time is globex's: acme's apiKey gets the same 404 as for a name nobody sent.
    const theirs = await get(`/api/v2/analytics/aggregate?metric=checkout_time&${range}`)
    expect(theirs.status).toBe(404)
    expect(theirs.body.message).toContain('checkout_time')
    const ok = await get(`/api/v2/analytics/aggregate?metric=checkout_time&${range}`, globex)
    expect(ok.body.total.count).toBe(1)
  })

  it('ends a range reaching into the future at now, and bounds the range and the points', async () => {
    const now = Date.now()
    const res = await get(`/api/v2/analytics/aggregate?metric=page_views&from=${now - HOUR}&to=${now + 30 * 86_400_000}&step=60`)
    expect(res.status).toBe(200)
    expect(res.body.to).toBeLessThanOrEqual(Math.ceil(Date.now() / 60_000) * 60_000)
    expect(res.body.series.t).toHaveLength((res.body.to - res.body.from) / 60_000)
    const future = await get(`/api/v2/analytics/aggregate?metric=page_views&from=${now + 86_400_000}&to=${now + 2 * 86_400_000}`)
    expect(future.status).toBe(400)
    expect(future.body.message).toMatch(/from lies in the future/)
    const long = await get(`/api/v2/analytics/aggregate?metric=page_views&from=${now - 500 * 86_400_000}&step=86400`)
    expect(long.status).toBe(400)
    expect(long.body.code).toBe('TM_QUERY_INVALID_RANGE')
    expect(long.body.message).toMatch(/at most 400/)
    const points = await get(`/api/v2/analytics/aggregate?metric=page_views&from=${now - 30 * 86_400_000}&step=60`)
    expect(points.body.code).toBe('TM_QUERY_TOO_MANY_POINTS')
  })

  it('answers CSV on Accept: text/csv, one bucket a line, grouped answers as long tables', async () => {
    const res = await fetch(`${stack.url}/api/v2/analytics/aggregate?metric=page_views&${range}&step=3600&groupBy=site`, {
      headers: { authorization: `Bearer ${acme.apiKey}`, accept: 'text/csv' },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/)
    const lines = (await res.text()).trimEnd().split('\r\n')
    expect(lines[0]).toBe('site,time,count,sum,avg,min,max')
    expect(lines).toContain(`a,${new Date(t0).toISOString()},2,5,2.5,2,3`)
    expect(lines).toContain(`b,${new Date(t0 + HOUR).toISOString()},2,6,3,1,5`)
    expect(lines).toHaveLength(1 + 3 * 2)
    for (const route of [`/api/v2/analytics/performance?${range}&step=3600`, `/api/v2/analytics/cache?${range}&step=3600`, `/api/v2/analytics/sites-summary?${range}&step=3600`, '/api/v2/triggers']) {
      const csv = await fetch(stack.url + route, { headers: { authorization: `Bearer ${acme.apiKey}`, accept: 'text/csv' } })
      expect(csv.status, route).toBe(200)
      expect(csv.headers.get('content-type'), route).toMatch(/^text\/csv/)
      expect((await csv.text()).split('\r\n')[0], route).toMatch(/time|at,id/)
    }
  })
})

describe('GET /api/v2/analytics/sites-summary', () => {
  it("counts the tracker's page views, visits and unique visitors per site and in total, a visitor of two sites once", async () => {
    const [a, b] = ['s_00000000000a', 's_00000000000b']
    const at = (minutes: number) => t0 + minutes * 60_000
    await insertHits(stack.tidemark.runtime.store!, [
      // Site a: v1 twice in one visit, v2 once. Site b: v1 again, v3 twice 35 minutes apart (two visits).
      pageviewHit(acme.id, a, 'v1', at(0)),
      pageviewHit(acme.id, a, 'v1', at(5)),
      pageviewHit(acme.id, a, 'v2', at(10)),
      pageviewHit(acme.id, b, 'v1', at(70)),
      pageviewHit(acme.id, b, 'v3', at(80)),
      pageviewHit(acme.id, b, 'v3', at(115)),
      pageviewHit(globex.id, a, 'g1', at(0)),
    ])
    for (const step of [3600, 600]) {
      const res = await get(`/api/v2/analytics/sites-summary?${range}&step=${step}`)
      expect(res.status).toBe(200)
      // Visitors v1, v2, v3: v1 saw both sites and counts once in the total.
      expect(res.body.total).toEqual({ page_views: 6, visits: 5, visitors: 3 })
      const sites = Object.fromEntries(res.body.sites.map((s: any) => [s.site, s.total]))
      expect(sites).toEqual({ [a]: { page_views: 3, visits: 2, visitors: 2 }, [b]: { page_views: 3, visits: 3, visitors: 2 } })
      expect(res.body.series.page_views.reduce((x: number, y: number) => x + y, 0)).toBe(6)
      expect(res.body.series.visits.reduce((x: number, y: number) => x + y, 0)).toBe(5)
    }
    const theirs = await get(`/api/v2/analytics/sites-summary?${range}&step=3600`, globex)
    expect(theirs.body.total).toEqual({ page_views: 1, visits: 1, visitors: 1 })
  })
})

describe('GET /api/v2/analytics/performance', () => {
  it('answers avg, p50, p95, p99 per step for the three metrics, aligned', async () => {
    for (const step of [3600, 60]) {
      const res = await get(`/api/v2/analytics/performance?${range}&step=${step}`)
      expect(res.status).toBe(200)
      expect(res.body.metrics).toEqual(['response_time', 'db_query_time', 'memory_usage'])
      const rt = res.body.total.response_time
      expect(rt.count).toBe(101)
      expect(rt.avg).toBeCloseTo((5050 + 1000) / 101, 6)
      // DDSketch: within 1 % of the value at that rank.
      expect(rt.p50).toBeGreaterThan(50 * 0.99)
      expect(rt.p50).toBeLessThan(51 * 1.01)
      expect(rt.p99).toBeGreaterThan(99 * 0.99)
      expect(res.body.total.memory_usage).toMatchObject({ count: 100, avg: 50 })
      expect(res.body.series.response_time_p95).toHaveLength(res.body.series.t.length)
      expect(res.body.series.db_query_time_avg.filter((v: number | null) => v !== null).every((v: number) => v === 10)).toBe(true)
    }
    const hourly = await get(`/api/v2/analytics/performance?${range}&step=3600`)
    expect(hourly.body.source).toBe('series_1h')
    expect(hourly.body.series.response_time_avg).toEqual([50.5, 1000])
    expect(hourly.body.series.memory_usage_avg).toEqual([50, null])
    const theirs = await get(`/api/v2/analytics/performance?${range}`, globex)
    expect(theirs.status).toBe(404)
    expect(theirs.body.message).toMatch(/response_time, db_query_time, memory_usage/)
  })
})

describe('GET /api/v2/analytics/cache', () => {
  it('answers hits, misses, hit ratio and size per step', async () => {
    const res = await get(`/api/v2/analytics/cache?${range}&step=3600`)
    expect(res.status).toBe(200)
    expect(res.body.series).toEqual({ t: [t0, t0 + HOUR], hits: [30, 5], misses: [10, 5], hitRatio: [0.75, 0.5], sizeKb: [512, 640] })
    expect(res.body.total).toEqual({ hits: 35, misses: 15, hitRatio: 0.7, sizeKb: 640 })
    const theirs = await get(`/api/v2/analytics/cache?${range}`, globex)
    expect(theirs.status).toBe(404)
  })
})

describe('GET /api/v2/triggers', () => {
  it('answers the tenant\'s trigger history newest first, filtered by rule, state and time, limited', async () => {
    const event = (tenant: string, alert: string, state: 'pending' | 'firing' | 'resolved', at: number) =>
      toTriggerEvent(tenant, {
        group: 'g',
        alert,
        labels: { alertname: alert },
        annotations: {},
        state,
        change: 'alert',
        value: state === 'firing' ? Infinity : 85,
        activeAt: t0,
        at,
        step: state === 'firing' ? 1 : 0,
        previousStep: 0,
        action: state === 'firing' ? 'enable_read_replicas' : null,
        ladder: ['enable_read_replicas'],
      } as any)
    // A tenant of its own: acme's response_time of 1000 above makes the engine fire the default rule for real.
    const initech = await stack.createTenant('initech')
    const store = stack.tidemark.runtime.store!
    await insertTriggerEvents(store, [
      event(initech.id, 'HighCpu', 'pending', t0),
      event(initech.id, 'HighCpu', 'firing', t0 + 300_000),
      event(initech.id, 'HighCpu', 'resolved', t0 + 900_000),
      event(initech.id, 'SlowResponses', 'pending', t0 + 60_000),
      event(globex.id, 'HighCpu', 'firing', t0 + 400_000),
    ])
    const all = await get(`/api/v2/triggers?from=${t0}`, initech)
    expect(all.status).toBe(200)
    expect(all.body.events.map((e: any) => [e.rule, e.state])).toEqual([
      ['HighCpu', 'resolved'],
      ['HighCpu', 'firing'],
      ['SlowResponses', 'pending'],
      ['HighCpu', 'pending'],
    ])
    expect(all.body.truncated).toBe(false)
    expect(all.body.events[1]).toMatchObject({ value: '+Inf', action: 'enable_read_replicas', step: 1, at: t0 + 300_000 })
    const firing = await get(`/api/v2/triggers?from=${t0}&rule=HighCpu&state=firing,resolved`, initech)
    expect(firing.body.events.map((e: any) => e.state)).toEqual(['resolved', 'firing'])
    const limited = await get(`/api/v2/triggers?from=${t0}&limit=2`, initech)
    expect(limited.body).toMatchObject({ truncated: true })
    expect(limited.body.events).toHaveLength(2)
    const window = await get(`/api/v2/triggers?from=${t0 + 100_000}&to=${t0 + 600_000}`, initech)
    expect(window.body.events.map((e: any) => e.state)).toEqual(['firing'])
    const theirs = await get(`/api/v2/triggers?from=${t0}`, globex)
    expect(theirs.body.events).toHaveLength(1)
    const bad = await get('/api/v2/triggers?state=exploded')
    expect(bad.status).toBe(400)
    expect(bad.body.fields[0].field).toBe('state')
  })
})
