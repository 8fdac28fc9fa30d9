// Ingest's fast paths against the general way they stand in for. The msgpack reader
// (ingest/msgpack-beacons.ts) against msgpackr with the guard (body-formats.ts), the compiled schema
// (ajv, as fastify runs it) and beaconsToSamples: whatever it accepts, the general way must accept
// with the very same samples. bodyPasses (ingest/beacon-rules.ts) against ajv on parsed bodies:
// whatever it clears, ajv must accept. What they decline goes the general way, which names the
// problem. Checked on every body of the bad-input battery (msgpack as sent, JSON and NDJSON ones
// packed as msgpack), on fuzzed beacons around every edge the schema has, and on bodies with bytes
// changed at random.
import zlib from 'node:zlib'
import type { FastifyRequest } from 'fastify'
import { FLOAT32_OPTIONS, Packr, pack } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { MetricsBodySchema, MAX_FUTURE_SKEW_MS, MIN_TIMESTAMP_MS, validatorCompiler, type Sample } from '../../engine/index.ts'
import { bodyPasses } from '../../ingest/beacon-rules.ts'
import { beaconsToSamples } from '../../ingest/beacon-samples.ts'
import { msgpackReader } from '../../ingest/body-formats.ts'
import { readMsgpackBeacons } from '../../ingest/msgpack-beacons.ts'
import { BATTERIES, CACHE, JSON_TYPE, MSGPACK, NDJSON } from '../fixtures/bad-input-cases.ts'

const validate = validatorCompiler({ schema: MetricsBodySchema, httpPart: 'body', method: 'POST', url: '/api/v2/analytics/metrics' }) as (data: unknown) => boolean
/** A request of a route without the fast path: msgpackReader then reads the general way. */
const generalRoute = { routeOptions: { config: {} } } as unknown as FastifyRequest
const TENANT = 't_fuzz'
const NOW = Date.now()

/** The general way's samples, or undefined where it answers 4xx. */
function general(body: Uint8Array): Sample[] | undefined {
  let value: unknown
  try {
    value = msgpackReader(generalRoute, Buffer.from(body))
  } catch {
    return undefined
  }
  if (!validate(value)) return undefined
  const result = beaconsToSamples(TENANT, value as never, NOW)
  return result.length > 0 && !Array.isArray(result[0]) ? undefined : (result as Sample[])
}

function fast(body: Uint8Array): Sample[] | undefined {
  return readMsgpackBeacons(Buffer.from(body))?.stamp(TENANT, NOW)
}

/** Asserts bodyPasses clears only what ajv accepts; says whether it cleared it. */
function cleared(value: unknown, label: string): boolean {
  if (!bodyPasses(value)) return false
  expect(validate(value), label).toBe(true)
  return true
}

/** Asserts the two ways agree on one body; says whether the fast path took it. */
function agree(body: Uint8Array, label: string): boolean {
  const quick = fast(body)
  if (quick === undefined) return false
  expect(general(body), label).toStrictEqual(quick.map((s) => [...s.slice(0, 4), s[4] === null ? null : { ...s[4] }, s[5]]))
  return true
}

