// The query tier against hostile or careless callers, on real parts (nats-server,
// chDB, Tidemark on a port): each bad request gets a 4xx with a clear TM_* code,
// nothing of ClickHouse's own text reaches the client, and nothing a client can
// cause by itself is logged at error level.
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ANOMALY_METRIC, type CreatedTenant } from '../../engine/index.ts'
import { aggregate } from '../../query/aggregate-query.ts'
import { resolveRange } from '../../query/time-range.ts'
import { ADMIN_TOKEN, startStack, tempDir, type Stack } from '../helpers/stack.ts'

/** Every log line of the stack, parsed: pino writes one JSON object a line. */
const logLines: Array<{ level: number; msg?: string; err?: { message?: string; stack?: string } } & Record<string, unknown>> = []
const logSink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logLines.push(JSON.parse(line))
    done()
  },
})
const PINO_ERROR = 50

let stack: Stack
let acme: CreatedTenant
let uiDir: string

/** A GET sent as written: fetch and URL would normalize `..` away before it left. */
function rawGet(route: string, token?: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string; body: any }> {
  const { hostname, port } = new URL(stack.url)
  if (token) headers = { ...headers, authorization: `Bearer ${token}` }
  return new Promise((resolve, reject) => {
    const request = http.request({ host: hostname, port, path: route, method: 'GET', headers }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (c: Buffer) => chunks.push(c))
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown = text
        try {
          body = JSON.parse(text)
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, body })
      })
    })
    request.on('error', reject)
    request.end()
  })
}

const errorLogs = (): typeof logLines => logLines.filter((l) => l.level >= PINO_ERROR)

beforeAll(async () => {
  // A dashboard build stand-in: the static route is only registered when ui/dist has an index.html.
  uiDir = tempDir('ui')
  fs.mkdirSync(path.join(uiDir, 'assets'))
  fs.writeFileSync(path.join(uiDir, 'index.html'), '<!doctype html><title>Tidemark</title>')
  fs.writeFileSync(path.join(uiDir, 'assets', 'app-1234.js'), 'console.log(1)')
  stack = await startStack({}, { uiDir, logger: pino({ level: 'info' }, logSink) })
  acme = await stack.createTenant('acme')
})
afterAll(async () => {
  await stack?.stop()
  if (uiDir) fs.rmSync(uiDir, { recursive: true, force: true })
})
beforeEach(() => {
  logLines.length = 0
})

describe('the dashboard files', () => {
  it('still serves the page and its assets', async () => {
    expect((await rawGet('/')).status).toBe(200)
    expect((await rawGet('/assets/app-1234.js')).text).toBe('console.log(1)')
  })

  it('answers ranges and preconditions it cannot meet as HTTP says, logging no error', async () => {
    expect((await rawGet('/assets/app-1234.js', undefined, { range: 'bytes=2-4' })).text).toBe('nso')
    const unsatisfiable = await rawGet('/assets/app-1234.js', undefined, { range: 'bytes=9999-' })
    expect(unsatisfiable.status).toBe(416)
    expect(unsatisfiable.headers['content-range']).toBe('bytes */14')
    expect((await rawGet('/assets/app-1234.js', undefined, { 'if-match': '"not-this-one"' })).status).toBe(412)
    expect(errorLogs(), JSON.stringify(errorLogs())).toEqual([])
  })

  const escapes = [
    '/../../etc/passwd',
    '/assets/../../../../etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/..%2f..%2f..%2fetc%2fpasswd',
    '/assets/..%2f..%2f..%2fetc%2fpasswd',
    '/%252e%252e%252f%252e%252e%252fetc%252fpasswd',
    '/..%252f..%252fetc%252fpasswd',
    '/..%5c..%5cetc%5cpasswd',
    '/%c0%ae%c0%ae/etc/passwd',
    '/index.html%00.js',
    '/%',
    '/%zz',
  ]
  for (const route of escapes) {
    it(`answers ${route} with 400 or 404 and a TM_* code, logging no error`, async () => {
      const res = await rawGet(route)
      expect([400, 404], `${route}: ${res.status} ${res.text}`).toContain(res.status)
      expect(res.body.code).toMatch(/^TM_HTTP_(NOT_FOUND|INVALID_REQUEST)$/)
      expect(res.text).not.toContain('root:')
      expect(errorLogs(), JSON.stringify(errorLogs())).toEqual([])
    })
  }
})

