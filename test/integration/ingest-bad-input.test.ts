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

const METRICS = '/api/v2/analytics/metrics'
const CACHE = '/api/v2/analytics/cache'
const JSON_TYPE = 'application/json'
const NDJSON = 'application/x-ndjson'
const MSGPACK = 'application/msgpack'
const MIB = 1024 * 1024

let stack: Stack
let tenant: CreatedTenant
let jsm: JetStreamManager

beforeAll(async () => {
  stack = await startStack()
  tenant = await stack.createTenant('bad-input')
  jsm = await jetstreamManager(stack.tidemark.runtime.nc)
})
afterAll(async () => stack?.stop())

type Body = string | Uint8Array
type Credential = 'ingest' | 'api' | 'admin' | 'unknown' | 'none' | 'basic'

interface Case {
  name: string
  route?: typeof METRICS | typeof CACHE
  /** Built when the case runs: some are megabytes. */
  body: () => Body
  type?: string | null
  headers?: Record<string, string>
  credential?: Credential
  status: number
  code: string
  /** What the message must say: the field or part of the request that is wrong. */
  says: RegExp
  /** Fields `fields` must name (a TM_INGEST_INVALID_BEACON). */
  fields?: string[]
}

const json = (value: unknown) => () => JSON.stringify(value)
const ndjson = (list: unknown[]) => () => list.map((b) => JSON.stringify(b)).join('\n')
const msgpack = (value: unknown) => () => pack(value)
const beacons = (n: number) => Array.from({ length: n }, (_, i) => ({ page_views: 1, load_time: i, tags: { page: `/p${i % 7}` } }))
const reports = (n: number) => Array.from({ length: n }, (_, i) => ({ hits: i, misses: 1, size_kb: 10 }))
const HOUR = 3_600_000
/** A msgpack map written byte by byte: msgpackr would not write a key named __proto__. */
const fixmap = (entries: [string, Buffer][]) =>
  Buffer.concat([Buffer.from([0x80 | entries.length]), ...entries.flatMap(([k, v]) => [Buffer.from([0xa0 | k.length]), Buffer.from(k), v])])
const fixstr = (bytes: Buffer) => Buffer.concat([Buffer.from([0xa0 | bytes.length]), bytes])
const str8 = (bytes: Buffer) => Buffer.concat([Buffer.from([0xd9, bytes.length]), bytes])
/** "caf" + 0xff + "e": not UTF-8. */
const NOT_UTF8 = Buffer.from([0x63, 0x61, 0x66, 0xff, 0x65])
const concat = (...parts: (string | Buffer)[]) => () => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)))
/** Over 1 MiB of valid beacons in each body type. */
const overLimit = (n = 8000) => beacons(n).map((b, i) => ({ ...b, tags: { page: `/p${i}`.padEnd(120, 'x') } }))
const bomb = () => zlib.gzipSync(Buffer.alloc(8 * MIB, 0x20))

const CREDENTIAL_CASES: Case[] = [
  { name: 'no Authorization header', credential: 'none', body: json({ page_views: 1 }), status: 401, code: 'TM_HTTP_UNAUTHORIZED', says: /Authorization: Bearer/ },
  { name: 'an unknown bearer token', credential: 'unknown', body: json({ page_views: 1 }), status: 401, code: 'TM_HTTP_UNAUTHORIZED', says: /unknown credential/ },
  { name: 'a Basic credential', credential: 'basic', body: json({ page_views: 1 }), status: 401, code: 'TM_HTTP_UNAUTHORIZED', says: /Bearer/ },
  { name: 'the admin token', credential: 'admin', body: json({ page_views: 1 }), status: 401, code: 'TM_HTTP_UNAUTHORIZED', says: /credential/ },
  { name: "the tenant's apiKey", credential: 'api', body: json({ page_views: 1 }), status: 403, code: 'TM_HTTP_FORBIDDEN', says: /ingestToken/ },
]

