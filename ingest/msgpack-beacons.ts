// The metrics route's fast path for msgpack bodies: one pass over the bytes
// that checks each beacon against the rules of the one schema
// (engine/model/beacon-schema.ts, read here at load, not restated) and makes
// its samples, without msgpackr building a generic object tree first and ajv
// walking it again. The profile of the ingest-batch bench had msgpackr's
// decoding, ajv's validation and beaconsToSamples at about 40 % of the ingest
// process's CPU.
//
// It only ever says yes: for anything it is not sure of (a string ts, a float32,
// a uint64, non-ASCII names, a duplicate key, a value out of range, a byte it
// does not expect) it answers undefined, and the body takes the general way
// (msgpackr, the guard, ajv, beaconsToSamples), which accepts it or names the
// problem exactly as before. So a bad body gets today's 4xx word for word, and
// test/unit/beacon-fast-paths.test.ts checks that whatever this accepts the schema
// accepts too, with the same samples.
import { isUtf8 } from 'node:buffer'
import { Unpackr } from 'msgpackr'
import { MAX_BEACONS_PER_REQUEST, MAX_FUTURE_SKEW_MS, MAX_METRICS_PER_BEACON, type BeaconBody, type Sample } from '../engine/index.ts'
import { metricRules, passes, RULES, type NumberRule } from './beacon-rules.ts'


/** A metric name seen before: its text and the rules its value must pass. */
interface MetricEntry {
  bytes: DataView
  name: string
  /** null: not a valid metric name (the general way names the problem). */
  rules: NumberRule[] | null
}

/** A tags map seen before, by its bytes: the object its samples share (frozen), or null when the general way must judge it. */
interface TagsEntry {
  bytes: DataView
  tags: Readonly<Record<string, string>> | null
}

const TABLE_SIZE = 4096
/** Tag maps longer than this are not remembered (4,096 maps of 16 tags of 256 bytes would hold about 22 MB). */
const MAX_CACHED_TAGS_BYTES = 512
const metricTable: (MetricEntry | undefined)[] = new Array(TABLE_SIZE).fill(undefined)
const tagsTable: (TagsEntry | undefined)[] = new Array(TABLE_SIZE).fill(undefined)

/**
 * The table slot of the body's bytes [start, end): FNV-style, four bytes a step through the reading state's
 * view (a byte loop costs about 5 ns a byte on the 2-core VMs here, and every beacon hashes its metric names
 * and tags), each step folding the high bits down so that every byte reaches the slot's low bits.
 */
function hashBytes(start: number, end: number): number {
  let hash = 0x811c9dc5
  let i = start
  for (; i + 4 <= end; i += 4) {
    hash = Math.imul(hash ^ view.getUint32(i), 0x01000193)
    hash ^= hash >>> 15
  }
  for (; i < end; i++) hash = Math.imul(hash ^ (src[i] as number), 0x01000193)
  hash ^= hash >>> 16
  return (Math.imul(hash, 0x85ebca6b) >>> 20) & (TABLE_SIZE - 1)
}

/** Whether the body's bytes [start, end) are the known ones, compared four bytes a step as hashBytes reads. */
function sameBytes(known: DataView, start: number, end: number): boolean {
  const length = end - start
  if (known.byteLength !== length) return false
  let i = 0
  for (; i + 4 <= length; i += 4) if (known.getUint32(i) !== view.getUint32(start + i)) return false
  for (; i < length; i++) if (known.getUint8(i) !== src[start + i]) return false
  return true
}