describe('ranges a client can send', () => {
  for (const [from, to] of [
    ['9999999999999000', '9999999999999999'],
    ['0', '9999999999999999'],
    ['9999999999999999', '1000'],
    ['2026-01-01T00:00:00Z', '9999-12-31T23:59:59Z'],
  ]) {
    it(`refuses from=${from}&to=${to} with 400 TM_QUERY_INVALID_RANGE, logging no error`, async () => {
      const res = await rawGet(`/api/v2/analytics/aggregate?metric=page_views&from=${from}&to=${to}`, acme.apiKey)
      expect(res.status, res.text).toBe(400)
      expect(res.body.code).toBe('TM_QUERY_INVALID_RANGE')
      expect(res.body.message).toMatch(/between 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z/)
      expect(errorLogs(), JSON.stringify(errorLogs())).toEqual([])
    })
  }
})

describe('how much one aggregate may ask for', () => {
  it('refuses an instant longer than any ISO form before parsing it, without echoing it back', async () => {
    const longest = await rawGet(`/api/v2/analytics/aggregate?metric=page_views&from=${encodeURIComponent('2026-01-01T00:00:00.000000000+00:00')}&to=${Date.UTC(2026, 0, 2)}`, acme.apiKey)
    // Parsed as a range (resolveRange runs before the metric is looked up): this tenant never sent page_views, hence the 404.
    expect(longest.status, longest.text).toBe(404)
    expect(longest.body.code).toBe('TM_QUERY_METRIC_UNKNOWN')
    const res = await rawGet(`/api/v2/analytics/aggregate?metric=page_views&from=2026-01-01T${'9'.repeat(8000)}`, acme.apiKey)
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('TM_HTTP_INVALID_REQUEST')
    expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual(['from'])
    expect(res.text.length).toBeLessThan(1000)
  })

  it('bounds the rows one aggregate reads, answering a 400 that says what to change, not a 503', async () => {
    const t0 = Date.UTC(2026, 0, 1)
    const beacons = Array.from({ length: 20 }, (_, i) => ({ checkout_time: i, ts: t0 + i * 1000 }))
    expect((await stack.request('POST', '/api/v2/analytics/metrics', acme.ingestToken, beacons)).status).toBe(200)
    await stack.waitForRows(acme.id, 20)
    const store = stack.tidemark.runtime.store!
    const range = resolveRange({ from: String(t0), to: String(t0 + 60_000), step: 7 })
    expect((await aggregate(store, acme.id, 'checkout_time', range)).total.count).toBe(20)
    // The bound is what ClickHouse enforces: a small one stands in for 50M rows.
    const refused = await aggregate(store, acme.id, 'checkout_time', range, 5).then(
      () => undefined,
      (err: unknown) => err
    )
    expect(refused).toMatchObject({ code: 'TM_QUERY_INVALID', statusCode: 400, message: expect.stringMatching(/step of whole minutes/) })
    expect(String((refused as Error).message)).not.toMatch(/max_rows_to_read|TOO_MANY_ROWS/)
  })
})

describe('ClickHouse failures', () => {
  // A missing table makes ClickHouse answer with its own text (table names, its version, the query):
  // the client gets a generic 503, the log keeps the detail.
  async function withoutRollup(work: () => Promise<void>): Promise<void> {
    const store = stack.tidemark.runtime.store!
    await store.command(`RENAME TABLE ${store.database}.series_1h TO ${store.database}.series_1h_away`)
    try {
      await work()
    } finally {
      await store.command(`RENAME TABLE ${store.database}.series_1h_away TO ${store.database}.series_1h`)
    }
  }

  for (const route of ['/api/v2/analytics/aggregate?metric=page_views&step=3600', '/api/v2/analytics/metric-names']) {
    it(`${route.split('?')[0]} answers 503 TM_QUERY_STORAGE_UNAVAILABLE without ClickHouse's words, and logs them`, async () => {
      await withoutRollup(async () => {
        const res = await rawGet(route, acme.apiKey)
        expect(res.status, res.text).toBe(503)
        expect(res.body.code).toBe('TM_QUERY_STORAGE_UNAVAILABLE')
        for (const leak of ['series_1h', 'tidemark.', 'UNKNOWN_TABLE', 'DB::Exception', 'version', 'SELECT']) expect(res.text).not.toContain(leak)
        const logged = JSON.stringify(errorLogs())
        expect(logged).toContain('series_1h')
      })
    })
  }
})