const TYPE_AND_ENCODING_CASES: Case[] = [
  { name: 'Content-Type text/plain', type: 'text/plain', body: json({ page_views: 1 }), status: 415, code: 'TM_HTTP_UNSUPPORTED_MEDIA_TYPE', says: /"text\/plain".*application\/x-ndjson, application\/msgpack/ },
  { name: 'Content-Type application/xml', type: 'application/xml', body: () => '<page_views>1</page_views>', status: 415, code: 'TM_HTTP_UNSUPPORTED_MEDIA_TYPE', says: /"application\/xml"/ },
  { name: 'Content-Type form-urlencoded', type: 'application/x-www-form-urlencoded', body: () => 'page_views=1', status: 415, code: 'TM_HTTP_UNSUPPORTED_MEDIA_TYPE', says: /"application\/x-www-form-urlencoded"/ },
  { name: 'no Content-Type', type: null, body: () => Buffer.from('{"page_views": 1}'), status: 415, code: 'TM_HTTP_UNSUPPORTED_MEDIA_TYPE', says: /none given/ },
  { name: 'Content-Encoding compress', headers: { 'content-encoding': 'compress' }, body: () => zlib.gzipSync('{"page_views":1}'), status: 415, code: 'TM_HTTP_UNSUPPORTED_ENCODING', says: /"compress"/ },
  { name: 'Content-Encoding zstd', headers: { 'content-encoding': 'zstd' }, body: () => zlib.gzipSync('{"page_views":1}'), status: 415, code: 'TM_HTTP_UNSUPPORTED_ENCODING', says: /"zstd"/ },
  { name: 'Content-Encoding "gzip, br" (two encodings)', headers: { 'content-encoding': 'gzip, br' }, body: () => zlib.gzipSync('{"page_views":1}'), status: 415, code: 'TM_HTTP_UNSUPPORTED_ENCODING', says: /"gzip, br"/ },
  { name: 'gzip garbage: a plain body labelled gzip', headers: { 'content-encoding': 'gzip' }, body: json({ page_views: 1 }), status: 400, code: 'TM_HTTP_INVALID_ENCODING', says: /gzip/ },
  { name: 'deflate garbage', headers: { 'content-encoding': 'deflate' }, body: () => Buffer.from([1, 2, 3, 4, 5, 6]), status: 400, code: 'TM_HTTP_INVALID_ENCODING', says: /deflate/ },
  { name: 'br garbage', headers: { 'content-encoding': 'br' }, body: () => Buffer.from('not brotli at all'), status: 400, code: 'TM_HTTP_INVALID_ENCODING', says: /br/ },
  { name: 'a truncated gzip stream (msgpack inside)', type: MSGPACK, headers: { 'content-encoding': 'gzip' }, body: () => zlib.gzipSync(pack(beacons(3))).subarray(0, 12), status: 400, code: 'TM_HTTP_INVALID_ENCODING', says: /gzip/ },
]

