// The walking skeleton end to end on real parts: HTTP -> JetStream -> ClickHouse -> HTTP.
import fs from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jetstreamManager } from '@nats-io/jetstream'
import { BEACONS_STREAM, decodeBatch, partitionOf, seriesKey, type CreatedTenant } from '../../engine/index.ts'
import { isClientBatch, lastBeaconSeq, tenantSamplesAfter } from '../helpers/beacon-stream.ts'
import { startStack, type Stack } from '../helpers/stack.ts'

const seed = JSON.parse(fs.readFileSync(new URL('../fixtures/seed-test-data.json', import.meta.url), 'utf8'))

let stack: Stack
let acme: CreatedTenant
let globex: CreatedTenant

const jsm = () => jetstreamManager(stack.tidemark.runtime.nc)

beforeAll(async () => {
  stack = await startStack()
  acme = await stack.createTenant('acme')
  globex = await stack.createTenant('globex')
})
afterAll(async () => stack?.stop())

describe('POST /api/v2/analytics/metrics', () => {
  it('accepts the seed valid beacon with 200 once JetStream holds it, and stores both metrics', async () => {
    const before = await lastBeaconSeq(await jsm())
    const res = await stack.request('POST', '/api/v2/analytics/metrics', acme.ingestToken, seed.analytics.valid)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ accepted: 2, beacons: 1 })
    // The answer came after the JetStream ack: the samples are already in the stream.
    expect(await tenantSamplesAfter(await jsm(), acme.id, before)).toBe(2)
    expect(await stack.waitForRows(acme.id, 2)).toBe(2)
    for (const [metric, value] of Object.entries({ page_views: 150, load_time: 420 })) {
      const agg = await stack.request('GET', `/api/v2/analytics/aggregate?metric=${metric}&step=60`, acme.apiKey)
      expect(agg.status).toBe(200)
      expect(agg.body.total).toEqual({ count: 1, sum: value, avg: value, min: value, max: value })
    }
  })

  it('rejects the seed invalid beacon with 400 naming both fields, and publishes nothing', async () => {
    const before = await lastBeaconSeq(await jsm())
    const res = await stack.request('POST', '/api/v2/analytics/metrics', acme.ingestToken, seed.analytics.invalid)
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('TM_INGEST_INVALID_BEACON')
    const fields = res.body.fields.map((f: { field: string }) => f.field).sort()
    expect(fields).toEqual(['load_time', 'page_views'])
    expect(res.body.fields.find((f: { field: string }) => f.field === 'page_views').problem).toMatch(/integer|number/)
    expect(res.body.fields.find((f: { field: string }) => f.field === 'load_time').problem).toMatch(/>= 0/)
    expect(res.body.message).toMatch(/page_views/)
    expect(res.body.message).toMatch(/load_time/)
    expect(await tenantSamplesAfter(await jsm(), acme.id, before)).toBe(0)
  })

  it('rejects a whole batch when one beacon is bad, naming it by index', async () => {
    const before = await lastBeaconSeq(await jsm())
    const res = await stack.request('POST', '/api/v2/analytics/metrics', acme.ingestToken, [
      { page_views: 1 },
      { cpu_usage: 140, ts: 'not a date', tags: { host: 7 } },
      { 'Bad-Name': 3 },
    ])
    expect(res.status).toBe(400)
    const fields = res.body.fields.map((f: { field: string }) => f.field)
    expect(fields).toEqual(expect.arrayContaining(['[1].cpu_usage', '[1].ts', '[1].tags.host', '[2].Bad-Name']))
    expect(fields).not.toContain('[0].page_views')
    expect(await tenantSamplesAfter(await jsm(), acme.id, before)).toBe(0)
  })

  it('checks ranges by kind: percentages 0..100, counts whole, unknown names by suffix', async () => {
    const bad = await stack.request('POST', '/api/v2/analytics/metrics', acme.ingestToken, {
      memory_usage: 101,
      visits: 1.5,
      checkout_time: -3,
      queue_depth: 'x',
    })
    expect(bad.status).toBe(400)
    expect(bad.body.fields.map((f: { field: string }) => f.field).sort()).toEqual(['checkout_time', 'memory_usage', 'queue_depth', 'visits'])
    const good = await stack.request('POST', '/api/v2/analytics/metrics', acme.ingestToken, { memory_usage: 100, visits: 0, checkout_time: 0, queue_depth: -4.5 })
    expect(good.status).toBe(200)
  })

  it('rejects timestamps too far in the future and beacons without a metric', async () => {
    const future = await stack.request('POST', '/api/v2/analytics/metrics', acme.ingestToken, { page_views: 1, ts: Date.now() + 3600_000 })
    expect(future.status).toBe(400)
    expect(future.body.fields[0].field).toBe('ts')
    const empty = await stack.request('POST', '/api/v2/analytics/metrics', acme.ingestToken, { tags: { a: 'b' } })
    expect(empty.status).toBe(400)
    expect(empty.body.message).toMatch(/no metric/)
  })

  it('stores a batch with explicit ts (epoch ms and ISO) and tags', async () => {
    const t0 = Date.UTC(2026, 0, 1, 12, 0, 0)
    const res = await stack.request('POST', '/api/v2/analytics/metrics', globex.ingestToken, [
      { response_time: 100, ts: t0, tags: { region: 'eu' } },
      { response_time: 300, ts: new Date(t0 + 30_000).toISOString(), tags: { region: 'us' } },
      { response_time: 200, ts: t0 + 90_000 },
    ])
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ accepted: 3, beacons: 3 })
    await stack.waitForRows(globex.id, 3)
    const agg = await stack.request('GET', `/api/v2/analytics/aggregate?metric=response_time&from=${t0}&to=${t0 + 120_000}&step=60`, globex.apiKey)
    expect(agg.status).toBe(200)
    expect(agg.body.series.t).toEqual([t0, t0 + 60_000])
    expect(agg.body.series.count).toEqual([2, 1])
    expect(agg.body.series.avg).toEqual([200, 200])
    expect(agg.body.series.max).toEqual([300, 200])
    expect(agg.body.total).toMatchObject({ count: 3, sum: 600, min: 100, max: 300 })
    // Raw rows answer a step no rollup divides, with the same totals.
    const raw = await stack.request('GET', `/api/v2/analytics/aggregate?metric=response_time&from=${new Date(t0).toISOString()}&to=${t0 + 120_000}&step=45`, globex.apiKey)
    expect(raw.body.source).toBe('samples')
    expect(raw.body.total).toMatchObject({ count: 3, sum: 600 })
    const [tags] = await stack.tidemark.runtime.store!.rows<{ tags: Record<string, string> }>(
      `SELECT tags FROM tidemark.samples WHERE tenant = {t:String} AND value = 300`,
      { t: globex.id }
    )
    expect(tags?.tags).toEqual({ region: 'us' })
  })

  it('publishes msgpack batches to tm.beacons.<partition> with a message id', async () => {
    const manager = await jsm()
    const last = await lastBeaconSeq(manager)
    await stack.request('POST', '/api/v2/analytics/metrics', acme.ingestToken, { sessions: 7, tags: { site: 'a' } })
    // The first message after it that holds acme's sample (an anomaly score or a usage batch may land between).
    let stored
    for (let seq = last + 1; !stored && seq <= (await lastBeaconSeq(manager)); seq++) {
      const message = await manager.streams.getMessage(BEACONS_STREAM, { seq })
      if (message && isClientBatch(message) && decodeBatch(message.data).some((s) => s[0] === acme.id)) stored = message
    }
    if (!stored) throw new Error("acme's sample is in no message after the POST")
    const partition = partitionOf(acme.id, seriesKey('sessions', { site: 'a' }), stack.config.partitions)
    expect(stored.subject).toBe(`tm.beacons.${partition}`)
    expect(stored.header?.get('Nats-Msg-Id')).toMatch(/.+-\d+/)
    const [sample] = decodeBatch(stored.data)
    expect(sample?.slice(0, 2)).toEqual([acme.id, 'sessions'])
    expect(sample?.[3]).toBe(7)
    expect(sample?.[4]).toEqual({ site: 'a' })
  })

  it('answers 413 for a body over the limit and 400 for malformed JSON, publishing nothing', async () => {
    const before = await lastBeaconSeq(await jsm())
    const huge = '[' + Array.from({ length: 70_000 }, () => '{"page_views":1}').join(',') + ']'
    const big = await stack.request('POST', '/api/v2/analytics/metrics', acme.ingestToken, huge)
    expect(big.status).toBe(413)
    expect(big.body.code).toBe('TM_HTTP_BODY_TOO_LARGE')
    const broken = await stack.request('POST', '/api/v2/analytics/metrics', acme.ingestToken, '{"page_views": ')
    expect(broken.status).toBe(400)
    expect(broken.body.code).toBe('TM_HTTP_INVALID_JSON')
    expect(await tenantSamplesAfter(await jsm(), acme.id, before)).toBe(0)
  })
})

