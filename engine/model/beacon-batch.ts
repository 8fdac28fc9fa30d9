// The wire format of tm.beacons.<partition>: a msgpack-encoded batch of samples.
// A version field lets later formats coexist with stored ones.
import { Packr } from 'msgpackr'
import { EngineErrors } from '../errors.ts'
import type { Sample } from './sample.ts'

export const BATCH_FORMAT_VERSION = 1

interface BatchEnvelope {
  v: number
  s: Sample[]
}

// One Packr for the process: records off, so any reader decodes without shared structures.
const packr = new Packr({ useRecords: false, mapsAsObjects: true })

/**
 * The batch as msgpack: the bytes Packr writes for {v, s: samples} (so decodeBatch
 * and storage's batchLength read it as ever), by a writer that knows the sample's
 * shape. On ingest's hot path it costs a fraction of the generic packer: no type
 * dispatch per value, and a beacon's tags, shared by its samples, are encoded once
 * and copied. A sample of any other shape goes to Packr whole.
 */
export function encodeBatch(samples: Sample[]): Uint8Array {
  return encodeSamples(samples) ?? packr.pack({ v: BATCH_FORMAT_VERSION, s: samples } satisfies BatchEnvelope)
}

/** The writer's buffer, kept between batches; a batch's bytes are copied out of it. */
let out = Buffer.allocUnsafe(64 * 1024)
let view = new DataView(out.buffer, out.byteOffset, out.byteLength)
let pos = 0

function room(bytes: number): void {
  if (pos + bytes <= out.length) return
  const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, pos + bytes))
  out.copy(bigger, 0, 0, pos)
  out = bigger
  view = new DataView(out.buffer, out.byteOffset, out.byteLength)
}

/** A string as msgpack: header by UTF-8 length, then its bytes (ASCII written here, the rest by Buffer.write). */
function writeString(text: string): void {
  const length = text.length
  room(5 + length * 3)
  const header = length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
  let at = pos + header
  let i = 0
  for (; i < length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0x80) break
    out[at++] = c
  }
  // Not ASCII: the rest by Node's UTF-8 writer (surrogate pairs as Packr writes them; a lone surrogate, which is
  // not text, becomes U+FFFD where Packr would write its invalid three bytes).
  if (i < length) at += out.write(text.slice(i), at, 'utf8')
  const bytes = at - pos - header
  // The header was sized by characters; UTF-8 may need a wider one: move the bytes up.
  const needed = bytes < 0x20 ? 1 : bytes < 0x100 ? 2 : bytes < 0x10000 ? 3 : 5
  if (needed !== header) {
    out.copyWithin(pos + needed, pos + header, at)
    at += needed - header
  }
  if (needed === 1) out[pos] = 0xa0 | bytes
  else if (needed === 2) {
    out[pos] = 0xd9
    out[pos + 1] = bytes
  } else if (needed === 3) {
    out[pos] = 0xda
    view.setUint16(pos + 1, bytes)
  } else {
    out[pos] = 0xdb
    view.setUint32(pos + 1, bytes)
  }
  pos = at
}

/** A number as Packr writes it without float32: the smallest integer format, else float64. */
function writeNumber(value: number): void {
  room(9)
  if (value >>> 0 === value) {
    if (value < 0x80) out[pos++] = value
    else if (value < 0x100) {
      out[pos++] = 0xcc
      out[pos++] = value
    } else if (value < 0x10000) {
      out[pos++] = 0xcd
      view.setUint16(pos, value)
      pos += 2
    } else {
      out[pos++] = 0xce
      view.setUint32(pos, value)
      pos += 4
    }
  } else if (value >> 0 === value) {
    if (value >= -0x20) out[pos++] = 0x100 + value
    else if (value >= -0x80) {
      out[pos++] = 0xd0
      out[pos++] = value + 0x100
    } else if (value >= -0x8000) {
      out[pos++] = 0xd1
      view.setInt16(pos, value)
      pos += 2
    } else {
      out[pos++] = 0xd2
      view.setInt32(pos, value)
      pos += 4
    }
  } else {
    out[pos++] = 0xcb
    view.setFloat64(pos, value)
    pos += 8
  }
}

/** An array header of n entries. */
function writeArrayHeader(n: number): void {
  room(5)
  if (n < 16) out[pos++] = 0x90 | n
  else if (n < 0x10000) {
    out[pos++] = 0xdc
    view.setUint16(pos, n)
    pos += 2
  } else {
    out[pos++] = 0xdd
    view.setUint32(pos, n)
    pos += 4
  }
}

/** The encoded start of a sample (array header, tenant, metric) by metric, for the last tenant seen: a request repeats them. */
let prefixTenant = ''
const prefixes = new Map<string, Uint8Array>()
const MAX_PREFIXES = 4096

