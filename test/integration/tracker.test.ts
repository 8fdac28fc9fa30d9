// The browser tracker on real parts, each tier as its own least-privileged NATS
// user (a permission violation in the server log fails the test): sites made
// with the tenant's apiKey, beacons accepted only from a site's own domains
// and stored as that site's pageviews and events, the bad-input battery (each
// a clear 4xx that stores nothing), a deleted site's beacons refused within a
// second, cookieless visitors from one shared daily salt, and the sites
// summary's pageviews, visits and unique visitors.
import { execFile } from 'node:child_process'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jetstreamManager } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import {
  HITS_STREAM,
  insertHits,
  SupervisedNatsServer,
  TRACKER_SALTS_BUCKET,
  VisitorSalts,
  visitorId,
  type CreatedTenant,
  type Hit,
} from '../../engine/index.ts'
import { ADMIN_TOKEN, connectAs, natsEnv, startStack, tempDir, type Stack } from '../helpers/stack.ts'
import { TIDEMARK_BIN } from '../helpers/tidemark-process.ts'
import { pageviewHit } from '../helpers/tracker-hits.ts'

const serverLog: string[] = []
let nats: SupervisedNatsServer
let ingest: Stack
let engine: Stack
let query: Stack
let acme: CreatedTenant
let globex: CreatedTenant
let shop: { id: string }
let blog: { id: string }

beforeAll(async () => {
  nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir: tempDir('nats-tracker'), onLog: (line) => serverLog.push(line) })
  // The engine first: it creates the streams and buckets the others check.
  engine = await startStack({}, { nats, natsUser: 'engine', roles: ['engine'] })
  ;[ingest, query] = await Promise.all([
    startStack({}, { nats, natsUser: 'ingest', roles: ['ingest'] }),
    startStack({}, { nats, natsUser: 'query', roles: ['query'] }),
  ])
  acme = await query.createTenant('acme')
  globex = await query.createTenant('globex')
  const made = await query.request('POST', '/api/v2/sites', acme.apiKey, { name: 'Shop', domains: ['shop.example'] })
  expect(made.status).toBe(201)
  shop = made.body
  blog = (await query.request('POST', '/api/v2/sites', acme.apiKey, { name: 'Blog', domains: ['blog.example', 'localhost'] })).body
}, 60_000)

afterAll(async () => {
  for (const stack of [ingest, query, engine]) await stack?.stop()
  await nats?.stop()
})

interface Sent {
  status: number
  body: any
  headers: Headers
}

async function beacon(body: unknown, headers: Record<string, string> = {}): Promise<Sent> {
  const response = await fetch(`${ingest.url}/api/v2/beacon`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain;charset=UTF-8', origin: 'https://shop.example', 'user-agent': 'ua-one', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers }
}

async function count(table: 'pageviews' | 'events', tenant: string): Promise<number> {
  const store = engine.tidemark.runtime.store!
  const [row] = await store.rows<{ n: string }>(`SELECT count() AS n FROM ${store.database}.${table} FINAL WHERE tenant = {t:String}`, { t: tenant })
  return Number(row?.n ?? 0)
}

async function hitsInStream(): Promise<number> {
  const jsm = await jetstreamManager(engine.tidemark.runtime.nc)
  return (await jsm.streams.info(HITS_STREAM)).state.messages
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (done(value) || Date.now() > end) return value
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('GET /t.js', () => {
  it('serves the script under 1 KB gzipped, for any page, with no secret in it', async () => {
    const response = await fetch(`${ingest.url}/t.js`, { headers: { 'accept-encoding': 'gzip' } })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect(response.headers.get('access-control-allow-origin')).toBe('*')
    // fetch decodes the body; the size that travels is the raw response's.
    const raw = await fetch(`${ingest.url}/t.js`, { headers: { 'accept-encoding': 'gzip' } }).then(async (r) => {
      expect(r.headers.get('content-encoding')).toBe('gzip')
      return r
    })
    const text = await response.text()
    expect(text).toContain('sendBeacon')
    expect(text).toContain('keepalive')
    expect(text).not.toMatch(/tm[ik]_/)
    const { request } = await import('node:http')
    const gz = await new Promise<Buffer>((resolve, reject) => {
      const req = request(`${ingest.url}/t.js`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => resolve(Buffer.concat(chunks)))
      })
      req.on('error', reject)
      req.end()
    })
    await raw.body?.cancel()
    expect(gz.length).toBeLessThanOrEqual(1024)
    expect(gunzipSync(gz).toString('utf8')).toBe(text)
  })
})

