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
import type { CreatedTenant } from '../../engine/index.ts'
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
