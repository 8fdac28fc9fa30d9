// Hostile traffic against the ingest edge, on real parts: each case once got
// through (a 503 that could never succeed, a socket held forever, a timestamp
// read in the wrong zone, a gzip body read as text). Malformed bodies, one
// `it` each, are the bad-input battery's (ingest-bad-input.test.ts).
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import zlib from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CreatedTenant } from '../../engine/index.ts'
import { readAnswer, startStack, type Stack } from '../helpers/stack.ts'

let stack: Stack
let port: number

beforeAll(async () => {
  // Group commit makes concurrent requests share the batches that fill behind a publish in flight, as they do under load.
  stack = await startStack()
  port = Number(new URL(stack.url).port)
})
afterAll(async () => stack?.stop())

async function post(token: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${stack.url}/api/v2/analytics/metrics`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  })
  return readAnswer(response)
}

async function storedTimestamps(tenant: string): Promise<number[]> {
  const store = stack.tidemark.runtime.store!
  const rows = await store.rows<{ ms: string }>(
    `SELECT toUnixTimestamp64Milli(ts) AS ms FROM ${store.database}.samples WHERE tenant = {t:String} AND metric != 'anomaly_score' ORDER BY value`,
    { t: tenant }
  )
  return rows.map((r) => Number(r.ms))
}

/** Sixteen tags of 200 characters: about 3.4 KB a sample once packed. */
const LONG_TAGS = Object.fromEntries(Array.from({ length: 16 }, (_, t) => [`tag_${t}`, `${t}-`.padEnd(200, 'v')]))
function taggedBeacons(count: number, offset = 0, metrics = 64): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, b) => ({
    ...Object.fromEntries(Array.from({ length: metrics }, (_, m) => [`metric_${m}`, offset + b])),
    tags: LONG_TAGS,
  }))
}

describe("tagged traffic never overflows NATS' max_payload", () => {
  it('stores 100 beacons of 64 metrics with 16 long tags (one request, ~430 KB, 6,400 samples) exactly once', async () => {
    const tenant = await stack.createTenant('big-tags')
    const body = JSON.stringify(taggedBeacons(100))
    expect(body.length).toBeGreaterThan(400_000)
    const res = await post(tenant.ingestToken, body)
    expect(res.body).toEqual({ accepted: 6400, beacons: 100 })
    expect(await stack.waitForRows(tenant.id, 6400, 20_000)).toBe(6400)
  })

  it("20 concurrent tagged requests of 105 KB and another tenant's small beacons sharing their batches all land", async () => {
    const [big, small] = await Promise.all([stack.createTenant('many-tags'), stack.createTenant('bystander')])
    // Both tenants are active already: their tokens are resolved and cached, as they are under steady traffic.
    expect((await post(big.ingestToken, JSON.stringify({ page_views: 0 }))).status).toBe(200)
    expect((await post(small.ingestToken, JSON.stringify({ page_views: 20 }))).status).toBe(200)
    // 30 beacons of 8 metrics: 8 series, each ~100 KB a request; a few requests behind one publish pass 1 MiB a partition.
    const bodies = Array.from({ length: 20 }, (_, r) => JSON.stringify(taggedBeacons(30, r * 30, 8)))
    expect(bodies[0]?.length).toBeGreaterThan(100_000)
    const answers = await Promise.all([
      ...bodies.map((body) => post(big.ingestToken, body)),
      ...Array.from({ length: 20 }, (_, r) => post(small.ingestToken, JSON.stringify({ page_views: r }))),
    ])
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200))
    expect(await stack.waitForRows(big.id, 1 + 20 * 30 * 8, 20_000)).toBe(4801)
    expect(await stack.waitForRows(small.id, 21)).toBe(21)
  })
})

describe('bodies that trickle or stall are timed out', () => {
  /** Sends the headers of a valid, authorized request, then `drip` (or nothing); resolves when the server closes the socket. */
  function slowRequest(token: string, drip: boolean): Promise<{ closedAfterMs: number; answer: string }> {
    return new Promise((resolve, reject) => {
      const started = Date.now()
      const socket = net.connect(port, '127.0.0.1')
      let answer = ''
      let timer: NodeJS.Timeout | undefined
      const giveUp = setTimeout(() => {
        clearInterval(timer)
        socket.destroy()
        resolve({ closedAfterMs: Number.POSITIVE_INFINITY, answer })
      }, 20_000)
      socket.on('data', (chunk) => (answer += chunk.toString('utf8')))
      socket.on('error', () => {})
      socket.on('close', () => {
        clearTimeout(giveUp)
        clearInterval(timer)
        resolve({ closedAfterMs: Date.now() - started, answer })
      })
      socket.on('connect', () => {
        socket.write(
          `POST /api/v2/analytics/metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
            'Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n['
        )
        if (drip) timer = setInterval(() => socket.write('{"page_views":1},'), 300)
      })
      socket.on('timeout', () => reject(new Error('socket timeout')))
    })
  }

  it('answers 408 and closes a connection whose body trickles or stalls, within the request timeout', async () => {
    const tenant = await stack.createTenant('slowloris')
    const [trickled, stalled] = await Promise.all([slowRequest(tenant.ingestToken, true), slowRequest(tenant.ingestToken, false)])
    for (const result of [trickled, stalled]) {
      // 10 s timeout, checked every second; generous margin for a loaded machine.
      expect(result.closedAfterMs).toBeLessThan(16_000)
      expect(result.closedAfterMs).toBeGreaterThanOrEqual(9_000)
      expect(result.answer).toMatch(/^HTTP\/1\.1 408/)
    }
    expect(await stack.waitForRows(tenant.id, 1, 300)).toBe(0)
  }, 30_000)
})