describe('credentials decide the tenant (from the attacker side)', () => {
  it('refuses a missing or unknown token with 401 before reading the body', async () => {
    for (const token of [undefined, 'tmi_not-a-real-token-at-all', acme.ingestToken + 'x']) {
      const res = await stack.request('POST', '/api/v2/analytics/metrics', token, seed.analytics.invalid)
      expect(res.status).toBe(401)
      expect(res.body.code).toBe('TM_HTTP_UNAUTHORIZED')
    }
  })

  it('an apiKey cannot write and an ingestToken cannot read', async () => {
    const write = await stack.request('POST', '/api/v2/analytics/metrics', acme.apiKey, seed.analytics.valid)
    expect(write.status).toBe(403)
    const read = await stack.request('GET', '/api/v2/analytics/aggregate?metric=page_views', acme.ingestToken)
    expect(read.status).toBe(403)
    const names = await stack.request('GET', '/api/v2/analytics/metric-names', acme.ingestToken)
    expect(names.status).toBe(403)
  })

  it("another tenant's apiKey sees none of acme's data, whatever it asks for", async () => {
    await stack.waitForRows(acme.id, 2)
    const week = `from=${Date.now() - 7 * 86400_000}&step=3600`
    const mine = await stack.request('GET', `/api/v2/analytics/aggregate?metric=page_views&${week}`, acme.apiKey)
    expect(mine.body.total.count).toBeGreaterThan(0)
    for (const query of [`metric=page_views&${week}`, `metric=page_views&tenant=${acme.id}`, `metric=page_views&tenant_id=${acme.id}`]) {
      const theirs = await stack.request('GET', `/api/v2/analytics/aggregate?${query}`, globex.apiKey)
      // globex never sent page_views: 404 (TM_QUERY_METRIC_UNKNOWN), never acme's figures; a tenant parameter is refused.
      if (theirs.status === 200) expect(theirs.body.total.count).toBe(0)
      else expect([400, 404]).toContain(theirs.status)
    }
    const names = await stack.request('GET', '/api/v2/analytics/metric-names', globex.apiKey)
    expect(names.body.metrics.map((m: { name: string }) => m.name)).not.toContain('page_views')
  })

  it('a tenant token cannot create tenants; the admin token can, and names are unique', async () => {
    const denied = await stack.request('POST', '/api/v2/tenants', acme.apiKey, { name: 'evil' })
    expect(denied.status).toBe(401)
    const taken = await stack.request('POST', '/api/v2/tenants', 'test-admin-token-0123456789abcdef', { name: 'acme' })
    expect(taken.status).toBe(409)
    expect(taken.body.code).toBe('TM_ENGINE_TENANT_NAME_TAKEN')
    const bad = await stack.request('POST', '/api/v2/tenants', 'test-admin-token-0123456789abcdef', { name: 'Not Valid!' })
    expect(bad.status).toBe(400)
    expect(bad.body.fields[0].field).toBe('name')
  })
})