/** mulberry32: a fixed seed, so a failure names a case that can be run again. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('the msgpack reader and bodyPasses', () => {
  it('reads the bench body (1,000 beacons of two metrics with tags) to the samples the general way makes', () => {
    const list = Array.from({ length: 1000 }, (_, i) => ({ page_views: 1, load_time: i % 1000, tags: { page: `/p${i % 50}` } }))
    expect(agree(pack(list), 'bench body')).toBe(true)
    const read = readMsgpackBeacons(pack(list))
    expect(read?.beacons).toBe(1000)
    expect(read?.batch).toBe(true)
    // body() is the value the general way reads: the Idempotency-Key digest and a 503's notDurable come from it.
    expect(read?.body()).toEqual(msgpackReader(generalRoute, pack(list)))
  })

  it('takes one beacon (a map) and a beacon with a ts, stamping the others with the receive time', () => {
    const samples = fast(pack({ cpu_usage: 12.5, tags: { host: 'a' } }))
    expect(samples).toEqual([[TENANT, 'cpu_usage', NOW, 12.5, { host: 'a' }, NOW]])
    expect(readMsgpackBeacons(pack({ cpu_usage: 1 }))?.batch).toBe(false)
    expect(agree(pack([{ page_views: 3, ts: NOW - 1000 }, { page_views: 4 }]), 'ts')).toBe(true)
  })

  it('leaves a ts too far ahead to beaconsToSamples, which names it', () => {
    const read = readMsgpackBeacons(pack({ page_views: 1, ts: NOW + MAX_FUTURE_SKEW_MS + 1 }))
    expect(read).toBeDefined()
    expect(read?.stamp(TENANT, NOW)).toBeUndefined()
    expect(general(pack({ page_views: 1, ts: NOW + MAX_FUTURE_SKEW_MS + 1 }))).toBeUndefined()
  })

  it('declines what msgpackr would read differently from the bytes: a key given twice, float32, a string ts', () => {
    // {page_views: 1, page_views: 2}: msgpackr keeps the last value.
    const twice = Buffer.concat([Buffer.from([0x82, 0xaa]), Buffer.from('page_views'), Buffer.from([0x01, 0xaa]), Buffer.from('page_views'), Buffer.from([0x02])])
    expect(readMsgpackBeacons(twice)).toBeUndefined()
    expect(general(twice)).toEqual([[TENANT, 'page_views', NOW, 2, null, NOW]])
    expect(readMsgpackBeacons(new Packr({ useFloat32: FLOAT32_OPTIONS.ALWAYS }).pack({ load_time: 1.5 }))).toBeUndefined()
    expect(readMsgpackBeacons(pack({ page_views: 1, ts: new Date(NOW).toISOString() }))).toBeUndefined()
    expect(general(pack({ page_views: 1, ts: new Date(NOW).toISOString() }))).toHaveLength(1)
  })

  it('accept none of the bad-input battery bodies the general way refuses (msgpack as sent, JSON and NDJSON parsed and packed)', () => {
    let bodies = 0
    for (const [title, cases] of BATTERIES) {
      for (const c of cases) {
        if (c.route === CACHE) continue
        let raw: Uint8Array | string
        try {
          raw = c.body()
        } catch {
          continue
        }
        const bytes = typeof raw === 'string' ? Buffer.from(raw) : Buffer.from(raw)
        const candidates: Uint8Array[] = []
        let decoded = bytes
        if (c.headers?.['content-encoding'] === 'gzip') {
          try {
            decoded = zlib.gunzipSync(bytes, { maxOutputLength: 2 * 1024 * 1024 })
          } catch {
            continue
          }
        }
        const type = c.type === undefined ? JSON_TYPE : c.type
        if (type === MSGPACK) candidates.push(decoded)
        // The same values sent as msgpack, where they survive JSON parsing: every value and name case of the battery.
        try {
          if (type === JSON_TYPE || type === null) {
            const parsed: unknown = JSON.parse(decoded.toString('utf8'))
            cleared(parsed, `${title}: ${c.name} (JSON)`)
            candidates.push(pack(parsed))
          }
          if (type === NDJSON) {
            const lines = decoded.toString('utf8').split('\n').filter((l) => l.trim() !== '')
            const parsed: unknown[] = lines.map((l) => JSON.parse(l))
            cleared(parsed, `${title}: ${c.name} (NDJSON)`)
            candidates.push(pack(parsed))
          }
        } catch {
          // not JSON: a case about the text itself
        }
        for (const body of candidates) {
          bodies++
          const label = `${title}: ${c.name}`
          const quick = fast(body)
          if (quick === undefined) continue
          // The battery's request is refused for its headers, its credential or its encoding, never for this body.
          expect(agree(body, label), label).toBe(true)
        }
      }
    }
    expect(bodies).toBeGreaterThan(120)
  })

  it('agree with the schema on 20,000 fuzzed bodies around every edge it has, and take the valid ones of their shape', () => {
    const rnd = random(20261122)
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)] as T
    const names = ['page_views', 'load_time', 'cpu_usage', 'cache_size_bytes', 'cache_size_kb', 'checkout_time', 'queue_depth', 'api_hits', 'err_rate', 'x_bytes', 'ts_count', 'constructor', 'toString', 'a', 'm'.repeat(63), 'm'.repeat(64), 'Bad', '1x', 'a.b', '__proto__', 'with space', 'é', '']
    const values: readonly unknown[] = [0, -0, 1, -1, 0.5, 99.5, 100, 100.5, 255, 65_536, 2 ** 31, -(2 ** 31) - 1, 2 ** 32 + 1, 86_400_000, 86_400_001, 1e15, 1e15 + 2, -1e15, -1e15 - 2, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, Number.NaN, Infinity, -Infinity, '1', null, true, {}]
    const stamps: readonly unknown[] = [undefined, NOW - 1000, MIN_TIMESTAMP_MS, MIN_TIMESTAMP_MS - 1, 4_102_444_800_000, 4_102_444_800_001, NOW + MAX_FUTURE_SKEW_MS + 60_000, NOW + 60_000, NOW - 0.5, '2024-01-01T00:00:00Z', 'noon', Number.NaN, null]
    const tagSets: readonly unknown[] = [
      undefined,
      {},
      { page: '/p1' },
      { page: '/p2', host: 'h1' },
      { metric: 'x' },
      { 'Bad-name.x': 'y' },
      { '9x': 'y' },
      { a: 'x'.repeat(256) },
      { a: 'x'.repeat(257) },
      { a: 'é'.repeat(128) },
      { a: 'é'.repeat(200) },
      { a: '東京🌊' },
      { a: 1 },
      { __proto_: 'v' },
      Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, 'v'])),
      Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`t${i}`, 'v'])),
      null,
      'tags',
    ]
    const beacon = (): Record<string, unknown> => {
      const b: Record<string, unknown> = {}
      const metrics = rnd() < 0.03 ? 65 : Math.floor(rnd() * 4)
      for (let i = 0; i < metrics; i++) b[metrics > 3 ? `m${i}` : pick(names)] = rnd() < 0.7 ? pick([1, 2, 50, 0.25, 420]) : pick(values)
      const ts = rnd() < 0.3 ? pick(stamps) : undefined
      if (ts !== undefined) b.ts = ts
      const tags = rnd() < 0.6 ? pick(tagSets) : undefined
      if (tags !== undefined) b.tags = tags
      return b
    }
    const float32 = new Packr({ useFloat32: FLOAT32_OPTIONS.ALWAYS })
    let taken = 0
    let valid = 0
    let passed = 0
    for (let n = 0; n < 20_000; n++) {
      const count = rnd() < 0.2 ? 0 : Math.ceil(rnd() * 5)
      const value = count === 0 ? beacon() : Array.from({ length: count }, beacon)
      // The value itself, as a parsed JSON body would come (JSON has no NaN: the schema must refuse it anyway).
      if (cleared(value, `fuzz value ${n}: ${JSON.stringify(value).slice(0, 400)}`)) passed++
      let body: Uint8Array = rnd() < 0.05 ? float32.pack(value) : pack(value)
      // Bytes changed, cut or added at random: a body msgpackr may read as something else, or not at all.
      if (rnd() < 0.2) {
        const copy = Buffer.from(body)
        const at = Math.floor(rnd() * copy.length)
        const kind = rnd()
        if (kind < 0.6) copy[at] = Math.floor(rnd() * 256)
        body = kind < 0.6 ? copy : kind < 0.8 ? copy.subarray(0, at) : Buffer.concat([copy, Buffer.from([Math.floor(rnd() * 256)])])
      }
      const label = `fuzz case ${n}: ${Buffer.from(body).toString('hex').slice(0, 400)}`
      if (agree(body, label)) taken++
      if (general(body) !== undefined) valid++
    }
    // Not vacuous: most bodies the schema takes, the fast path takes too (it declines ISO ts, float32, non-ASCII tag bytes over the limit).
    expect(taken).toBeGreaterThan(valid * 0.6)
    expect(taken).toBeGreaterThan(500)
    // bodyPasses leaves beacons without a metric to ajv and beaconsToSamples too: compared with what the general way takes.
    expect(passed).toBeGreaterThan(valid * 0.6)
    expect(passed).toBeGreaterThan(500)
  })
})
