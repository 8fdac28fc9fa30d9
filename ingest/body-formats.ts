// The metrics route's bodies besides JSON, for clients that send in volume:
// NDJSON (one beacon a line) and msgpack (one beacon or an array of them).
// Both are read into the very shape a JSON body has, so the same compiled
// schema validates all three (engine/model/beacon-schema.ts is the one source) and an
// Idempotency-Key's digest does not depend on the format. Content-Encoding is
// decoded before either (engine/http/body-encoding.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Unpackr } from 'msgpackr'
import { bodyParsers, jsonReader, MAX_BEACONS_PER_REQUEST, nonUtf8Line, strictJsonParser, type BodyReader } from '../engine/index.ts'
import { IngestErrors } from './errors.ts'
import { msgpackProblem, needsGuard } from './msgpack-guard.ts'
import { readMsgpackBeacons } from './msgpack-beacons.ts'

export const JSON_TYPE = 'application/json'
export const NDJSON_TYPE = 'application/x-ndjson'
export const MSGPACK_TYPE = 'application/msgpack'

// Records and bundled strings off: a client's body is plain msgpack, read with no shared structures.
// int64AsType 'number': a uint64 would otherwise be a BigInt, which the schema cannot type.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })

/**
 * At least one beacon and at most this many a request, counted while reading, in every body type alike
 * (the schema would say so too, in other words and after holding them all).
 */
function checkCount(count: number): void {
  if (count === 0) throw new IngestErrors.EmptyBatch()
  if (count > MAX_BEACONS_PER_REQUEST) throw new IngestErrors.TooManyBeacons(String(MAX_BEACONS_PER_REQUEST))
}

/** One beacon a line; blank lines (a trailing newline, CRLF) are skipped, and line numbers count from 1 as an editor does. */
export function ndjsonReader(parseJson: (request: FastifyRequest, text: string) => unknown): BodyReader {
  return (request, body) => {
    const notUtf8 = nonUtf8Line(body)
    if (notUtf8 > 0) throw new IngestErrors.InvalidNdjson(String(notUtf8), 'it is not valid UTF-8')
    const text = body.toString('utf8')
    const beacons: unknown[] = []
    let start = 0
    for (let line = 1; start <= text.length; line++) {
      let end = text.indexOf('\n', start)
      if (end === -1) end = text.length
      const content = text.slice(start, end).trim()
      start = end + 1
      if (content === '') continue
      if (beacons.length === MAX_BEACONS_PER_REQUEST) checkCount(beacons.length + 1)
      let beacon: unknown
      try {
        beacon = parseJson(request, content)
      } catch (err) {
        throw new IngestErrors.InvalidNdjson(String(line), (err as Error).message, { cause: err })
      }
      if (beacon === null || typeof beacon !== 'object' || Array.isArray(beacon)) {
        throw new IngestErrors.InvalidNdjson(String(line), 'a line must hold one beacon, a JSON object')
      }
      beacons.push(beacon)
    }
    checkCount(beacons.length)
    return beacons
  }
}

/**
 * One msgpack value: a beacon (a map) or an array of them. A truncated body, bytes after the value, a string
 * that is not UTF-8, a key __proto__ or deep nesting are refused, each named (msgpack-guard.ts says why and when).
 */
export const msgpackReader: BodyReader = (request, body) => {
  if (body.length === 0) throw new IngestErrors.InvalidMsgpack('the body is empty')
  // A route of metric beacons takes the fast path when it is sure of the body (msgpack-beacons.ts); else the general one.
  if ((request.routeOptions.config as { msgpackBeacons?: boolean } | undefined)?.msgpackBeacons) {
    const read = readMsgpackBeacons(body)
    if (read !== undefined) return read
  }
  let value: unknown
  try {
    value = unpackr.unpack(body)
  } catch (err) {
    // msgpackr's own words may be a stack overflow, or carry the whole decoded value: the guard names the problem.
    const problem = msgpackProblem(body) ?? (err as Error).message.slice(0, 200)
    throw new IngestErrors.InvalidMsgpack(problem, { cause: err })
  }
  if (needsGuard(value)) {
    const problem = msgpackProblem(body)
    if (problem !== null) throw new IngestErrors.InvalidMsgpack(problem)
  }
  if (Array.isArray(value)) checkCount(value.length)
  return value
}

/** A JSON array is a batch: counted as NDJSON and msgpack batches are, so an empty or oversized one gets the same answer. */
function countedJsonReader(app: FastifyInstance): BodyReader {
  const read = jsonReader(app)
  return (request, body) => {
    const value = read(request, body)
    if (Array.isArray(value)) checkCount(value.length)
    return value
  }
}

/** The ingest scope's parsers: JSON, NDJSON and msgpack, each after Content-Encoding. */
export function beaconBodyParsers(app: FastifyInstance): void {
  bodyParsers(app, { [JSON_TYPE]: countedJsonReader(app), [NDJSON_TYPE]: ndjsonReader(strictJsonParser(app)), [MSGPACK_TYPE]: msgpackReader })
}
