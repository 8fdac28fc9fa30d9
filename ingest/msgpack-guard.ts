// What msgpackr would hide in a client's msgpack body. msgpackr is lenient
// where a beacon must not be: it turns a string that is not UTF-8 into U+FFFD
// (a tag value stored as something the client never sent), renames a map key
// __proto__ to __proto_ (a tag stored under another name), recurses until the
// stack overflows on deep nesting, and says "end of buffer not reached" with
// the whole decoded value appended. msgpackProblem walks the tokens once,
// without decoding them, and names each of these by its offset. It costs about
// 60 % of msgpackr's own decoding (150 us of CPU for the bench's 45 KB body;
// the ingest-batch bench lost ~15 % with it on every body, in a noisy run), so
// it runs only when decoding failed or needsGuard sees a sign of a problem.
import { isUtf8 } from 'node:buffer'

/** A beacon batch nests three deep (array, beacon map, tags map); anything past this is no beacon. */
export const MAX_MSGPACK_DEPTH = 8

const TRUNCATED = 'it ends in the middle of a value (truncated?)'
/** "__proto__" in UTF-8. */
const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]
const REPLACEMENT = '\uFFFD'
/** What msgpackr makes of a map key __proto__. */
const RENAMED_PROTO = '__proto_'

function hasReplacement(value: unknown): boolean {
  return typeof value === 'string' && value.includes(REPLACEMENT)
}

/** Signs in one decoded beacon or report: a key msgpackr renamed, or U+FFFD in a tag value or cache name (names and ts have patterns). */
function beaconNeedsGuard(beacon: unknown): boolean {
  if (beacon === null || typeof beacon !== 'object') return false
  if (Object.hasOwn(beacon, RENAMED_PROTO)) return true
  const { tags, name } = beacon as { tags?: unknown; name?: unknown }
  if (hasReplacement(name)) return true
  if (tags === null || typeof tags !== 'object') return false
  for (const key in tags) if (key === RENAMED_PROTO || hasReplacement((tags as Record<string, unknown>)[key])) return true
  return false
}

/**
 * Whether a body msgpackr decoded may hide one of the problems msgpackProblem names: a beacon or its tags
 * has a key __proto_ (msgpackr's name for __proto__, or the client's own), or a stored string holds U+FFFD
 * (where msgpackr puts bytes that are not UTF-8, or the client sent it). msgpackProblem tells them apart.
 * About 20 us of CPU for the bench's 1,000-beacon body (msgpackr takes 250 us to decode it, the walk 150 us).
 */
export function needsGuard(value: unknown): boolean {
  if (!Array.isArray(value)) return beaconNeedsGuard(value)
  for (const beacon of value) if (beaconNeedsGuard(beacon)) return true
  return false
}

function isProto(body: Uint8Array, start: number, length: number): boolean {
  if (length !== PROTO.length) return false
  for (let i = 0; i < length; i++) if (body[start + i] !== PROTO[i]) return false
  return true
}

/** Valid UTF-8? ASCII, nearly every string of a beacon, is checked in the loop; the rest by simdutf. */
function utf8(body: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if ((body[i] as number) >= 0x80) return isUtf8(body.subarray(start, end))
  return true
}

/** msgpackr's record extension: a structure msgpackr shares between values, which no other msgpack library writes. */
const RECORD_EXTENSION = 0x72

/** An unsigned big-endian integer of `bytes` bytes at `pos` (the caller checked they are there). */
function uint(body: Uint8Array, pos: number, bytes: number): number {
  let n = 0
  for (let i = 0; i < bytes; i++) n = n * 256 + (body[pos + i] as number)
  return n
}