function writePrefix(tenant: string, metric: string): void {
  if (tenant !== prefixTenant) {
    prefixes.clear()
    prefixTenant = tenant
  }
  const prefix = prefixes.get(metric)
  if (prefix === undefined) {
    const start = pos
    room(1)
    out[pos++] = 0x96
    writeString(tenant)
    writeString(metric)
    if (prefixes.size >= MAX_PREFIXES) prefixes.clear()
    // A copy (Buffer.slice would be a view of the reused buffer).
    prefixes.set(metric, new Uint8Array(out.subarray(start, pos)))
    return
  }
  writeBytes(prefix)
}

/**
 * Bytes appended, by the native copy even when short: a byte loop cost about 5 ns a byte on the 2-core VMs
 * here, so a sample's 40-byte prefix took longer in a loop than through set() (encodeBatch 360 → 250 ns a
 * sample on ingest-batch's batches).
 */
function writeBytes(bytes: Uint8Array): void {
  room(bytes.length)
  out.set(bytes, pos)
  pos += bytes.length
}

/** Bytes written earlier in this batch, appended again (natively, as writeBytes). */
function copyOut(start: number, end: number): void {
  room(end - start)
  out.copyWithin(pos, start, end)
  pos += end - start
}

/**
 * The encoded bytes of frozen tags objects: ingest's msgpack reader hands every beacon with the same tags
 * one frozen object (ingest/msgpack-beacons.ts), so they are encoded once, not once a beacon. Frozen, they
 * cannot change under the cache; a WeakMap lets them go with their last sample.
 */
const encodedTags = new WeakMap<object, Uint8Array>()

/** The batch in Packr's bytes, or undefined when a sample is not of the shape ingest makes (Packr then writes it). */
function encodeSamples(samples: Sample[]): Uint8Array | undefined {
  pos = 0
  // {v: 1, s: [...]}: a map16 of 2 (Packr's header for an object), fixstr 'v', the version, fixstr 's'.
  room(16)
  out[pos++] = 0xde
  out[pos++] = 0
  out[pos++] = 2
  out[pos++] = 0xa1
  out[pos++] = 0x76
  out[pos++] = BATCH_FORMAT_VERSION
  out[pos++] = 0xa1
  out[pos++] = 0x73
  writeArrayHeader(samples.length)
  let lastTags: Record<string, string> | null = null
  let tagsStart = 0
  let tagsEnd = 0
  for (let i = 0; i < samples.length; i++) {
    const sample = samples[i] as Sample
    if (!Array.isArray(sample) || sample.length !== 6) return undefined
    // Indexed, not destructured: destructuring goes through the array iterator.
    const tenant = sample[0]
    const metric = sample[1]
    const ts = sample[2]
    const value = sample[3]
    const tags = sample[4]
    const receivedAt = sample[5]
    if (typeof tenant !== 'string' || typeof metric !== 'string' || typeof ts !== 'number' || typeof value !== 'number' || typeof receivedAt !== 'number') return undefined
    writePrefix(tenant, metric)
    writeNumber(ts)
    writeNumber(value)
    if (tags === null) {
      room(1)
      out[pos++] = 0xc0
    } else if (tags === lastTags) {
      // The same beacon's tags as the sample before: copy their bytes.
      copyOut(tagsStart, tagsEnd)
    } else {
      if (typeof tags !== 'object' || Array.isArray(tags)) return undefined
      const start = pos
      const known = encodedTags.get(tags)
      if (known !== undefined) writeBytes(known)
      else {
        const names = Object.keys(tags)
        // Packr writes every object's header as a map16 (0xde), whatever its size.
        room(3)
        out[pos++] = 0xde
        view.setUint16(pos, names.length)
        pos += 2
        for (const name of names) {
          const text = tags[name]
          if (typeof text !== 'string') return undefined
          writeString(name)
          writeString(text)
        }
        if (Object.isFrozen(tags)) encodedTags.set(tags, new Uint8Array(out.subarray(start, pos)))
      }
      lastTags = tags
      tagsStart = start
      tagsEnd = pos
    }
    writeNumber(receivedAt)
  }
  // A copy: the buffer is reused by the next batch while this one is published.
  return Buffer.from(out.subarray(0, pos))
}

export function decodeBatch(data: Uint8Array): Sample[] {
  let envelope: BatchEnvelope
  try {
    envelope = packr.unpack(data) as BatchEnvelope
  } catch (err) {
    throw new EngineErrors.BatchDecodeFailed((err as Error).message, { cause: err })
  }
  if (envelope?.v !== BATCH_FORMAT_VERSION || !Array.isArray(envelope.s)) {
    throw new EngineErrors.BatchDecodeFailed(`unknown batch format version ${String(envelope?.v)}`)
  }
  return envelope.s
}