describe('tenant names', () => {
  const create = (body: unknown): Promise<{ status: number; body: any }> => stack.request('POST', '/api/v2/tenants', ADMIN_TOKEN, body)

  for (const name of ['Acme', '-acme', '_acme', 'a'.repeat(65), 'acme corp', 'acme.corp', 'ãcme', '']) {
    it(`refuses ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}… (${name.length})` : name)} with 400 TM_ENGINE_TENANT_NAME_INVALID`, async () => {
      const res = await create({ name })
      expect(res.status).toBe(400)
      expect(res.body.code).toBe('TM_ENGINE_TENANT_NAME_INVALID')
      expect(res.body.message).toMatch(/1 to 64 characters/)
      expect(res.body.fields).toEqual([{ field: 'name', problem: expect.stringContaining('^[a-z0-9][a-z0-9_-]{0,63}$') }])
    })
  }

  it('takes the longest and shortest names the rule allows', async () => {
    expect((await create({ name: 'b'.repeat(64) })).status).toBe(201)
    expect((await create({ name: '7' })).status).toBe(201)
  })

  it('keeps the body shape errors as TM_HTTP_INVALID_REQUEST naming the field', async () => {
    const missing = await create({})
    expect(missing.status).toBe(400)
    expect(missing.body.code).toBe('TM_HTTP_INVALID_REQUEST')
    expect(missing.body.fields).toEqual([{ field: 'name', problem: 'is required' }])
    const extra = await create({ name: 'okname', plan: 'gold' })
    expect(extra.status).toBe(400)
    expect(extra.body.code).toBe('TM_HTTP_INVALID_REQUEST')
  })
})

// Every route that takes a range, with every kind of bad from/to/step: one `it` a route and case, each a
// 400 with a TM_* code and a message naming the parameter, nothing logged at error level.
describe('bad from, to and step on every reporting route', () => {
  const HOUR_MS = 3_600_000
  const DAY_MS = 24 * HOUR_MS
  const now = Date.now()
  const routes: { path: string; step: boolean }[] = [
    { path: '/api/v2/analytics/aggregate?metric=page_views&', step: true },
    { path: '/api/v2/analytics/sites-summary?', step: true },
    { path: '/api/v2/analytics/performance?', step: true },
    { path: '/api/v2/analytics/cache?', step: true },
    { path: '/api/v2/charts/page_views.svg?', step: true },
    { path: '/api/v2/triggers?', step: false },
    { path: '/api/v2/usage?', step: false },
  ]
  // A value the schema's pattern refuses is TM_HTTP_INVALID_REQUEST naming the field; one that passes it but is no
  // instant is TM_QUERY_INVALID_RANGE naming it (usage reads from/to as text, so it always says the latter).
  const FORMAT = /^TM_(HTTP_INVALID_REQUEST|QUERY_INVALID_RANGE)$/
  const cases: { query: string; code: RegExp; says: RegExp; step?: boolean }[] = [
    { query: 'from=yesterday', code: FORMAT, says: /from/ },
    { query: 'to=-5', code: FORMAT, says: /\bto\b/ },
    { query: 'from=1.5e12', code: FORMAT, says: /from/ },
    { query: `from=${'1'.repeat(17)}`, code: FORMAT, says: /from/ },
    { query: 'from=2026-02-30T00:00:00Z', code: /^TM_QUERY_INVALID_RANGE$/, says: /from must be epoch milliseconds or an ISO 8601 date-time/ },
    { query: 'to=2026-01-01T24:00:00Z', code: /^TM_QUERY_INVALID_RANGE$/, says: /to must be epoch milliseconds or an ISO 8601 date-time/ },
    { query: 'from=1969-12-31T23:59:59Z', code: /^TM_QUERY_INVALID_RANGE$/, says: /from must lie between 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z/ },
    { query: 'from=0&to=9999999999999999', code: /^TM_QUERY_INVALID_RANGE$/, says: /to must lie between/ },
    { query: `from=${now - HOUR_MS}&to=${now - 2 * HOUR_MS}`, code: /^TM_QUERY_INVALID_RANGE$/, says: /from \(.*\) must be before to/ },
    { query: `from=${now - HOUR_MS}&to=${now - HOUR_MS}`, code: /^TM_QUERY_INVALID_RANGE$/, says: /must be before to/ },
    { query: `from=${now + DAY_MS}`, code: /^TM_QUERY_INVALID_RANGE$/, says: /must be before to/ },
    { query: 'from=a&from=b', code: /^TM_HTTP_INVALID_REQUEST$/, says: /from/ },
    { query: 'tenant=t_000000000000', code: /^TM_HTTP_INVALID_REQUEST$/, says: /tenant is not allowed here/ },
    // Oversized: a range past 400 days, at the default step and at a day's; too many points at a second's.
    { query: 'from=2000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', code: /^TM_QUERY_INVALID_RANGE$/, says: /the range spans 9497 days; at most 400/, step: true },
    { query: 'from=2000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&step=86400', code: /^TM_QUERY_INVALID_RANGE$/, says: /at most 400/, step: true },
    { query: `from=${now - 2 * DAY_MS}&to=${now}&step=1`, code: /^TM_QUERY_TOO_MANY_POINTS$/, says: /at most 10000 are served/, step: true },
    { query: 'step=0', code: /^TM_HTTP_INVALID_REQUEST$/, says: /step must be >= 1/, step: true },
    { query: 'step=-60', code: /^TM_HTTP_INVALID_REQUEST$/, says: /step must be >= 1/, step: true },
    { query: 'step=1.5', code: /^TM_HTTP_INVALID_REQUEST$/, says: /step must be integer/, step: true },
    { query: 'step=abc', code: /^TM_HTTP_INVALID_REQUEST$/, says: /step must be integer/, step: true },
    { query: 'step=NaN', code: /^TM_HTTP_INVALID_REQUEST$/, says: /step must be integer/, step: true },
    { query: 'step=Infinity', code: /^TM_HTTP_INVALID_REQUEST$/, says: /step must be/, step: true },
    { query: 'step=1e999', code: /^TM_HTTP_INVALID_REQUEST$/, says: /step must be/, step: true },
    { query: `step=${31 * 86400 + 1}`, code: /^TM_HTTP_INVALID_REQUEST$/, says: /step must be <= 2678400/, step: true },
    { query: 'step=60&step=120', code: /^TM_HTTP_INVALID_REQUEST$/, says: /step/, step: true },
  ]
  for (const route of routes) {
    for (const c of cases) {
      if (c.step && !route.step) continue
      const url = `${route.path}${c.query}`
      it(`${url.split('?')[0]}?${url.split('?')[1]} -> 400 ${c.code.source.replace(/[\^$]/g, '')}`, async () => {
        const res = await rawGet(url, acme.apiKey)
        expect(res.status, res.text).toBe(400)
        expect(res.body.code).toMatch(c.code)
        expect(res.body.message).toMatch(c.says)
        expect(errorLogs(), JSON.stringify(errorLogs())).toEqual([])
      })
    }
  }
})

// Names a tenant never sent, and every way one tenant might read another's data: what comes back is the same
// 404 a name nobody sent gets, or a refusal, never the other tenant's figures.
describe('unknown metrics and cross-tenant attempts', () => {
  const t0 = Date.UTC(2026, 0, 1)
  const range = `from=${t0}&to=${t0 + 3_600_000}&step=60`
  let initech: CreatedTenant
  let globex: CreatedTenant
  beforeAll(async () => {
    ;[initech, globex] = await Promise.all([stack.createTenant('initech'), stack.createTenant('globex-secret')])
    const mine = await stack.request('POST', '/api/v2/analytics/metrics', initech.ingestToken, { page_views: 3, ts: t0 + 60_000 })
    const theirs = await stack.request('POST', '/api/v2/analytics/metrics', globex.ingestToken, { secret_metric: 42, response_time: 900, ts: t0 + 60_000 })
    expect([mine.status, theirs.status]).toEqual([200, 200])
    await Promise.all([stack.waitForRows(initech.id, 1), stack.waitForRows(globex.id, 2)])
  })

  const unknown: { name: string; url: () => string; token?: () => string; headers?: () => Record<string, string>; status: number; code: string; says: RegExp }[] = [
    { name: 'a metric nobody sent', url: () => `/api/v2/analytics/aggregate?metric=never_sent&${range}`, status: 404, code: 'TM_QUERY_METRIC_UNKNOWN', says: /never sent never_sent/ },
    { name: "a metric only another tenant sent (the same 404)", url: () => `/api/v2/analytics/aggregate?metric=secret_metric&${range}`, status: 404, code: 'TM_QUERY_METRIC_UNKNOWN', says: /never sent secret_metric/ },
    { name: "a chart of another tenant's metric", url: () => `/api/v2/charts/secret_metric.svg?${range}`, status: 404, code: 'TM_QUERY_METRIC_UNKNOWN', says: /never sent secret_metric/ },
    { name: "another tenant's performance metrics (this one sent none)", url: () => `/api/v2/analytics/performance?${range}`, status: 404, code: 'TM_QUERY_METRIC_UNKNOWN', says: /never sent/ },
    {
      name: "another tenant's metric, naming that tenant in headers",
      url: () => `/api/v2/analytics/aggregate?metric=secret_metric&${range}`,
      headers: () => ({ 'x-tenant': globex.id, 'x-tenant-id': globex.id, 'x-scope-orgid': globex.id }),
      status: 404,
      code: 'TM_QUERY_METRIC_UNKNOWN',
      says: /never sent secret_metric/,
    },
    { name: "another tenant's metric, naming that tenant in the query", url: () => `/api/v2/analytics/aggregate?metric=secret_metric&tenant=${globex.id}&${range}`, status: 400, code: 'TM_HTTP_INVALID_REQUEST', says: /tenant is not allowed here/ },
    { name: 'a metric name that is no name', url: () => `/api/v2/analytics/aggregate?metric=Page.Views&${range}`, status: 400, code: 'TM_HTTP_INVALID_REQUEST', says: /metric must match pattern/ },
    { name: 'a metric name of 64 characters', url: () => `/api/v2/analytics/aggregate?metric=${'m'.repeat(64)}&${range}`, status: 400, code: 'TM_HTTP_INVALID_REQUEST', says: /metric must match pattern/ },
    { name: 'no metric', url: () => `/api/v2/analytics/aggregate?${range}`, status: 400, code: 'TM_HTTP_INVALID_REQUEST', says: /metric is required/ },
    { name: 'a chart of a name that is no name', url: () => `/api/v2/charts/Bad.Name.svg?${range}`, status: 400, code: 'TM_HTTP_INVALID_REQUEST', says: /metric/ },
    { name: "the other tenant's ingestToken", url: () => `/api/v2/analytics/aggregate?metric=secret_metric&${range}`, token: () => globex.ingestToken, status: 403, code: 'TM_HTTP_FORBIDDEN', says: /apiKey/ },
    { name: 'the admin token', url: () => `/api/v2/analytics/aggregate?metric=secret_metric&${range}`, token: () => ADMIN_TOKEN, status: 401, code: 'TM_HTTP_UNAUTHORIZED', says: /credential/ },
    { name: 'a made-up apiKey', url: () => `/api/v2/analytics/aggregate?metric=secret_metric&${range}`, token: () => 'tm_key_made_up_0123456789', status: 401, code: 'TM_HTTP_UNAUTHORIZED', says: /credential/ },
  ]
  for (const c of unknown) {
    it(`${c.name} -> ${c.status} ${c.code}`, async () => {
      const res = await rawGet(c.url(), c.token ? c.token() : initech.apiKey, c.headers?.() ?? {})
      expect(res.status, res.text).toBe(c.status)
      expect(res.body.code).toBe(c.code)
      expect(res.body.message).toMatch(c.says)
      expect(res.text).not.toContain('42')
      expect(errorLogs(), JSON.stringify(errorLogs())).toEqual([])
    })
  }

  it("lists none of another tenant's names, and the other tenant sees its own", async () => {
    const mine = await rawGet('/api/v2/analytics/metric-names', initech.apiKey)
    // What the tenants sent; the engine adds the anomaly scores of their series as a metric of theirs.
    const sent = (body: { metrics: Array<{ name: string }> }) => body.metrics.map((m) => m.name).filter((name) => name !== ANOMALY_METRIC)
    expect(sent(mine.body)).toEqual(['page_views'])
    const theirs = await rawGet('/api/v2/analytics/metric-names', globex.apiKey)
    expect(sent(theirs.body).sort()).toEqual(['response_time', 'secret_metric'])
  })

  it("finds none of another tenant's rows through SQL, by name or by tenant id", async () => {
    for (const sql of [`SELECT count() AS n FROM samples WHERE metric = 'secret_metric'`, `SELECT count() AS n FROM samples WHERE tenant = '${globex.id}'`]) {
      const res = await stack.request('POST', '/api/v2/query', initech.apiKey, { sql })
      // Either the statement is refused (a column it may not name) or it counts nothing: never globex's rows.
      if (res.status === 200) expect(Number(res.body.rows[0][0]), sql).toBe(0)
      else expect(res.body.code, sql).toMatch(/^TM_QUERY_SQL_/)
    }
  })
})