describe('GET /api/v2/analytics/aggregate', () => {
  it('returns the columnar shape with aligned, gap-filled arrays', async () => {
    const to = Date.now()
    const res = await stack.request('GET', `/api/v2/analytics/aggregate?metric=page_views&from=${to - 600_000}&to=${to}&step=60`, acme.apiKey)
    expect(res.status).toBe(200)
    expect(Object.keys(res.body)).toEqual(['metric', 'from', 'to', 'step', 'source', 'total', 'series'])
    const { series } = res.body
    expect(series.t.length).toBeGreaterThanOrEqual(10)
    for (const column of ['count', 'sum', 'avg', 'min', 'max']) expect(series[column]).toHaveLength(series.t.length)
    expect(series.t[1] - series.t[0]).toBe(60_000)
    expect(series.avg).toContain(null)
  })

  it('explains a bad range or metric with 400', async () => {
    const reversed = await stack.request('GET', '/api/v2/analytics/aggregate?metric=page_views&from=2000&to=1000', acme.apiKey)
    expect(reversed.status).toBe(400)
    expect(reversed.body.code).toBe('TM_QUERY_INVALID_RANGE')
    const tooMany = await stack.request('GET', '/api/v2/analytics/aggregate?metric=page_views&from=0&step=1', acme.apiKey)
    expect(tooMany.status).toBe(400)
    expect(tooMany.body.code).toBe('TM_QUERY_TOO_MANY_POINTS')
    const injection = await stack.request('GET', "/api/v2/analytics/aggregate?metric=page_views'%20OR%201=1--", acme.apiKey)
    expect(injection.status).toBe(400)
    expect(injection.body.fields[0].field).toBe('metric')
  })
})

describe('GET /api/v2/health', () => {
  it('reports NATS and ClickHouse', async () => {
    const res = await stack.request('GET', '/api/v2/health', undefined)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ status: 'ok', nats: { ok: true }, clickhouse: { ok: true, mode: 'chdb' } })
  })
})