const HEADER_CASES: Case[] = [
  { name: 'an empty Idempotency-Key', headers: { 'idempotency-key': ' ' }, body: json({ page_views: 1 }), status: 400, code: 'TM_INGEST_IDEMPOTENCY_KEY_INVALID', says: /Idempotency-Key must be 1 to 255 printable ASCII/ },
  { name: 'an Idempotency-Key of 256 characters', headers: { 'idempotency-key': 'k'.repeat(256) }, body: json({ page_views: 1 }), status: 400, code: 'TM_INGEST_IDEMPOTENCY_KEY_INVALID', says: /Idempotency-Key/ },
  { name: 'an Idempotency-Key with a bad beacon (validation first: the key is not spent)', headers: { 'idempotency-key': 'bad-input-1' }, body: json({ page_views: -1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views must be >= 0/, fields: ['page_views'] },
]

const SIZE_CASES: Case[] = [
  { name: 'a JSON body over 1 MiB', body: () => JSON.stringify(overLimit()), status: 413, code: 'TM_HTTP_BODY_TOO_LARGE', says: /body is larger than the 1048576 bytes/ },
  { name: 'an NDJSON body over 1 MiB', type: NDJSON, body: () => ndjson(overLimit())(), status: 413, code: 'TM_HTTP_BODY_TOO_LARGE', says: /body is larger than the 1048576 bytes/ },
  { name: 'a msgpack body over 1 MiB', type: MSGPACK, body: () => pack(overLimit(9000)), status: 413, code: 'TM_HTTP_BODY_TOO_LARGE', says: /body is larger than the 1048576 bytes/ },
  { name: 'a gzip bomb (64 MiB of JSON whitespace)', headers: { 'content-encoding': 'gzip' }, body: () => zlib.gzipSync(Buffer.alloc(64 * MIB, ' ')), status: 413, code: 'TM_HTTP_BODY_TOO_LARGE', says: /1048576 bytes/ },
  { name: 'a gzip bomb as NDJSON', type: NDJSON, headers: { 'content-encoding': 'gzip' }, body: bomb, status: 413, code: 'TM_HTTP_BODY_TOO_LARGE', says: /1048576 bytes/ },
  { name: 'a gzip bomb as msgpack', type: MSGPACK, headers: { 'content-encoding': 'gzip' }, body: bomb, status: 413, code: 'TM_HTTP_BODY_TOO_LARGE', says: /1048576 bytes/ },
  { name: 'a br bomb', headers: { 'content-encoding': 'br' }, body: () => zlib.brotliCompressSync(Buffer.alloc(8 * MIB, 0x20)), status: 413, code: 'TM_HTTP_BODY_TOO_LARGE', says: /1048576 bytes/ },
  { name: 'a deflate bomb', headers: { 'content-encoding': 'deflate' }, body: () => zlib.deflateSync(Buffer.alloc(8 * MIB, 0x20)), status: 413, code: 'TM_HTTP_BODY_TOO_LARGE', says: /1048576 bytes/ },
  { name: 'a JSON batch of 1,001 beacons', body: json(beacons(1001)), status: 413, code: 'TM_INGEST_TOO_MANY_BEACONS', says: /more than 1000 beacons/ },
  { name: 'an NDJSON batch of 1,001 beacons', type: NDJSON, body: ndjson(beacons(1001)), status: 413, code: 'TM_INGEST_TOO_MANY_BEACONS', says: /more than 1000 beacons/ },
  { name: 'a msgpack batch of 1,001 beacons', type: MSGPACK, body: msgpack(beacons(1001)), status: 413, code: 'TM_INGEST_TOO_MANY_BEACONS', says: /more than 1000 beacons/ },
  { name: 'an empty JSON batch', body: json([]), status: 400, code: 'TM_INGEST_EMPTY_BATCH', says: /no beacon/ },
  { name: 'an empty NDJSON batch (blank lines only)', type: NDJSON, body: () => '\n \r\n', status: 400, code: 'TM_INGEST_EMPTY_BATCH', says: /no beacon/ },
  { name: 'an empty msgpack batch', type: MSGPACK, body: msgpack([]), status: 400, code: 'TM_INGEST_EMPTY_BATCH', says: /no beacon/ },
  { name: 'an empty JSON body', body: () => '', status: 400, code: 'TM_HTTP_INVALID_JSON', says: /empty/ },
  { name: 'an empty msgpack body', type: MSGPACK, body: () => new Uint8Array(0), status: 400, code: 'TM_INGEST_INVALID_MSGPACK', says: /empty/ },
  { name: 'an empty beacon {}', body: json({}), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /\(body\)/, fields: ['(body)'] },
  { name: 'a beacon of tags alone', body: json({ tags: { a: 'b' } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /has no metric/, fields: ['(body)'] },
  {
    name: 'a beacon of 66 metrics (at most 64)',
    body: json(Object.fromEntries(Array.from({ length: 66 }, (_, i) => [`m_${i}`, i]))),
    status: 400,
    code: 'TM_INGEST_INVALID_BEACON',
    says: /66 metrics: at most 64/,
  },
]

const MALFORMED_CASES: Case[] = [
  { name: 'truncated JSON', body: () => '[{"page_views": 1}, {"page_vi', status: 400, code: 'TM_HTTP_INVALID_JSON', says: /not valid JSON/ },
  { name: 'JSON with a trailing comma', body: () => '{"page_views": 1,}', status: 400, code: 'TM_HTTP_INVALID_JSON', says: /not valid JSON/ },
  { name: 'JSON NaN', body: () => '{"page_views": NaN}', status: 400, code: 'TM_HTTP_INVALID_JSON', says: /not valid JSON/ },
  { name: 'JSON Infinity', body: () => '{"load_time": Infinity}', status: 400, code: 'TM_HTTP_INVALID_JSON', says: /not valid JSON/ },
  { name: 'two JSON values', body: () => '{"page_views": 1}{"page_views": 2}', status: 400, code: 'TM_HTTP_INVALID_JSON', says: /not valid JSON/ },
  { name: 'truncated NDJSON (the last line cut)', type: NDJSON, body: () => '{"page_views": 1}\n{"page_views": 2}\n{"page_vi', status: 400, code: 'TM_INGEST_INVALID_NDJSON', says: /line 3: / },
  { name: 'an NDJSON line that is not JSON', type: NDJSON, body: () => '{"page_views": 1}\n\n{"page_views": 1,\n', status: 400, code: 'TM_INGEST_INVALID_NDJSON', says: /^The body is not valid NDJSON: line 3: / },
  { name: 'an NDJSON line holding an array', type: NDJSON, body: () => '{"page_views": 1}\n[{"page_views": 1}]', status: 400, code: 'TM_INGEST_INVALID_NDJSON', says: /line 2: a line must hold one beacon/ },
  { name: 'an NDJSON line holding a number', type: NDJSON, body: () => '{"page_views": 1}\n42', status: 400, code: 'TM_INGEST_INVALID_NDJSON', says: /line 2: a line must hold one beacon/ },
  { name: 'an NDJSON line with __proto__', type: NDJSON, body: () => '{"page_views": 1}\n{"__proto__": {"x": 1}, "page_views": 1}', status: 400, code: 'TM_INGEST_INVALID_NDJSON', says: /line 2: .*prototype/ },
  { name: 'truncated msgpack', type: MSGPACK, body: () => pack(beacons(10)).subarray(0, -5), status: 400, code: 'TM_INGEST_INVALID_MSGPACK', says: /truncated/ },
  { name: 'msgpack with bytes after the value', type: MSGPACK, body: () => Buffer.concat([pack(beacons(10)), Buffer.from([0xc0])]), status: 400, code: 'TM_INGEST_INVALID_MSGPACK', says: /ends at byte \d+ and 1 more bytes follow/ },
  { name: 'msgpack with the never-used byte 0xc1 as a value', type: MSGPACK, body: () => Buffer.from([0x81, 0xaa, ...Buffer.from('page_views'), 0xc1]), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views must be integer/, fields: ['page_views'] },
  { name: 'a JSON body that is a string', body: json('page_views'), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /\(body\) must be object,array/, fields: ['(body)'] },
  { name: 'a JSON body that is null', body: () => 'null', status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /\(body\)/, fields: ['(body)'] },
  { name: 'a JSON batch of numbers', body: json([1, 2]), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /\[0\] must be object/, fields: ['[0]', '[1]'] },
  { name: 'a msgpack body that is a number', type: MSGPACK, body: msgpack(5), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /\(body\) must be object,array/, fields: ['(body)'] },
  { name: 'invalid UTF-8 in a JSON tag value', body: concat('{"page_views": 1, "tags": {"page": "', NOT_UTF8, '"}}'), status: 400, code: 'TM_HTTP_INVALID_JSON', says: /UTF-8/ },
  { name: 'invalid UTF-8 in a JSON key', body: concat('{"', NOT_UTF8, '": 1}'), status: 400, code: 'TM_HTTP_INVALID_JSON', says: /UTF-8/ },
  { name: 'invalid UTF-8 on an NDJSON line', type: NDJSON, body: concat('{"page_views": 1}\n{"page_views": 1, "tags": {"page": "', NOT_UTF8, '"}}'), status: 400, code: 'TM_INGEST_INVALID_NDJSON', says: /line 2: .*UTF-8/ },
  {
    name: 'invalid UTF-8 in a msgpack tag value',
    type: MSGPACK,
    body: () => fixmap([['page_views', Buffer.from([0x01])], ['tags', fixmap([['page', fixstr(NOT_UTF8)]])]]),
    status: 400,
    code: 'TM_INGEST_INVALID_MSGPACK',
    says: /UTF-8/,
  },
  {
    name: 'invalid UTF-8 in a long msgpack tag value',
    type: MSGPACK,
    body: () => fixmap([['page_views', Buffer.from([0x01])], ['tags', fixmap([['page', str8(Buffer.concat([Buffer.alloc(100, 0x61), NOT_UTF8]))]])]]),
    status: 400,
    code: 'TM_INGEST_INVALID_MSGPACK',
    says: /UTF-8/,
  },
  { name: 'JSON nested 100,000 deep', body: () => `{"page_views": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`, status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views must be integer/, fields: ['page_views'] },
  { name: 'JSON tags nested deep', body: () => `{"page_views": 1, "tags": {"a": ${'{"a": '.repeat(10_000)}1${'}'.repeat(10_000)}}}`, status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags\.a must be string/, fields: ['tags.a'] },
  { name: 'msgpack nested 1,000,000 deep', type: MSGPACK, body: () => Buffer.alloc(MIB - 1, 0x91), status: 400, code: 'TM_INGEST_INVALID_MSGPACK', says: /nests deeper than 8 levels/ },
  { name: 'msgpack nested 100 deep in tags', type: MSGPACK, body: () => Buffer.concat([Buffer.from([0x82, 0xa1, 0x61, 0x01, 0xa4]), Buffer.from('tags'), Buffer.alloc(100, 0x91), Buffer.from([0x01])]), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags must be object/, fields: ['tags'] },
  { name: 'msgpack nested 1,000,000 deep in tags', type: MSGPACK, body: () => Buffer.concat([Buffer.from([0x82, 0xa1, 0x61, 0x01, 0xa4]), Buffer.from('tags'), Buffer.alloc(MIB - 16, 0x91)]), status: 400, code: 'TM_INGEST_INVALID_MSGPACK', says: /nests deeper than 8 levels/ },
]

const VALUE_CASES: Case[] = [
  { name: 'the seed: page_views "abc" and load_time -1', body: json({ page_views: 'abc', load_time: -1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views must be integer.*load_time must be >= 0/, fields: ['page_views', 'load_time'] },
  { name: 'a count as a string "150"', body: json({ page_views: '150' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views must be integer/, fields: ['page_views'] },
  { name: 'a gauge as a string "1.5"', body: json({ queue_depth: '1.5' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /queue_depth must be number/, fields: ['queue_depth'] },
  { name: 'a value true', body: json({ page_views: true }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views must be integer/, fields: ['page_views'] },
  { name: 'a value null', body: json({ queue_depth: null }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /queue_depth must be number/, fields: ['queue_depth'] },
  { name: 'a value that is an object', body: json({ queue_depth: { value: 1 } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /queue_depth must be number/, fields: ['queue_depth'] },
  { name: 'a value that is an array', body: json({ queue_depth: [1] }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /queue_depth must be number/, fields: ['queue_depth'] },
  { name: 'a negative count', body: json({ page_views: -1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views must be >= 0/, fields: ['page_views'] },
  { name: 'a fractional count', body: json({ page_views: 1.5 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views must be integer/, fields: ['page_views'] },
  { name: 'a count past 2^53', body: () => '{"page_views": 1e20}', status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views must be <= 9007199254740991/, fields: ['page_views'] },
  { name: 'a count of 1e308', body: () => '{"page_views": 1e308}', status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views must be <=/, fields: ['page_views'] },
  { name: 'a JSON number that overflows to Infinity (1e999)', body: () => '{"queue_depth": 1e999}', status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /queue_depth/, fields: ['queue_depth'] },
  { name: 'a duration over a day', body: json({ load_time: 86_400_001 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /load_time must be <= 86400000/, fields: ['load_time'] },
  { name: 'a percentage of 101', body: json({ cpu_usage: 101 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /cpu_usage must be <= 100/, fields: ['cpu_usage'] },
  { name: 'a negative size in bytes (by suffix)', body: json({ heap_bytes: -5 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /heap_bytes must be >= 0/, fields: ['heap_bytes'] },
  { name: 'a huge gauge (1e16)', body: json({ queue_depth: 1e16 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /queue_depth must be <= 1000000000000000/, fields: ['queue_depth'] },
  { name: 'a huge negative gauge (-1e16)', body: json({ queue_depth: -1e16 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /queue_depth must be >= -1000000000000000/, fields: ['queue_depth'] },
  { name: 'msgpack NaN as a gauge', type: MSGPACK, body: msgpack({ queue_depth: NaN }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /queue_depth must be number/, fields: ['queue_depth'] },
  { name: 'msgpack NaN as a duration', type: MSGPACK, body: msgpack({ load_time: NaN }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /load_time must be number/, fields: ['load_time'] },
  { name: 'msgpack NaN as a percentage', type: MSGPACK, body: msgpack({ cpu_usage: NaN }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /cpu_usage must be number/, fields: ['cpu_usage'] },
  { name: 'msgpack NaN as a count', type: MSGPACK, body: msgpack({ page_views: NaN }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views must be integer/, fields: ['page_views'] },
  { name: 'msgpack Infinity as a gauge', type: MSGPACK, body: msgpack({ queue_depth: Infinity }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /queue_depth must be/, fields: ['queue_depth'] },
  { name: 'msgpack -Infinity as a gauge', type: MSGPACK, body: msgpack({ queue_depth: -Infinity }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /queue_depth must be/, fields: ['queue_depth'] },
  { name: 'msgpack Infinity as a duration', type: MSGPACK, body: msgpack({ load_time: Infinity }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /load_time must be/, fields: ['load_time'] },
  { name: 'msgpack uint64 max as a count', type: MSGPACK, body: () => Buffer.from([0x81, 0xaa, ...Buffer.from('page_views'), 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views must be <=/, fields: ['page_views'] },
  { name: 'a msgpack string value', type: MSGPACK, body: msgpack({ page_views: '1' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views must be integer/, fields: ['page_views'] },
  { name: 'a msgpack binary value', type: MSGPACK, body: msgpack({ queue_depth: Buffer.from('x') }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /queue_depth must be number/, fields: ['queue_depth'] },
  { name: 'a NDJSON line with a string value', type: NDJSON, body: ndjson([{ page_views: 1 }, { page_views: '2' }]), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /\[1\]\.page_views must be integer/, fields: ['[1].page_views'] },
]

const NAME_CASES: Case[] = [
  { name: 'an empty metric name', body: json({ '': 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /"" is not a valid name/ },
  { name: 'an upper-case metric name', body: json({ Page_Views: 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /Page_Views is not a valid name/, fields: ['Page_Views'] },
  { name: 'a metric name with a dot', body: json({ 'page.views': 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page\.views is not a valid name/ },
  { name: 'a metric name with a dash', body: json({ 'page-views': 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page-views is not a valid name/, fields: ['page-views'] },
  { name: 'a metric name with a space', body: json({ 'page views': 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page views is not a valid name/, fields: ['page views'] },
  { name: 'a metric name of 64 characters (at most 63)', body: json({ ['m'.repeat(64)]: 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /m{64} is not a valid name/, fields: ['m'.repeat(64)] },
  { name: 'a metric name starting with a digit', body: json({ '1st_paint': 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /1st_paint is not a valid name/, fields: ['1st_paint'] },
  { name: 'a metric name starting with an underscore', body: json({ _private: 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /_private is not a valid name/, fields: ['_private'] },
  { name: 'a non-ASCII metric name', body: json({ 'pagé_views': 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /pagé_views is not a valid name/, fields: ['pagé_views'] },
  // A metric named constructor is a plain lower-case name and is stored (ingest-hostile checks its kind stays right);
  // what would reach a prototype is refused: __proto__ anywhere, and constructor holding prototype.
  { name: 'a JSON metric named __proto__', body: () => '{"__proto__": 1, "page_views": 1}', status: 400, code: 'TM_HTTP_INVALID_JSON', says: /prototype/ },
  { name: 'a JSON constructor.prototype', body: () => '{"constructor": {"prototype": {"x": 1}}, "page_views": 1}', status: 400, code: 'TM_HTTP_INVALID_JSON', says: /prototype/ },
  { name: 'a msgpack metric named __proto__', type: MSGPACK, body: () => fixmap([['__proto__', Buffer.from([0x01])], ['page_views', Buffer.from([0x01])]]), status: 400, code: 'TM_INGEST_INVALID_MSGPACK', says: /__proto__/ },
  { name: 'a metric named ts with a number is a timestamp, not a metric: a bare {ts} has none', body: json({ ts: Date.now() }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /has no metric/, fields: ['(body)'] },
]

const TAG_CASES: Case[] = [
  { name: 'a tag value that is a number', body: json({ page_views: 1, tags: { page: 1 } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags\.page must be string/, fields: ['tags.page'] },
  { name: 'a tag value that is null', body: json({ page_views: 1, tags: { page: null } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags\.page must be string/, fields: ['tags.page'] },
  { name: 'a tag value that is true', body: json({ page_views: 1, tags: { page: true } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags\.page must be string/, fields: ['tags.page'] },
  { name: 'a tag value that is an object', body: json({ page_views: 1, tags: { page: { path: '/' } } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags\.page must be string/, fields: ['tags.page'] },
  { name: 'a tag value that is an array', body: json({ page_views: 1, tags: { page: ['/'] } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags\.page must be string/, fields: ['tags.page'] },
  { name: 'tags that are an array', body: json({ page_views: 1, tags: ['page'] }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags must be object/, fields: ['tags'] },
  { name: 'tags that are a string', body: json({ page_views: 1, tags: 'page=/' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags must be object/, fields: ['tags'] },
  { name: 'tags that are null', body: json({ page_views: 1, tags: null }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags must be object/, fields: ['tags'] },
  { name: '17 tags (at most 16)', body: json({ page_views: 1, tags: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`t${i}`, 'v'])) }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags must NOT have more than 16 properties/, fields: ['tags'] },
  { name: 'a tag value of 257 characters (at most 256)', body: json({ page_views: 1, tags: { page: 'x'.repeat(257) } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags\.page must NOT have more than 256 characters/, fields: ['tags.page'] },
  { name: 'a tag name of 65 characters (at most 64)', body: json({ page_views: 1, tags: { ['t'.repeat(65)]: 'v' } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /t{65} is not a valid name/ },
  { name: 'a tag name with a space', body: json({ page_views: 1, tags: { 'my tag': 'v' } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags\.my tag is not a valid name/, fields: ['tags.my tag'] },
  { name: 'an empty tag name', body: json({ page_views: 1, tags: { '': 'v' } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags\."" is not a valid name/ },
  { name: 'a JSON tag named __proto__', body: () => '{"page_views": 1, "tags": {"__proto__": "x"}}', status: 400, code: 'TM_HTTP_INVALID_JSON', says: /prototype/ },
  { name: 'a msgpack tag named __proto__', type: MSGPACK, body: () => fixmap([['page_views', Buffer.from([0x01])], ['tags', fixmap([['__proto__', fixstr(Buffer.from('x'))]])]]), status: 400, code: 'TM_INGEST_INVALID_MSGPACK', says: /__proto__/ },
  { name: 'a msgpack tag value that is binary', type: MSGPACK, body: msgpack({ page_views: 1, tags: { page: Buffer.from('/') } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags\.page must be string/, fields: ['tags.page'] },
]

const now = Date.now()
const TIMESTAMP_CASES: Case[] = [
  { name: 'an epoch ts a millisecond before 2000', body: json({ page_views: 1, ts: 946_684_799_999 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /^Invalid beacon: ts /, fields: ['ts'] },
  { name: 'an ISO ts a millisecond before 2000', body: json({ page_views: 1, ts: '1999-12-31T23:59:59.999Z' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must not be before 2000-01-01/, fields: ['ts'] },
  { name: 'an ISO ts of 1969 (once overflowed the rollups)', body: json({ page_views: 1, ts: '1969-12-31T23:59:59Z' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must not be before 2000-01-01/, fields: ['ts'] },
  { name: 'an epoch ts in seconds, not milliseconds', body: json({ page_views: 1, ts: Math.floor(now / 1000) }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /^Invalid beacon: ts /, fields: ['ts'] },
  { name: 'a negative ts', body: json({ page_views: 1, ts: -1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /^Invalid beacon: ts /, fields: ['ts'] },
  { name: 'a ts of 0', body: json({ page_views: 1, ts: 0 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /^Invalid beacon: ts /, fields: ['ts'] },
  { name: 'an epoch ts a day ahead', body: json({ page_views: 1, ts: now + 24 * HOUR }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must not be more than 10 minutes in the future/, fields: ['ts'] },
  { name: 'an epoch ts after 2100', body: json({ page_views: 1, ts: 4_102_444_800_001 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /^Invalid beacon: ts /, fields: ['ts'] },
  { name: 'an ISO ts in 2999', body: json({ page_views: 1, ts: '2999-01-01T00:00:00Z' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must not be more than 10 minutes in the future/, fields: ['ts'] },
  { name: 'an ISO ts in 9999', body: json({ page_views: 1, ts: '9999-12-31T23:59:59Z' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must not be more than 10 minutes in the future/, fields: ['ts'] },
  { name: 'an epoch ts as a string', body: json({ page_views: 1, ts: String(now) }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must be epoch milliseconds or an ISO 8601 date-time/, fields: ['ts'] },
  { name: 'a fractional epoch ts', body: json({ page_views: 1, ts: now - 1000 + 0.5 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must be epoch milliseconds or an ISO 8601 date-time/, fields: ['ts'] },
  { name: 'a ts that is not a date', body: json({ page_views: 1, ts: 'yesterday' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must be epoch milliseconds or an ISO 8601 date-time/, fields: ['ts'] },
  { name: 'a ts of February 30th', body: json({ page_views: 1, ts: '2026-02-30T00:00:00Z' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must be epoch milliseconds or an ISO 8601 date-time/, fields: ['ts'] },
  { name: 'a ts at hour 25', body: json({ page_views: 1, ts: '2026-01-01T25:00:00Z' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must be epoch milliseconds or an ISO 8601 date-time/, fields: ['ts'] },
  { name: 'a date without a time', body: json({ page_views: 1, ts: '2026-01-01' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must be epoch milliseconds or an ISO 8601 date-time/, fields: ['ts'] },
  { name: 'an empty ts', body: json({ page_views: 1, ts: '' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must be epoch milliseconds or an ISO 8601 date-time/, fields: ['ts'] },
  { name: 'a ts that is true', body: json({ page_views: 1, ts: true }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must be epoch milliseconds or an ISO 8601 date-time/, fields: ['ts'] },
  { name: 'a msgpack NaN ts', type: MSGPACK, body: msgpack({ page_views: 1, ts: NaN }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must be epoch milliseconds or an ISO 8601 date-time/, fields: ['ts'] },
  { name: 'a msgpack timestamp extension ts (a Date)', type: MSGPACK, body: msgpack({ page_views: 1, ts: new Date(now - 1000) }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must be epoch milliseconds or an ISO 8601 date-time/, fields: ['ts'] },
]

const MIXED_CASES: Case[] = [
  {
    name: 'a JSON batch with one bad beacon among good ones',
    body: json([...beacons(3), { page_views: -1 }, ...beacons(3)]),
    status: 400,
    code: 'TM_INGEST_INVALID_BEACON',
    says: /\[3\]\.page_views must be >= 0/,
    fields: ['[3].page_views'],
  },
  {
    name: 'a JSON batch whose last beacon has a ts a day ahead',
    body: json([...beacons(5), { page_views: 1, ts: now + 24 * HOUR }]),
    status: 400,
    code: 'TM_INGEST_INVALID_BEACON',
    says: /\[5\]\.ts must not be more than 10 minutes in the future/,
    fields: ['[5].ts'],
  },
  { name: 'an NDJSON batch with one bad line', type: NDJSON, body: ndjson([...beacons(3), { page_views: 'x' }, ...beacons(3)]), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /\[3\]\.page_views must be integer/, fields: ['[3].page_views'] },
  { name: 'a msgpack batch with one bad beacon', type: MSGPACK, body: msgpack([...beacons(3), { cpu_usage: 200 }]), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /\[3\]\.cpu_usage must be <= 100/, fields: ['[3].cpu_usage'] },
  { name: 'a msgpack batch with one NaN among good beacons', type: MSGPACK, body: msgpack([...beacons(3), { queue_depth: NaN }]), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /\[3\]\.queue_depth must be number/, fields: ['[3].queue_depth'] },
  { name: 'a batch with a beacon that is an empty object', body: json([...beacons(2), {}]), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /\[2\]/, fields: ['[2]'] },
]

const cache = (c: Omit<Case, 'route'>): Case => ({ ...c, route: CACHE })
const CACHE_CASES: Case[] = [
  cache({ name: 'no credential', credential: 'none', body: json(reports(1)[0]), status: 401, code: 'TM_HTTP_UNAUTHORIZED', says: /Authorization: Bearer/ }),
  cache({ name: "the tenant's apiKey", credential: 'api', body: json(reports(1)[0]), status: 403, code: 'TM_HTTP_FORBIDDEN', says: /ingestToken/ }),
  cache({ name: 'Content-Type text/plain', type: 'text/plain', body: json(reports(1)[0]), status: 415, code: 'TM_HTTP_UNSUPPORTED_MEDIA_TYPE', says: /"text\/plain"/ }),
  cache({ name: 'a gzip bomb', headers: { 'content-encoding': 'gzip' }, body: () => zlib.gzipSync(Buffer.alloc(64 * MIB, ' ')), status: 413, code: 'TM_HTTP_BODY_TOO_LARGE', says: /1048576 bytes/ }),
  cache({ name: 'hits as a string', body: json({ hits: '5', misses: 1, size_kb: 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /hits must be integer/, fields: ['hits'] }),
  cache({ name: 'negative misses', body: json({ hits: 5, misses: -1, size_kb: 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /misses must be >= 0/, fields: ['misses'] }),
  cache({ name: 'fractional hits', body: json({ hits: 1.5, misses: 1, size_kb: 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /hits must be integer/, fields: ['hits'] }),
  cache({ name: 'hits past 2^53', body: () => '{"hits": 1e20, "misses": 1, "size_kb": 1}', status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /hits must be <= 9007199254740991/, fields: ['hits'] }),
  cache({ name: 'a negative size', body: json({ hits: 1, misses: 1, size_kb: -10 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /size_kb must be >= 0/, fields: ['size_kb'] }),
  cache({ name: 'msgpack NaN hits', type: MSGPACK, body: msgpack({ hits: NaN, misses: 1, size_kb: 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /hits must be integer/, fields: ['hits'] }),
  cache({ name: 'msgpack Infinity size', type: MSGPACK, body: msgpack({ hits: 1, misses: 1, size_kb: Infinity }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /size_kb must be/, fields: ['size_kb'] }),
  cache({ name: 'misses missing', body: json({ hits: 1, size_kb: 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /misses is required/, fields: ['misses'] }),
  cache({ name: 'every count missing', body: json({ name: 'redis' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /hits is required/, fields: ['hits', 'misses', 'size_kb'] }),
  cache({ name: 'an unknown field', body: json({ hits: 1, misses: 1, size_kb: 1, evictions: 3 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /evictions is not allowed here/, fields: ['evictions'] }),
  cache({ name: 'an empty name', body: json({ hits: 1, misses: 1, size_kb: 1, name: '' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /name must NOT have fewer than 1 characters/, fields: ['name'] }),
  cache({ name: 'a name of 257 characters', body: json({ hits: 1, misses: 1, size_kb: 1, name: 'n'.repeat(257) }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /name must NOT have more than 256 characters/, fields: ['name'] }),
  cache({ name: 'a name that is a number', body: json({ hits: 1, misses: 1, size_kb: 1, name: 7 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /name must be string/, fields: ['name'] }),
  cache({ name: 'a name that differs from tags.cache', body: json({ hits: 1, misses: 1, size_kb: 1, name: 'redis', tags: { cache: 'memcached' } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags\.cache differs from name/, fields: ['tags.cache'] }),
  cache({ name: 'a name beside 16 tags', body: json({ hits: 1, misses: 1, size_kb: 1, name: 'redis', tags: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, 'v'])) }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags has 16 tags and the name makes one more/, fields: ['tags'] }),
  cache({ name: 'a tag value that is a number', body: json({ hits: 1, misses: 1, size_kb: 1, tags: { region: 1 } }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /tags\.region must be string/, fields: ['tags.region'] }),
  cache({ name: 'invalid UTF-8 in a msgpack name', type: MSGPACK, body: () => fixmap([['hits', Buffer.from([0x01])], ['misses', Buffer.from([0x01])], ['size_kb', Buffer.from([0x01])], ['name', fixstr(NOT_UTF8)]]), status: 400, code: 'TM_INGEST_INVALID_MSGPACK', says: /UTF-8/ }),
  cache({ name: 'invalid UTF-8 in a JSON name', body: concat('{"hits": 1, "misses": 1, "size_kb": 1, "name": "', NOT_UTF8, '"}'), status: 400, code: 'TM_HTTP_INVALID_JSON', says: /UTF-8/ }),
  cache({ name: 'a msgpack key __proto__', type: MSGPACK, body: () => fixmap([['hits', Buffer.from([0x01])], ['misses', Buffer.from([0x01])], ['size_kb', Buffer.from([0x01])], ['__proto__', fixmap([])]]), status: 400, code: 'TM_INGEST_INVALID_MSGPACK', says: /__proto__/ }),
  cache({ name: 'a ts before 2000', body: json({ hits: 1, misses: 1, size_kb: 1, ts: '1999-12-31T23:59:59Z' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must not be before 2000-01-01/, fields: ['ts'] }),
  cache({ name: 'a ts a day ahead', body: json({ hits: 1, misses: 1, size_kb: 1, ts: now + 24 * HOUR }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must not be more than 10 minutes in the future/, fields: ['ts'] }),
  cache({ name: 'a negative ts', body: json({ hits: 1, misses: 1, size_kb: 1, ts: -1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /^Invalid beacon: ts /, fields: ['ts'] }),
  cache({ name: 'a ts that is not a date', body: json({ hits: 1, misses: 1, size_kb: 1, ts: 'noon' }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /ts must be epoch milliseconds or an ISO 8601 date-time/, fields: ['ts'] }),
  cache({ name: 'an empty batch', body: json([]), status: 400, code: 'TM_INGEST_EMPTY_BATCH', says: /no beacon/ }),
  cache({ name: 'an empty msgpack batch', type: MSGPACK, body: msgpack([]), status: 400, code: 'TM_INGEST_EMPTY_BATCH', says: /no beacon/ }),
  cache({ name: 'a batch of 1,001 reports', body: json(reports(1001)), status: 413, code: 'TM_INGEST_TOO_MANY_BEACONS', says: /more than 1000 beacons/ }),
  cache({ name: 'an NDJSON batch of 1,001 reports', type: NDJSON, body: ndjson(reports(1001)), status: 413, code: 'TM_INGEST_TOO_MANY_BEACONS', says: /more than 1000 beacons/ }),
  cache({ name: 'truncated JSON', body: () => '{"hits": 1, "misses": ', status: 400, code: 'TM_HTTP_INVALID_JSON', says: /not valid JSON/ }),
  cache({ name: 'truncated msgpack', type: MSGPACK, body: () => pack(reports(5)).subarray(0, -3), status: 400, code: 'TM_INGEST_INVALID_MSGPACK', says: /truncated/ }),
  cache({ name: 'a body that is a metrics beacon', body: json({ page_views: 1 }), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /page_views is not allowed here/, fields: ['page_views', 'hits'] }),
  cache({ name: 'a batch of numbers', body: json([1]), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /\[0\] must be object/, fields: ['[0]'] }),
  cache({ name: 'a mixed batch with one bad report', body: json([...reports(3), { hits: -1, misses: 0, size_kb: 0 }, ...reports(2)]), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /\[3\]\.hits must be >= 0/, fields: ['[3].hits'] }),
  cache({ name: 'a mixed batch whose last report is a day ahead', body: json([...reports(3), { hits: 1, misses: 0, size_kb: 0, ts: now + 24 * HOUR }]), status: 400, code: 'TM_INGEST_INVALID_BEACON', says: /\[3\]\.ts must not be more than 10 minutes/, fields: ['[3].ts'] }),
]

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

battery('credentials', CREDENTIAL_CASES)
battery('Content-Type and Content-Encoding', TYPE_AND_ENCODING_CASES)
battery('headers', HEADER_CASES)
battery('sizes and counts', SIZE_CASES)
battery('malformed bodies', MALFORMED_CASES)
battery('values', VALUE_CASES)
battery('names', NAME_CASES)
battery('tags', TAG_CASES)
battery('timestamps', TIMESTAMP_CASES)
battery('a batch with one bad beacon is refused whole', MIXED_CASES)
battery('the cache route', CACHE_CASES)

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