describe('POST /api/v2/beacon', () => {
  it("stores a pageview and an event as the site's, with the tenant from the site, answering CORS to the site's Origin", async () => {
    const pageview = await beacon({ site: shop.id, kind: 'pageview', path: '/shoes', referrer: 'https://search.example/', utm: { source: 'news', campaign: 'fall' }, screen: 'mobile' })
    expect(pageview.status).toBe(204)
    expect(pageview.headers.get('access-control-allow-origin')).toBe('https://shop.example')
    expect(pageview.headers.get('vary')).toMatch(/Origin/)
    // A subdomain of a site's domain is the site's; application/json works as well as sendBeacon's text/plain.
    const event = await beacon(
      { site: shop.id, kind: 'event', path: '/shoes', name: 'add_to_cart', props: { sku: 'S-1', price: 42, gift: true } },
      { origin: 'https://www.shop.example', 'content-type': 'application/json' }
    )
    expect(event.status).toBe(204)
    await waitFor(() => count('events', acme.id), (n) => n === 1)
    const store = engine.tidemark.runtime.store!
    const [pv] = await store.rows<any>(`SELECT * FROM ${store.database}.pageviews WHERE tenant = {t:String}`, { t: acme.id })
    expect(pv).toMatchObject({ site: shop.id, path: '/shoes', referrer: 'https://search.example/', utm_source: 'news', utm_campaign: 'fall', utm_medium: '', screen: 'mobile' })
    expect(pv.visitor).toMatch(/^[0-9a-f]{16}$/)
    const [ev] = await store.rows<any>(`SELECT * FROM ${store.database}.events WHERE tenant = {t:String}`, { t: acme.id })
    expect(ev).toMatchObject({ site: shop.id, name: 'add_to_cart', props: { sku: 'S-1', price: '42', gift: 'true' } })
    // The same browser on the same site is the same visitor.
    expect(ev.visitor).toBe(pv.visitor)
    // The engine's /metrics counts what its hit writer stored (no tenant named).
    expect(await (await fetch(`${engine.url}/metrics`)).text()).toMatch(/^tidemark_tracker_stored(_total)? [1-9]/m)
    // Nothing reached the metrics: hits are not samples.
    const [samples] = await store.rows<{ n: string }>(`SELECT count() AS n FROM ${store.database}.samples WHERE tenant = {t:String}`, { t: acme.id })
    expect(Number(samples?.n)).toBe(0)
  })

  it('answers a preflight for the Origin that asks, and refuses one without Origin', async () => {
    const ok = await fetch(`${ingest.url}/api/v2/beacon`, { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' } })
    expect(ok.status).toBe(204)
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://shop.example')
    expect(ok.headers.get('access-control-allow-methods')).toBe('POST')
    const none = await fetch(`${ingest.url}/api/v2/beacon`, { method: 'OPTIONS' })
    expect(none.status).toBe(403)
  })

  describe('bad input: a clear 4xx naming the problem, and nothing stored', () => {
    const big = { site: '', kind: 'pageview', path: '/' + 'a'.repeat(1100) }
    const cases: Array<{ name: string; body: () => unknown; headers?: Record<string, string>; status: number; code: string; says: RegExp; fields?: string[] }> = [
      { name: 'an Origin not among the domains', body: () => ({ site: shop.id, kind: 'pageview', path: '/' }), headers: { origin: 'https://evil.example' }, status: 403, code: 'TM_INGEST_ORIGIN_NOT_ALLOWED', says: /https:\/\/evil\.example.*not one of the domains/ },
      { name: 'a look-alike domain', body: () => ({ site: shop.id, kind: 'pageview', path: '/' }), headers: { origin: 'https://evilshop.example' }, status: 403, code: 'TM_INGEST_ORIGIN_NOT_ALLOWED', says: /evilshop/ },
      { name: 'no Origin', body: () => ({ site: shop.id, kind: 'pageview', path: '/' }), headers: { origin: '' }, status: 403, code: 'TM_INGEST_ORIGIN_MISSING', says: /no Origin header/ },
      { name: 'Origin null', body: () => ({ site: shop.id, kind: 'pageview', path: '/' }), headers: { origin: 'null' }, status: 403, code: 'TM_INGEST_ORIGIN_MISSING', says: /Origin/ },
      { name: 'an unknown site', body: () => ({ site: 's_000000000000', kind: 'pageview', path: '/' }), status: 404, code: 'TM_INGEST_SITE_UNKNOWN', says: /s_000000000000/ },
      { name: 'a body over 1 KB', body: () => ({ ...big, site: shop.id }), status: 413, code: 'TM_HTTP_BODY_TOO_LARGE', says: /1024 bytes/ },
      { name: 'malformed JSON', body: () => '{"site": "s_', status: 400, code: 'TM_HTTP_INVALID_JSON', says: /not valid JSON/ },
      {
        name: 'wrong types',
        body: () => ({ site: 42, kind: 'click', path: 7, screen: 'huge', utm: { source: 1 } }),
        status: 400,
        code: 'TM_INGEST_INVALID_BEACON',
        says: /site/,
        fields: ['site', 'kind', 'path', 'screen', 'utm.source'],
      },
      { name: 'an event without a name', body: () => ({ site: shop.id, kind: 'event', path: '/' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /name/, fields: ['name'] },
      { name: 'a pageview with props', body: () => ({ site: shop.id, kind: 'pageview', path: '/', props: { a: 1 } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /props/, fields: ['props'] },
      { name: 'a tenant of its choosing', body: () => ({ site: shop.id, kind: 'pageview', path: '/', tenant: globex.id }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tenant/, fields: ['tenant'] },
      { name: 'a metric', body: () => ({ site: shop.id, kind: 'pageview', path: '/', page_views: 5 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views/, fields: ['page_views'] },
      { name: 'a path that is not a path', body: () => ({ site: shop.id, kind: 'pageview', path: 'https://x.example/' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /path/, fields: ['path'] },
    ]
    for (const c of cases) {
      it(`refuses ${c.name}`, async () => {
        const before = await hitsInStream()
        const headers = { ...c.headers }
        const res = await fetch(`${ingest.url}/api/v2/beacon`, {
          method: 'POST',
          headers: Object.fromEntries(Object.entries({ 'content-type': 'text/plain', origin: 'https://shop.example', ...headers }).filter(([, v]) => v !== '')),
          body: typeof c.body() === 'string' ? (c.body() as string) : JSON.stringify(c.body()),
        })
        const body = (await res.json()) as any
        expect(res.status, JSON.stringify(body)).toBe(c.status)
        expect(body.code).toBe(c.code)
        expect(body.message).toMatch(c.says)
        if (c.fields) expect(body.fields.map((f: any) => f.field)).toEqual(expect.arrayContaining(c.fields))
        // A refused page is not told anything it could read.
        expect(res.headers.get('access-control-allow-origin')).toBeNull()
        expect(await hitsInStream()).toBe(before)
      })
    }
  })

  it("respects the tenant's quota (429 with Retry-After)", async () => {
    const site = (await query.request('POST', '/api/v2/sites', globex.apiKey, { name: 'G', domains: ['globex.example'] })).body
    const put = await query.request('PUT', `/api/v2/tenants/${globex.id}/quota`, ADMIN_TOKEN, { samplesPerSec: 1, burst: 1 })
    expect(put.status).toBe(200)
    const send = () => beacon({ site: site.id, kind: 'pageview', path: '/' }, { origin: 'https://globex.example' })
    const limited = await waitFor(send, (r) => r.status === 429)
    expect(limited.status).toBe(429)
    expect(limited.body.code).toBe('TM_INGEST_RATE_LIMITED')
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    await query.request('DELETE', `/api/v2/tenants/${globex.id}/quota`, ADMIN_TOKEN)
  })

  it('refuses beacons of a deleted site within a second, on another process than the one that deleted it', async () => {
    const temp = (await query.request('POST', '/api/v2/sites', acme.apiKey, { name: 'Temp', domains: ['temp.example'] })).body
    const send = () => beacon({ site: temp.id, kind: 'pageview', path: '/' }, { origin: 'https://temp.example' })
    expect((await waitFor(send, (r) => r.status === 204)).status).toBe(204)
    const deleted = await query.request('DELETE', `/api/v2/sites/${temp.id}`, acme.apiKey)
    expect(deleted.status).toBe(200)
    const at = Date.now()
    const refused = await waitFor(send, (r) => r.status === 404, 2000)
    expect(refused.status).toBe(404)
    expect(refused.body.code).toBe('TM_INGEST_SITE_UNKNOWN')
    expect(Date.now() - at).toBeLessThan(1000)
  })
})

it("refuses a deleted tenant's sites: the tracker carries no credential to withdraw", async () => {
  const doomed = await query.createTenant('doomed')
  const site = (await query.request('POST', '/api/v2/sites', doomed.apiKey, { name: 'D', domains: ['doomed.example'] })).body
  const send = () => beacon({ site: site.id, kind: 'pageview', path: '/' }, { origin: 'https://doomed.example' })
  expect((await waitFor(send, (r) => r.status === 204)).status).toBe(204)
  expect((await query.request('DELETE', `/api/v2/tenants/${doomed.id}`, ADMIN_TOKEN)).status).toBe(200)
  const refused = await waitFor(send, (r) => r.status === 404, 1000)
  expect(refused.body?.code).toBe('TM_INGEST_SITE_UNKNOWN')
})

describe('/api/v2/sites', () => {
  it("lists, creates and deletes the credential's tenant's sites only", async () => {
    const mine = await query.request('GET', '/api/v2/sites', acme.apiKey)
    expect(mine.status).toBe(200)
    expect(mine.body.sites.map((s: any) => s.id)).toEqual(expect.arrayContaining([shop.id, blog.id]))
    const theirs = await query.request('GET', '/api/v2/sites', globex.apiKey)
    expect(theirs.body.sites.map((s: any) => s.id)).not.toContain(shop.id)
    // Another tenant's site id is unknown to this credential: not deleted, not even confirmed to exist.
    const attack = await query.request('DELETE', `/api/v2/sites/${shop.id}`, globex.apiKey)
    expect(attack.status).toBe(404)
    expect(attack.body.code).toBe('TM_ENGINE_SITE_NOT_FOUND')
    expect((await query.request('GET', '/api/v2/sites', acme.apiKey)).body.sites.map((s: any) => s.id)).toContain(shop.id)
    // The ingest token writes data; it does not manage sites. No token: 401.
    const ingestToken = await query.request('GET', '/api/v2/sites', acme.ingestToken)
    expect(ingestToken.status).toBe(403)
    expect(ingestToken.body.code).toBe('TM_HTTP_FORBIDDEN')
    expect((await query.request('POST', '/api/v2/sites', undefined, { name: 'x', domains: ['x.example'] })).status).toBe(401)
  })

  it('names what is wrong with a site, and creates nothing', async () => {
    const before = (await query.request('GET', '/api/v2/sites', acme.apiKey)).body.sites.length
    const bad = await query.request('POST', '/api/v2/sites', acme.apiKey, { name: '', domains: ['https://x.example/', 'UPPER.example'] })
    expect(bad.status).toBe(400)
    expect(bad.body.fields.map((f: any) => f.field)).toEqual(expect.arrayContaining(['name', 'domains[0]', 'domains[1]']))
    const none = await query.request('POST', '/api/v2/sites', acme.apiKey, { name: 'n', domains: [] })
    expect(none.status).toBe(400)
    expect((await query.request('GET', '/api/v2/sites', acme.apiKey)).body.sites.length).toBe(before)
  })

  it('`tidemark site create|list|delete` as the query user, and a deleted site is refused at ingest', async () => {
    const env = { ...process.env, ...natsEnv(nats, 'query'), TIDEMARK_DATA_DIR: tempDir('site-cli'), LOG_LEVEL: 'silent' }
    // Not spawnSync: this process runs the stacks the command talks to.
    const cli = (...args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [TIDEMARK_BIN, 'site', ...args], { env, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
          resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
        )
      })
    const created = await cli('create', acme.id, 'From the CLI', 'cli.example', 'www.cli.example')
    expect(created.status, created.stderr).toBe(0)
    const site = JSON.parse(created.stdout)
    expect(site).toMatchObject({ tenant: acme.id, name: 'From the CLI', domains: ['cli.example', 'www.cli.example'] })
    const send = () => beacon({ site: site.id, kind: 'pageview', path: '/' }, { origin: 'https://cli.example' })
    expect((await waitFor(send, (r) => r.status === 204)).status).toBe(204)
    const listed = await cli('list', acme.id)
    expect(JSON.parse(listed.stdout).map((s: any) => s.id)).toContain(site.id)
    // Not a tenant of that id: refused, naming it.
    const wrongTenant = await cli('delete', globex.id, site.id)
    expect(wrongTenant.status).toBe(1)
    expect(wrongTenant.stderr).toMatch(/TM_ENGINE_SITE_NOT_FOUND/)
    const bad = await cli('create', acme.id, 'Bad', 'https://bad.example')
    expect(bad.status).toBe(1)
    expect(bad.stderr).toMatch(/TM_ENGINE_SITE_INVALID: .*https:\/\/bad\.example/)
    expect((await cli('delete', acme.id, site.id)).status).toBe(0)
    expect((await waitFor(send, (r) => r.status === 404, 2000)).status).toBe(404)
  }, 120_000)

  it('answers the <script> tag to paste', async () => {
    const made = await query.request('POST', '/api/v2/sites', globex.apiKey, { name: 'Docs', domains: ['docs.example'] })
    expect(made.body.id).toMatch(/^s_[0-9a-f]{12}$/)
    expect(made.body.script).toBe(`<script defer src="${query.url}/t.js" data-site="${made.body.id}"></script>`)
  })
})

describe('cookieless visitors', () => {
  it("share one salt per day across processes, in a bucket that forgets it after 48 h, and never carry the client's address", async () => {
    const [a, b] = await Promise.all([connectAs(nats, 'ingest'), connectAs(nats, 'ingest')])
    const now = Date.now()
    const [saltA, saltB] = await Promise.all([new VisitorSalts(a).saltFor(now), new VisitorSalts(b).saltFor(now)])
    expect(saltA).toBe(saltB)
    expect(saltA.length).toBeGreaterThanOrEqual(32)
    const kv = await new Kvm(engine.tidemark.runtime.nc).open(TRACKER_SALTS_BUCKET)
    expect((await kv.status()).ttl).toBe(48 * 3600_000)
    expect((await kv.get(`salt.${new Date(now).toISOString().slice(0, 10)}`))?.string()).toBe(saltA)
    await Promise.all([a.close(), b.close()])
    // What the stream holds: hashed ids, no address, no User-Agent.
    const jsm = await jetstreamManager(engine.tidemark.runtime.nc)
    const last = await jsm.streams.getMessage(HITS_STREAM, { last_by_subj: `tm.hits.${acme.id}` })
    const text = new TextDecoder().decode(last!.data)
    expect(text).not.toMatch(/127\.0\.0\.1|::1|ua-one/)
    const hit = JSON.parse(text) as Hit
    expect(hit.visitor).toBe(visitorId(saltA, hit.site, '127.0.0.1', 'ua-one'))
  })
})

describe('behind a proxy', () => {
  it('hashes the forwarded address when TIDEMARK_TRUST_PROXY names the proxy, and ignores a client\'s own X-Forwarded-For otherwise', async () => {
    const proxied = await startStack({ trustProxy: '127.0.0.1' }, { nats, natsUser: 'ingest', roles: ['ingest'] })
    try {
      const site = (await query.request('POST', '/api/v2/sites', globex.apiKey, { name: 'P', domains: ['proxied.example'] })).body
      const send = async (url: string, forwardedFor: string): Promise<string> => {
        const before = await hitsInStream()
        const res = await fetch(`${url}/api/v2/beacon`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain', origin: 'https://proxied.example', 'user-agent': 'same-agent', 'x-forwarded-for': forwardedFor },
          body: JSON.stringify({ site: site.id, kind: 'pageview', path: '/' }),
        })
        expect(res.status).toBe(204)
        await waitFor(hitsInStream, (n) => n > before)
        const jsm = await jetstreamManager(engine.tidemark.runtime.nc)
        const last = await jsm.streams.getMessage(HITS_STREAM, { last_by_subj: `tm.hits.${globex.id}` })
        return (JSON.parse(new TextDecoder().decode(last!.data)) as Hit).visitor
      }
      // Behind the trusted proxy: two clients with the same browser are two visitors.
      const a = await send(proxied.url, '198.51.100.1')
      const b = await send(proxied.url, '198.51.100.2')
      expect(a).not.toBe(b)
      expect(await send(proxied.url, '198.51.100.1')).toBe(a)
      // Straight to an ingest that trusts no proxy: the header is the client's own claim, and changes nothing.
      const c = await send(ingest.url, '198.51.100.1')
      const d = await send(ingest.url, '198.51.100.2')
      expect(c).toBe(d)
    } finally {
      await proxied.stop()
    }
  }, 60_000)
})

describe('GET /api/v2/analytics/sites-summary', () => {
  it('counts pageviews, visits (30-minute gaps) and unique visitors per site and in total, a visitor of two sites once', async () => {
    const tenant = await query.createTenant('summary')
    const a = (await query.request('POST', '/api/v2/sites', tenant.apiKey, { name: 'A', domains: ['a.example'] })).body
    const b = (await query.request('POST', '/api/v2/sites', tenant.apiKey, { name: 'B', domains: ['b.example'] })).body
    const idle = (await query.request('POST', '/api/v2/sites', tenant.apiKey, { name: 'Idle', domains: ['idle.example'] })).body
    const hour = Date.UTC(2026, 10, 20, 10)
    const minute = 60_000
    const hit = (site: string, person: string, at: number): Hit => pageviewHit(tenant.id, site, person, at)
    const hits = [
      // p1 on A: 10:00, 10:20 (same visit), 11:00 (a gap of 40 min: a second visit).
      hit(a.id, 'p1', hour),
      hit(a.id, 'p1', hour + 20 * minute),
      hit(a.id, 'p1', hour + 60 * minute),
      // p2 on A at 09:50 (before the range) and 10:10: a continuation, no new visit in the range.
      hit(a.id, 'p2', hour - 10 * minute),
      hit(a.id, 'p2', hour + 10 * minute),
      // p1 on B too: a visit there, and still one visitor in the total.
      hit(b.id, 'p1', hour + 5 * minute),
    ]
    await insertHits(engine.tidemark.runtime.store!, hits)
    // Inserting the same hits again (a redelivery) changes nothing.
    await insertHits(engine.tidemark.runtime.store!, hits)
    const res = await query.request('GET', `/api/v2/analytics/sites-summary?from=${hour}&to=${hour + 2 * 3600_000}&step=3600`, tenant.apiKey)
    expect(res.status).toBe(200)
    expect(res.body.total).toEqual({ page_views: 5, visits: 3, visitors: 2 })
    const sites = Object.fromEntries(res.body.sites.map((s: any) => [s.name, s.total]))
    expect(sites).toEqual({ A: { page_views: 4, visits: 2, visitors: 2 }, B: { page_views: 1, visits: 1, visitors: 1 }, Idle: { page_views: 0, visits: 0, visitors: 0 } })
    expect(res.body.sites.find((s: any) => s.name === 'Idle').site).toBe(idle.id)
    // Per hour: the 11:00 pageview is p1's second visit.
    expect(res.body.series).toEqual({ t: [hour, hour + 3600_000], page_views: [4, 1], visits: [2, 1], visitors: [2, 1] })
    // Another tenant sees none of it.
    const other = await query.request('GET', `/api/v2/analytics/sites-summary?from=${hour}&to=${hour + 2 * 3600_000}&step=3600`, globex.apiKey)
    expect(other.body.total).toEqual({ page_views: 0, visits: 0, visitors: 0 })
  })

  it("reads the tenant's pageviews and events through the SQL console's views", async () => {
    const sql = "SELECT name, props['sku'] AS sku, count() AS n FROM events GROUP BY name, sku"
    const res = await query.request('POST', '/api/v2/query', acme.apiKey, { sql })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body.rows).toEqual([['add_to_cart', 'S-1', 1]])
    const theirs = await query.request('POST', '/api/v2/query', globex.apiKey, { sql })
    expect(theirs.body.rows).toEqual([])
    const pages = await query.request('POST', '/api/v2/query', acme.apiKey, { sql: "SELECT path, screen FROM pageviews WHERE path = '/shoes'" })
    expect(pages.body.rows).toEqual([['/shoes', 'mobile']])
  })
})

it('did all this without one NATS permission violation', () => {
  expect(serverLog.filter((line) => /permissions? violation/i.test(line))).toEqual([])
})