/** A copy of the body's bytes [start, end) to keep as a table entry's key. */
function keyOf(start: number, end: number): DataView {
  const bytes = src.slice(start, end)
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** ASCII bytes as a string, or undefined when one is not ASCII (no metric or tag name is). */
function ascii(body: Uint8Array, start: number, end: number): string | undefined {
  let text = ''
  for (let i = start; i < end; i++) {
    const c = body[i] as number
    if (c >= 0x80) return undefined
    text += String.fromCharCode(c)
  }
  return text
}


/** Reading state: the body, where we are, and a view for the wide numbers. */
let src: Uint8Array = new Uint8Array(0)
let view: DataView = new DataView(new ArrayBuffer(0))
let pos = 0

/** The string header at pos: its length (pos moved past the header), or -1 when it is no string. */
function stringLength(): number {
  const type = src[pos] as number
  if (type >= 0xa0 && type <= 0xbf) {
    pos++
    return type & 0x1f
  }
  if (type === 0xd9) {
    if (pos + 2 > src.length) return -1
    const length = src[pos + 1] as number
    pos += 2
    return length
  }
  if (type === 0xda) {
    if (pos + 3 > src.length) return -1
    const length = view.getUint16(pos + 1)
    pos += 3
    return length
  }
  return -1
}

/** A map header at pos: its entries (pos moved past it), or -1. */
function mapLength(): number {
  const type = src[pos] as number
  if (type >= 0x80 && type <= 0x8f) {
    pos++
    return type & 0x0f
  }
  if (type === 0xde) {
    if (pos + 3 > src.length) return -1
    const length = view.getUint16(pos + 1)
    pos += 3
    return length
  }
  return -1
}

/** Bytes after the type byte of the number forms read here (ints up to 32 bits, float64); 0 for any other. */
const NUMBER_WIDTH = new Uint8Array(256)
for (const [type, width] of [[0xcb, 8], [0xcc, 1], [0xcd, 2], [0xce, 4], [0xd0, 1], [0xd1, 2], [0xd2, 4]] as const) NUMBER_WIDTH[type] = width

/** A number at pos in a form msgpackr reads exactly as written, or NaN (pos then undefined). */
function number(): number {
  const type = src[pos] as number
  if (type <= 0x7f) {
    pos++
    return type
  }
  if (type >= 0xe0) {
    pos++
    return type - 0x100
  }
  const width = NUMBER_WIDTH[type]
  const at = pos + 1
  if (!width || at + width > src.length) return Number.NaN
  pos = at + width
  switch (type) {
    case 0xcb:
      return view.getFloat64(at)
    case 0xcc:
      return src[at] as number
    case 0xcd:
      return view.getUint16(at)
    case 0xce:
      return view.getUint32(at)
    case 0xd0:
      return view.getInt8(at)
    case 0xd1:
      return view.getInt16(at)
    default:
      return view.getInt32(at)
  }
}

/** The tags map at pos, its entry made on first sight; undefined when the general way must judge it. */
function readTags(): Readonly<Record<string, string>> | null | undefined {
  const start = pos
  const count = mapLength()
  if (count < 0 || count > RULES.maxTags) return undefined
  // Walk to the end of the map first: its bytes are the key of the entry.
  for (let i = 0; i < 2 * count; i++) {
    const length = stringLength()
    if (length < 0 || pos + length > src.length) return undefined
    pos += length
  }
  const end = pos
  if (count === 0) return null
  const slot = hashBytes(start, end)
  const entry = tagsTable[slot]
  if (entry !== undefined && sameBytes(entry.bytes, start, end)) return entry.tags ?? undefined
  const tags = judgeTags(start, count)
  // Long maps are judged each time: the table stays under a few MB whatever clients send.
  if (end - start <= MAX_CACHED_TAGS_BYTES) tagsTable[slot] = { bytes: keyOf(start, end), tags }
  return tags ?? undefined
}

/** A tags map the table has not seen: its object, or null when any name or value is not certainly valid. */
function judgeTags(start: number, count: number): Readonly<Record<string, string>> | null {
  pos = start
  mapLength()
  const tags: Record<string, string> = {}
  for (let i = 0; i < count; i++) {
    let length = stringLength()
    const name = ascii(src, pos, pos + length)
    pos += length
    // A name msgpackr would rename (__proto__) or that the schema reserves or refuses; or one given twice.
    if (name === undefined || name.startsWith('__proto_') || !RULES.tagNamePattern.test(name) || RULES.reservedTags.has(name) || Object.hasOwn(tags, name)) return null
    length = stringLength()
    // maxLength counts code points, never more than the bytes: within it by bytes is within it.
    if (length > RULES.maxTagLength) return null
    let value = ascii(src, pos, pos + length)
    if (value === undefined) {
      const bytes = Buffer.from(src.buffer, src.byteOffset + pos, length)
      // Not UTF-8: msgpackr would make U+FFFD of it, which the guard refuses; the general way says so.
      if (!isUtf8(bytes)) return null
      value = bytes.toString('utf8')
    }
    pos += length
    tags[name] = value
  }
  return Object.freeze(tags)
}

/** The metric name at pos, seen before or made now. */
function readMetric(length: number): MetricEntry | undefined {
  const end = pos + length
  if (end > src.length) return undefined
  const slot = hashBytes(pos, end)
  let entry = metricTable[slot]
  if (entry === undefined || !sameBytes(entry.bytes, pos, end)) {
    const name = ascii(src, pos, end)
    if (name === undefined) return undefined
    entry = { bytes: keyOf(pos, end), name, rules: metricRules(name) }
    metricTable[slot] = entry
  }
  pos = end
  return entry
}

const TS = 0x7473 // "ts"
const TAGS = 0x74616773 // "tags"

/** One beacon map at pos into `samples`; false when the general way must judge the body. */
function readBeacon(samples: Sample[]): boolean {
  const entries = mapLength()
  if (entries < RULES.minProperties || entries > RULES.maxProperties) return false
  const first = samples.length
  let ts = -1
  let tags: Readonly<Record<string, string>> | null = null
  let sawTs = false
  let sawTags = false
  for (let i = 0; i < entries; i++) {
    const length = stringLength()
    if (length < 0) return false
    if (length === 2 && pos + 2 <= src.length && view.getUint16(pos) === TS) {
      pos += 2
      if (sawTs) return false
      sawTs = true
      ts = number()
      if (!passes(RULES.ts, ts)) return false
      continue
    }
    if (length === 4 && pos + 4 <= src.length && view.getUint32(pos) === TAGS) {
      pos += 4
      if (sawTags) return false
      sawTags = true
      const read = readTags()
      if (read === undefined) return false
      tags = read
      continue
    }
    const metric = readMetric(length)
    if (metric === undefined || metric.rules === null) return false
    // A name given twice: msgpackr keeps the last value, at the first one's place; the general way does that.
    for (let j = first; j < samples.length; j++) if ((samples[j] as Sample)[1] === metric.name) return false
    const value = number()
    for (const rule of metric.rules) if (!passes(rule, value)) return false
    // Tenant, ts (when none is given) and receive time are stamped by stamp(); the tags are set once the map is read.
    samples.push(['', metric.name, ts, value, null, 0])
  }
  const metrics = samples.length - first
  if (metrics === 0 || metrics > MAX_METRICS_PER_BEACON) return false
  for (let i = first; i < samples.length; i++) {
    const sample = samples[i] as Sample
    sample[2] = ts
    sample[4] = tags as Record<string, string> | null
  }
  return true
}

// As body-formats.ts reads a body on the general way: the same options, so body() is the very value it would make.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })

/** A msgpack body read by the fast path: its samples, still to be stamped with tenant and receive time. */
export class MsgpackBeacons {
  readonly #raw: Uint8Array
  #samples: Sample[]
  /** Whether the body is an array of beacons (else one beacon). */
  readonly batch: boolean
  readonly beacons: number

  constructor(raw: Uint8Array, samples: Sample[], batch: boolean, beacons: number) {
    this.#raw = raw
    this.#samples = samples
    this.batch = batch
    this.beacons = beacons
  }

  /**
   * The samples for this tenant at this receive time (once: they are handed over), or undefined when a ts is
   * too far past receivedAt, which beaconsToSamples on body() then names.
   */
  stamp(tenant: string, receivedAt: number): Sample[] | undefined {
    const samples = this.#samples
    this.#samples = []
    const latest = receivedAt + MAX_FUTURE_SKEW_MS
    for (let i = 0; i < samples.length; i++) {
      const sample = samples[i] as Sample
      sample[0] = tenant
      if (sample[2] < 0) sample[2] = receivedAt
      else if (sample[2] > latest) return undefined
      sample[5] = receivedAt
    }
    return samples
  }

  /** The body as the general way reads it (for an Idempotency-Key's digest, a 503's notDurable, a problem's name). */
  body(): BeaconBody | BeaconBody[] {
    return unpackr.unpack(this.#raw) as BeaconBody | BeaconBody[]
  }
}

/** The body's beacons and samples if every one is certainly valid; undefined sends the body the general way. */
export function readMsgpackBeacons(body: Uint8Array): MsgpackBeacons | undefined {
  if (body.length === 0) return undefined
  src = body
  view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  pos = 0
  try {
    const type = body[0] as number
    const samples: Sample[] = []
    let count = 1
    let batch = false
    if ((type & 0xf0) === 0x90 || type === 0xdc) {
      batch = true
      if (type === 0xdc) {
        if (body.length < 3) return undefined
        count = view.getUint16(1)
        pos = 3
      } else {
        count = type & 0x0f
        pos = 1
      }
      if (count === 0 || count > MAX_BEACONS_PER_REQUEST) return undefined
    }
    for (let i = 0; i < count; i++) if (pos >= body.length || !readBeacon(samples)) return undefined
    if (pos !== body.length) return undefined
    return new MsgpackBeacons(body, samples, batch, count)
  } finally {
    // The body is not held between requests.
    src = new Uint8Array(0)
    view = EMPTY_VIEW
  }
}

const EMPTY_VIEW = new DataView(new ArrayBuffer(0))