describe('timestamps', () => {
  let tenant: CreatedTenant
  beforeAll(async () => {
    tenant = await stack.createTenant('clock')
  })

  it('reads an ISO ts without offset as UTC, and takes a +05 offset and a leap second', async () => {
    const res = await post(
      tenant.ingestToken,
      JSON.stringify([
        { page_views: 1, ts: '2026-01-01T12:00:00' },
        { page_views: 2, ts: '2026-01-01T17:00:00+05' },
        { page_views: 3, ts: '2016-12-31T23:59:60Z' },
      ])
    )
    expect(res.status).toBe(200)
    await stack.waitForRows(tenant.id, 3)
    expect(await storedTimestamps(tenant.id)).toEqual([Date.UTC(2026, 0, 1, 12), Date.UTC(2026, 0, 1, 12), Date.UTC(2017, 0, 1)])
  })
})

describe('what a body may be', () => {
  let tenant: CreatedTenant
  beforeAll(async () => {
    tenant = await stack.createTenant('bodies')
  })

  it('keeps the kind of a metric named constructor (a lookup once found the prototype)', async () => {
    expect((await post(tenant.ingestToken, JSON.stringify({ constructor: 5 }))).status).toBe(200)
    await stack.waitForRows(tenant.id, 1)
    await expect
      .poll(async () => (await stack.request('GET', '/api/v2/analytics/metric-names', tenant.apiKey)).body.metrics.filter((m: { name: string }) => m.name !== 'anomaly_score'), { timeout: 10_000 })
      .toEqual([expect.objectContaining({ name: 'constructor', kind: 'gauge' })])
  })

  it('decodes gzip, deflate and br bodies', async () => {
    const encoded = await stack.createTenant('encoded')
    const body = (value: number) => Buffer.from(JSON.stringify([{ page_views: value }, { page_views: value + 1 }]))
    for (const [encoding, data] of [
      ['gzip', zlib.gzipSync(body(10))],
      ['deflate', zlib.deflateSync(body(20))],
      ['br', zlib.brotliCompressSync(body(30))],
      ['identity', body(40)],
    ] as const) {
      const res = await post(encoded.ingestToken, data, { 'content-encoding': encoding })
      expect(res.body, encoding).toEqual({ accepted: 2, beacons: 2 })
    }
    expect(await stack.waitForRows(encoded.id, 8)).toBe(8)
  })
})