/** What is wrong with a msgpack body that must hold one value, or null when nothing is. */
export function msgpackProblem(body: Uint8Array): string | null {
  const end = body.length
  // Per open container: items still to come (a map counts keys and values) and whether it is a map.
  const left = new Float64Array(MAX_MSGPACK_DEPTH)
  const map = new Uint8Array(MAX_MSGPACK_DEPTH)
  let depth = 0
  let pos = 0
  for (;;) {
    if (pos >= end) return TRUNCATED
    const at = pos
    const type = body[pos++] as number
    let items = -1
    let isMap = 0
    let strLength = -1
    // Bytes of the length that follows the type byte.
    let lengthBytes: number
    if (type <= 0x7f || type >= 0xe0) {
      // fixint: the type byte is all
    } else if (type <= 0x8f) {
      items = type & 0x0f
      isMap = 1
    } else if (type <= 0x9f) {
      items = type & 0x0f
    } else if (type <= 0xbf) {
      strLength = type & 0x1f
    } else {
      switch (type) {
        case 0xc0: // nil
        case 0xc2: // false
        case 0xc3: // true
          break
        case 0xc1:
          return `byte ${at} is 0xc1, which msgpack never uses`
        case 0xcc: // uint8, int8
        case 0xd0:
          pos += 1
          break
        case 0xcd: // uint16, int16
        case 0xd1:
          pos += 2
          break
        case 0xca: // float32, uint32, int32
        case 0xce:
        case 0xd2:
          pos += 4
          break
        case 0xcb: // float64, uint64, int64
        case 0xcf:
        case 0xd3:
          pos += 8
          break
        case 0xd4: // fixext 1, 2, 4, 8, 16: a type byte and the data
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          if (body[pos] === RECORD_EXTENSION && pos < end) return `byte ${at} starts a msgpackr record (extension 0x72): send plain msgpack (useRecords: false)`
          pos += 1 + (type === 0xd8 ? 16 : 1 << (type - 0xd4))
          break
        case 0xc4: // bin 8, 16, 32: the length and the data
        case 0xc5:
        case 0xc6:
        case 0xc7: // ext 8, 16, 32: the length, a type byte and the data
        case 0xc8:
        case 0xc9:
          lengthBytes = 1 << ((type - 0xc4) % 3)
          if (pos + lengthBytes > end) return TRUNCATED
          pos += lengthBytes + (type >= 0xc7 ? 1 : 0) + uint(body, pos, lengthBytes)
          break
        case 0xd9: // str 8, 16, 32
        case 0xda:
        case 0xdb:
          lengthBytes = 1 << (type - 0xd9)
          if (pos + lengthBytes > end) return TRUNCATED
          strLength = uint(body, pos, lengthBytes)
          pos += lengthBytes
          break
        case 0xdc: // array 16, 32
        case 0xdd:
        case 0xde: // map 16, 32
        case 0xdf:
          lengthBytes = type === 0xdc || type === 0xde ? 2 : 4
          if (pos + lengthBytes > end) return TRUNCATED
          items = uint(body, pos, lengthBytes)
          isMap = type >= 0xde ? 1 : 0
          pos += lengthBytes
          break
      }
      if (pos > end) return TRUNCATED
    }
    if (strLength >= 0) {
      if (pos + strLength > end) return TRUNCATED
      if (!utf8(body, pos, pos + strLength)) return `the string at byte ${at} is not valid UTF-8`
      // A key: in a map, with an even number of items left.
      if (depth > 0 && map[depth - 1] === 1 && (left[depth - 1] as number) % 2 === 0 && isProto(body, pos, strLength)) {
        return `the map key at byte ${at} is __proto__, which is not allowed`
      }
      pos += strLength
    }
    if (items > 0) {
      if (depth === MAX_MSGPACK_DEPTH) return `it nests deeper than ${MAX_MSGPACK_DEPTH} levels (at byte ${at}); a beacon batch needs three`
      left[depth] = isMap ? 2 * items : items
      map[depth] = isMap
      depth++
      continue
    }
    // A value is complete: count it against its container, closing those it fills.
    while (depth > 0 && --(left[depth - 1] as number) === 0) depth--
    if (depth === 0) return pos === end ? null : `the one value ends at byte ${pos} and ${end - pos} more bytes follow it`
  }
}
