// NDJSON and msgpack bodies on the metrics route, on real parts: each is read
// into the shape a JSON body has and validated by the same compiled schema (the
// same fields, the same words), each under every Content-Encoding. Malformed
// bodies of every type, one `it` each, are the bad-input battery's
// (ingest-bad-input.test.ts).
import zlib from 'node:zlib'
import { pack } from 'msgpackr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CreatedTenant } from '../../engine/index.ts'
import { readAnswer, startStack, type Stack } from '../helpers/stack.ts'

let stack: Stack
let tenant: CreatedTenant

beforeAll(async () => {
  stack = await startStack()
  tenant = await stack.createTenant('bodies')
})
afterAll(async () => stack?.stop())

async function post(body: string | Uint8Array, type: string, headers: Record<string, string> = {}, token = tenant.ingestToken) {
  const response = await fetch(`${stack.url}/api/v2/analytics/metrics`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': type, ...headers },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  })
  const { status, body: parsed } = await readAnswer(response)
  return { status, body: parsed }
}

const NDJSON = 'application/x-ndjson'
const MSGPACK = 'application/msgpack'
const beacons = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ page_views: 1, load_time: from + i, tags: { page: `/p${i % 7}` } }))
const ndjson = (list: unknown[]) => list.map((b) => JSON.stringify(b)).join('\n')

describe('NDJSON bodies', () => {
  it('stores one beacon a line, CRLF, blank lines and a trailing newline included', async () => {
    const t = await stack.createTenant('ndjson-ok')
    const body = `${JSON.stringify({ page_views: 1 })}\r\n\r\n${JSON.stringify({ load_time: 5, ts: '2026-01-01T00:00:00Z' })}\n${JSON.stringify({ page_views: 2 })}\n`
    expect((await post(body, NDJSON, {}, t.ingestToken)).body).toEqual({ accepted: 3, beacons: 3 })
    expect(await stack.waitForRows(t.id, 3)).toBe(3)
  })

  it('validates every line with the JSON schema: the same fields, the same words', async () => {
    const list = [{ page_views: 1 }, { page_views: -1, tags: { 'bad tag': 'x' } }]
    const asNdjson = await post(ndjson(list), NDJSON)
    const asJson = await post(JSON.stringify(list), 'application/json')
    expect(asNdjson.status).toBe(400)
    expect(asNdjson.body.code).toBe('TM_INGEST_INVALID_BEACON')
    expect(asNdjson.body.fields).toEqual(asJson.body.fields)
    expect(asNdjson.body.fields.map((f: { field: string }) => f.field)).toContain('[1].page_views')
  })

})

describe('msgpack bodies', () => {
  it('stores an array of 1,000 beacons, and a lone beacon map', async () => {
    const t = await stack.createTenant('msgpack-ok')
    expect((await post(pack(beacons(1000)), MSGPACK, {}, t.ingestToken)).body).toEqual({ accepted: 2000, beacons: 1000 })
    expect((await post(pack({ page_views: 3, ts: Date.now() - 1000 }), MSGPACK, {}, t.ingestToken)).body).toEqual({ accepted: 1, beacons: 1 })
    expect(await stack.waitForRows(t.id, 2001)).toBe(2001)
  })

  it('validates with the JSON schema: a string value, a binary value, a map key that is no metric name', async () => {
    const list = [{ page_views: '1' }, { load_time: Buffer.from('x') }, { 'Bad-Name': 1 }]
    const asMsgpack = await post(pack(list), MSGPACK)
    expect(asMsgpack.status).toBe(400)
    expect(asMsgpack.body.code).toBe('TM_INGEST_INVALID_BEACON')
    const fields = asMsgpack.body.fields.map((f: { field: string }) => f.field)
    expect(fields).toEqual(expect.arrayContaining(['[0].page_views', '[1].load_time']))
    const asJson = await post(JSON.stringify([list[0]]), 'application/json')
    expect(asMsgpack.body.fields[0]).toEqual(asJson.body.fields[0])
  })

})

describe('every body type under Content-Encoding', () => {
  it('decodes gzip, deflate and br over JSON, NDJSON and msgpack', async () => {
    const t = await stack.createTenant('encoded')
    const list = beacons(5)
    const bodies: [string, Buffer][] = [
      ['application/json', Buffer.from(JSON.stringify(list))],
      [NDJSON, Buffer.from(ndjson(list))],
      [MSGPACK, pack(list)],
    ]
    const encoders: [string, (b: Buffer) => Buffer][] = [
      ['gzip', (b) => zlib.gzipSync(b)],
      ['deflate', (b) => zlib.deflateSync(b)],
      ['br', (b) => zlib.brotliCompressSync(b)],
    ]
    for (const [type, raw] of bodies) {
      for (const [encoding, encode] of encoders) {
        const res = await post(encode(raw), type, { 'content-encoding': encoding }, t.ingestToken)
        expect(res.body, `${type} ${encoding}`).toEqual({ accepted: 10, beacons: 5 })
      }
    }
    expect(await stack.waitForRows(t.id, 90)).toBe(90)
  })

  it('gives an Idempotency-Key the same digest whatever the format: the msgpack retry of a JSON request replays', async () => {
    const t = await stack.createTenant('keyed')
    const list = beacons(4)
    const headers = { 'idempotency-key': 'bodies-1' }
    expect((await post(JSON.stringify(list), 'application/json', headers, t.ingestToken)).status).toBe(200)
    const again = await post(pack(list), MSGPACK, headers, t.ingestToken)
    expect(again).toEqual({ status: 200, body: { accepted: 8, beacons: 4 } })
  })
})

// The tenant the parity cases post under must have stored nothing: every refused body changed nothing.
describe('refused bodies', () => {
  it('stored nothing', async () => {
    const store = stack.tidemark.runtime.store!
    const rows = await store.rows<{ n: string }>(`SELECT count() AS n FROM ${store.database}.samples WHERE tenant = {t:String} AND metric != 'anomaly_score'`, { t: tenant.id })
    expect(Number(rows[0]?.n)).toBe(0)
  })
})
