// The msgpack guard walks every msgpack type without decoding: a valid value of
// any shape passes, every strict prefix of one is truncated, and each thing
// msgpackr would hide is named with its offset.
import { pack, Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { MAX_MSGPACK_DEPTH, msgpackProblem, needsGuard } from '../../ingest/msgpack-guard.ts'

// Every msgpack type msgpackr writes: fixint, negative fixint, u/int 8-64, float32/64, nil, bools, fixstr, str8/16/32,
// bin8/16/32, fixarray, array16/32, fixmap, map16/32, and extensions (a Date is the timestamp extension).
const BIG_MAP = Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i]))
const VALUES: unknown[] = [
  0,
  127,
  -1,
  -32,
  200,
  -200,
  70_000,
  -70_000,
  2 ** 40,
  -(2 ** 40),
  1.5,
  Number.NaN,
  null,
  true,
  false,
  '',
  'é',
  'x'.repeat(31),
  'x'.repeat(200),
  'ü'.repeat(40_000),
  'y'.repeat(70_000),
  Buffer.alloc(3),
  Buffer.alloc(300),
  Buffer.alloc(70_000),
  [],
  Array.from({ length: 20 }, (_, i) => i),
  Array.from({ length: 70_000 }, () => 0),
  {},
  Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
  BIG_MAP,
  new Date(1_700_000_000_000),
  new Date(1_700_000_000_123),
  new Date(-1),
  [{ page_views: 1, tags: { page: '/café/東京/🌊' }, ts: '2026-01-01T00:00:00Z' }],
]
const float32 = new Packr({ useFloat32: 1, useRecords: false })
// msgpackr's default writes every map as map16; this one writes fixmap, map16 or map32 by size.
const variable = new Packr({ variableMapSize: true, useRecords: false })

describe('msgpackProblem', () => {
  it('passes a valid value of every type', () => {
    for (const value of VALUES) expect(msgpackProblem(variable.pack(value)), JSON.stringify(value)?.slice(0, 40)).toBeNull()
    // msgpackr's default pack writes a map of more than 65,535 keys only with variableMapSize.
    for (const value of VALUES.filter((v) => v !== BIG_MAP)) expect(msgpackProblem(pack(value)), JSON.stringify(value)?.slice(0, 40)).toBeNull()
    expect(msgpackProblem(float32.pack(1.25))).toBeNull()
    // ext 16 and ext 32 (msgpackr writes neither for these values): a length, a type byte, the data.
    expect(msgpackProblem(Buffer.from([0x92, 0xc8, 0x00, 0x02, 0x05, 0xaa, 0xbb, 0xc9, 0x00, 0x00, 0x00, 0x01, 0x05, 0xaa]))).toBeNull()
    expect(msgpackProblem(Buffer.from([0xc8, 0x00, 0x02, 0x05, 0xaa]))).toMatch(/truncated/)
  })

  it('calls every strict prefix of a value truncated', () => {
    const whole = pack([{ page_views: 1, ratio: 0.5, big: 2 ** 40, tags: { page: 'x'.repeat(40) }, raw: Buffer.alloc(5), at: new Date(0) }])
    for (let length = 1; length < whole.length; length++) expect(msgpackProblem(whole.subarray(0, length)), String(length)).toMatch(/truncated/)
  })

  it('names bytes after the value, 0xc1, a string that is not UTF-8, a key __proto__ and deep nesting, by offset', () => {
    expect(msgpackProblem(Buffer.from([0x01, 0xc0, 0xc0]))).toBe('the one value ends at byte 1 and 2 more bytes follow it')
    expect(msgpackProblem(Buffer.from([0x91, 0xc1]))).toBe('byte 1 is 0xc1, which msgpack never uses')
    expect(msgpackProblem(Buffer.from([0x92, 0x01, 0xa2, 0xc3, 0x28]))).toBe('the string at byte 2 is not valid UTF-8')
    expect(msgpackProblem(Buffer.from([0xd9, 0x02, 0xed, 0xa0]))).toBe('the string at byte 0 is not valid UTF-8')
    const proto = Buffer.concat([Buffer.from([0x81, 0xa9]), Buffer.from('__proto__'), Buffer.from([0x01])])
    expect(msgpackProblem(proto)).toBe('the map key at byte 1 is __proto__, which is not allowed')
    // As a value, or as a key of another length, the string is just a string.
    expect(msgpackProblem(Buffer.concat([Buffer.from([0x81, 0xa1, 0x61, 0xa9]), Buffer.from('__proto__')]))).toBeNull()
    expect(msgpackProblem(Buffer.concat([Buffer.from([0x81, 0xa8]), Buffer.from('__proto_'), Buffer.from([0x01])]))).toBeNull()
    expect(msgpackProblem(Buffer.alloc(MAX_MSGPACK_DEPTH, 0x91))).toMatch(/truncated/)
    expect(msgpackProblem(Buffer.concat([Buffer.alloc(MAX_MSGPACK_DEPTH, 0x91), Buffer.from([0x01])]))).toBeNull()
    expect(msgpackProblem(new Packr().pack([{ page_views: 1 }]))).toBe('byte 1 starts a msgpackr record (extension 0x72): send plain msgpack (useRecords: false)')
    expect(msgpackProblem(Buffer.alloc(MAX_MSGPACK_DEPTH + 1, 0x91))).toBe(`it nests deeper than ${MAX_MSGPACK_DEPTH} levels (at byte ${MAX_MSGPACK_DEPTH}); a beacon batch needs three`)
  })

  it('is asked for only when a decoded body shows a sign: a key __proto_, or U+FFFD in a tag value or cache name', () => {
    const plain = [{ page_views: 1, tags: { page: '/café' } }, { hits: 1, misses: 2, size_kb: 3, name: 'redis' }]
    expect(needsGuard(plain)).toBe(false)
    expect(needsGuard(plain[0])).toBe(false)
    expect(needsGuard([...plain, { __proto_: 1 }])).toBe(true)
    expect(needsGuard({ page_views: 1, tags: { __proto_: 'x' } })).toBe(true)
    expect(needsGuard([...plain, { page_views: 1, tags: { page: 'a\uFFFDb' } }])).toBe(true)
    expect(needsGuard({ hits: 1, name: '\uFFFD' })).toBe(true)
    // Names and ts have patterns that refuse U+FFFD by themselves.
    expect(needsGuard({ 'a\uFFFD': 1, ts: '\uFFFD' })).toBe(false)
  })
})
