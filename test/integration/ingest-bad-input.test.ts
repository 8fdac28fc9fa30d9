// The bad-input battery of the ingest routes, on real parts (nats-server -js on a
// free port, chDB in a temp dir, Tidemark on a port). One table, one `it` a case:
// each bad request gets the 4xx and TM_* code it names, a message that names the
// field or the part of the request that is wrong, and stores nothing: no
// JetStream message after it carries a sample of the tenant, and once a good
// sentinel request is stored, ClickHouse holds the sentinel's samples and no more.
// Good paths and the behaviour of big or slow traffic live in ingest-hostile and
// ingest-bodies; every malformed body is here.
import zlib from 'node:zlib'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { pack, Packr } from 'msgpackr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CreatedTenant } from '../../engine/index.ts'
import { lastBeaconSeq, tenantSamplesAfter as countTenantSamplesAfter } from '../helpers/beacon-stream.ts'
import { ADMIN_TOKEN, readAnswer, startStack, type Stack } from '../helpers/stack.ts'
import { BATTERIES, beacons, CACHE, JSON_TYPE, json, METRICS, MSGPACK, NDJSON, ndjson, type Case, type Credential } from '../fixtures/bad-input-cases.ts'

let stack: Stack
let tenant: CreatedTenant
let jsm: JetStreamManager

beforeAll(async () => {
  stack = await startStack()
  tenant = await stack.createTenant('bad-input')
  jsm = await jetstreamManager(stack.tidemark.runtime.nc)
})
afterAll(async () => stack?.stop())

function tokenFor(credential: Credential): string | undefined {
  switch (credential) {
    case 'ingest':
      return `Bearer ${tenant.ingestToken}`
    case 'api':
      return `Bearer ${tenant.apiKey}`
    case 'admin':
      return `Bearer ${ADMIN_TOKEN}`
    case 'unknown':
      return 'Bearer tm_not_a_token_0123456789'
    case 'basic':
      return `Basic ${Buffer.from(`user:${tenant.ingestToken}`).toString('base64')}`
    case 'none':
      return undefined
  }
}

async function send(c: Pick<Case, 'route' | 'body' | 'type' | 'headers' | 'credential'>): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { ...c.headers }
  const authorization = tokenFor(c.credential ?? 'ingest')
  if (authorization) headers.authorization = authorization
  const type = c.type === undefined ? JSON_TYPE : c.type
  if (type !== null) headers['content-type'] = type
  const body = c.body()
  const response = await fetch(`${stack.url}${c.route ?? METRICS}`, {
    method: 'POST',
    headers,
    // A Uint8Array gets no Content-Type from fetch (a string would get text/plain).
    body: typeof body === 'string' ? new Uint8Array(Buffer.from(body)) : new Uint8Array(body),
  })
  return readAnswer(response)
}

const lastSeq = (): Promise<number> => lastBeaconSeq(jsm)
const tenantSamplesAfter = (seq: number): Promise<number> => countTenantSamplesAfter(jsm, tenant.id, seq)

function battery(title: string, cases: Case[]): void {
  describe(title, () => {
    for (const c of cases) {
      it(`${c.route === CACHE ? 'cache' : 'metrics'}: ${c.name} -> ${c.status} ${c.code}`, async () => {
        const before = await lastSeq()
        const res = await send(c)
        expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(c.status)
        expect(res.body).toMatchObject({ statusCode: c.status, code: c.code })
        expect(res.body.message).toMatch(c.says)
        if (c.fields) expect(res.body.fields.map((f: { field: string }) => f.field)).toEqual(expect.arrayContaining(c.fields))
        expect(await tenantSamplesAfter(before)).toBe(0)
      })
    }
  })
}

for (const [title, cases] of BATTERIES) battery(title, cases)

describe('after every refusal', () => {
  it('stores a good sentinel of each route, and ClickHouse holds exactly the sentinel for the tenant', async () => {
    const before = await lastSeq()
    expect((await send({ body: json({ page_views: 1, load_time: 2 }) })).body).toEqual({ accepted: 2, beacons: 1 })
    expect((await send({ route: CACHE, body: json({ hits: 1, misses: 2, size_kb: 3, name: 'sentinel' }) })).body).toEqual({ accepted: 3, beacons: 1 })
    expect(await tenantSamplesAfter(before)).toBe(5)
    expect(await stack.waitForRows(tenant.id, 5)).toBe(5)
  })

  it('keeps the key the refused request named free: the same key with a good body is stored once', async () => {
    const keyed = { headers: { 'idempotency-key': 'bad-input-1' }, body: json({ page_views: 7 }) }
    expect(await send(keyed)).toMatchObject({ status: 200, body: { accepted: 1, beacons: 1 } })
    expect(await send(keyed)).toMatchObject({ status: 200, body: { accepted: 1, beacons: 1 } })
    expect(await stack.waitForRows(tenant.id, 6)).toBe(6)
  })

  it("stores under the credential's tenant whatever tenant the query string or headers name", async () => {
    const other = await stack.createTenant('bad-input-victim')
    const response = await fetch(`${stack.url}${METRICS}?tenant=${other.id}&tenantId=${other.id}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.ingestToken}`, 'content-type': JSON_TYPE, 'x-tenant': other.id, 'x-tenant-id': other.id },
      body: JSON.stringify({ page_views: 1, tags: { tenant: other.id } }),
    })
    expect(response.status).toBe(200)
    expect(await stack.waitForRows(tenant.id, 7)).toBe(7)
    expect(await stack.waitForRows(other.id, 0, 500)).toBe(0)
  })

  it('each body type and encoding the battery refused is taken when well formed (the refusals were for the fault, not the format)', async () => {
    const good = await stack.createTenant('good-formats')
    const list = beacons(2)
    const bodies: [string, Buffer][] = [
      [JSON_TYPE, Buffer.from(JSON.stringify(list))],
      [NDJSON, Buffer.from(ndjson(list)())],
      [MSGPACK, pack(list)],
    ]
    for (const [type, raw] of bodies) {
      for (const [encoding, data] of [
        ['identity', raw],
        ['gzip', zlib.gzipSync(raw)],
      ] as const) {
        const response = await fetch(`${stack.url}${METRICS}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${good.ingestToken}`, 'content-type': type, 'content-encoding': encoding },
          body: new Uint8Array(data),
        })
        expect(await response.json(), `${type} ${encoding}`).toEqual({ accepted: 4, beacons: 2 })
      }
    }
    // Tag values with real multi-byte UTF-8 pass the UTF-8 checks, in JSON and msgpack alike, U+FFFD sent as such
    // included (msgpack's guard tells it from bytes that are not UTF-8).
    const utf8 = { page_views: 1, tags: { page: '/café/東京/🌊', name: 'x'.repeat(80) + 'é', odd: 'a\uFFFDb', __proto_: 'a tag name like any' } }
    for (const [type, data] of [
      [JSON_TYPE, Buffer.from(JSON.stringify(utf8))],
      [MSGPACK, pack(utf8)],
    ] as const) {
      const response = await fetch(`${stack.url}${METRICS}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${good.ingestToken}`, 'content-type': type },
        body: new Uint8Array(data),
      })
      expect(response.status, type).toBe(200)
    }
    // msgpackr records (a Packr with its default useRecords) decode to the same beacons.
    const records = await fetch(`${stack.url}${METRICS}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${good.ingestToken}`, 'content-type': MSGPACK },
      body: new Uint8Array(new Packr().pack(list)),
    })
    expect(await records.json()).toEqual({ accepted: 4, beacons: 2 })
    expect(await stack.waitForRows(good.id, 30)).toBe(30)
  })
})