describe('shutdown', () => {
  it('takes each request on a kept-alive connection by its own credential, whatever the connection sent before', async () => {
    const [owner, other] = [await stack.createTenant('conn-a'), await stack.createTenant('conn-b')]
    const socket = net.connect(port, '127.0.0.1')
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()))
    let received = ''
    socket.on('data', (chunk) => (received += chunk.toString('utf8')))
    // One request at a time on this one connection: the status of each answer.
    const send = async (token: string, value: number): Promise<number> => {
      received = ''
      const body = `{"conn_probe": ${value}}`
      socket.write(
        `POST /api/v2/analytics/metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`
      )
      for (let waited = 0; waited < 10_000; waited += 10) {
        const head = received.indexOf('\r\n\r\n')
        const length = /content-length: (\d+)/i.exec(received)
        if (head > 0 && length && received.length >= head + 4 + Number(length[1])) return Number(received.slice(9, 12))
        await sleep(10)
      }
      throw new Error(`no whole answer on the connection: ${received.slice(0, 200)}`)
    }
    const forged = `${owner.ingestToken.slice(0, -1)}${owner.ingestToken.endsWith('x') ? 'y' : 'x'}`
    const statuses = [
      await send(owner.ingestToken, 1),
      await send(forged, 2),
      await send(other.ingestToken, 3),
      await send(owner.apiKey, 4),
      await send(owner.ingestToken, 5),
    ]
    socket.destroy()
    expect(statuses).toEqual([200, 401, 200, 403, 200])
    const values = async (tenant: string): Promise<number[]> => {
      const store = stack.tidemark.runtime.store!
      const rows = await store.rows<{ value: number }>(`SELECT value FROM ${store.database}.samples WHERE tenant = {t:String} AND metric = 'conn_probe' ORDER BY value`, { t: tenant })
      return rows.map((r) => Number(r.value))
    }
    await stack.waitForRows(owner.id, 2)
    await stack.waitForRows(other.id, 1)
    expect(await values(owner.id)).toEqual([1, 5])
    expect(await values(other.id)).toEqual([3])
  })

  it('answers a request arriving while the server drains with 503, a code and Retry-After, after finishing the one under way', async () => {
    const tenant = await stack.createTenant('drain')
    const body = '{"page_views": 7}'
    const socket = net.connect(port, '127.0.0.1')
    let answer = ''
    socket.on('data', (chunk) => (answer += chunk.toString('utf8')))
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()))
    // The first request is under way (headers sent, body not yet) when the drain starts.
    socket.write(
      `POST /api/v2/analytics/metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${tenant.ingestToken}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`
    )
    await sleep(300)
    const closing = stack.tidemark.close()
    await sleep(300)
    // The rest of the first body, and a second request pipelined behind it on the same connection.
    socket.write(`${body.slice(5)}GET /api/v2/health HTTP/1.1\r\nHost: localhost\r\n\r\n`)
    await Promise.race([closed, sleep(10_000)])
    socket.destroy()
    await closing
    const [first, second] = answer.split(/(?=HTTP\/1\.1 )/)
    expect(first).toMatch(/^HTTP\/1\.1 200/)
    expect(second).toMatch(/^HTTP\/1\.1 503/)
    expect(second).toMatch(/\r\nretry-after: 1\r\n/i)
    const json = JSON.parse((second as string).slice((second as string).indexOf('\r\n\r\n') + 4))
    expect(json).toMatchObject({ statusCode: 503, code: 'TM_HTTP_SHUTTING_DOWN' })
  })
})
