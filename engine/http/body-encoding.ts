// The body parsers of Tidemark's routes: application/json by default (fastify's
// default text/plain parser would turn a text body into a string that then
// fails validation as a 400, where the contract says 415), plus whatever binary
// or line formats a tier adds (ingest: NDJSON and msgpack), every one of them
// behind the same Content-Encoding decoding: gzip, deflate or br, with the
// decoded size held to the route's body limit, so a zip bomb is a 413 and not
// a gigabyte in memory.
import { isUtf8 } from 'node:buffer'
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { HttpErrors } from './http-errors.ts'

type Decoder = (data: Buffer, options: zlib.ZlibOptions & zlib.BrotliOptions) => Promise<Buffer>

const gunzip = promisify(zlib.gunzip) as Decoder
const DECODERS: Record<string, Decoder> = {
  gzip: gunzip,
  'x-gzip': gunzip,
  deflate: promisify(zlib.inflate) as Decoder,
  br: promisify(zlib.brotliDecompress) as Decoder,
}

/** The encodings a client may send, for docs and tests. */
export const SUPPORTED_ENCODINGS = Object.keys(DECODERS)

/** The body as sent, decoded from its Content-Encoding; rejects with the TM_HTTP_* error a client can act on. */
export async function decodeContentEncoding(request: FastifyRequest, raw: Buffer): Promise<Buffer> {
  const encoding = (request.headers['content-encoding'] ?? '').trim().toLowerCase()
  if (encoding === '' || encoding === 'identity') return raw
  const decode = DECODERS[encoding]
  if (!decode) throw new HttpErrors.UnsupportedEncoding(`"${encoding.slice(0, 60)}"`)
  // The compressed body was held to the limit as it arrived; the decoded one is held to the same limit here.
  const limit = request.routeOptions.bodyLimit
  try {
    return await decode(raw, { maxOutputLength: limit })
  } catch (err) {
    const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
    throw tooLarge ? new HttpErrors.BodyTooLarge(String(limit)) : new HttpErrors.InvalidEncoding(encoding, { cause: err })
  }
}

/** Reads a decoded body into what the route validates; throws a TM_* error naming what is wrong. */
export type BodyReader = (request: FastifyRequest, body: Buffer) => unknown

/**
 * The line (from 1) of the first byte sequence in `body` that is not UTF-8, or 0 when it all is.
 * A body is checked in one call (simdutf); the line is looked for only when it fails. A newline
 * byte never occurs inside a multi-byte sequence, so each line can be checked on its own.
 */
export function nonUtf8Line(body: Buffer): number {
  if (isUtf8(body)) return 0
  let start = 0
  for (let line = 1; ; line++) {
    const end = body.indexOf(0x0a, start)
    if (!isUtf8(body.subarray(start, end === -1 ? body.length : end))) return line
    if (end === -1) return line
    start = end + 1
  }
}

/** Why a text is not JSON fastify's parser takes: fastify's own error says only that it is not. Called on failure only. */
function jsonProblem(text: string): string {
  try {
    JSON.parse(text)
  } catch (err) {
    return (err as Error).message
  }
  return 'it has a key named __proto__, or a constructor key holding prototype, which could poison object prototypes'
}

/**
 * A JSON text parser with fastify's protections (secure-json-parse: a __proto__ or constructor.prototype key is
 * an error). A failure is a SyntaxError saying what is wrong, which the error handler turns into TM_HTTP_INVALID_JSON.
 */
export function strictJsonParser(app: FastifyInstance): (request: FastifyRequest, text: string) => unknown {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  return (request, text) => {
    // fastify's default JSON parser calls back synchronously.
    let outcome: { err: Error | null; value: unknown } | undefined
    parseJson(request, text, (err, value) => (outcome = { err, value }))
    if (!outcome) throw new Error('the JSON parser did not answer synchronously')
    if (outcome.err) {
      if ((outcome.err as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY') throw new SyntaxError(jsonProblem(text), { cause: outcome.err })
      throw outcome.err
    }
    return outcome.value
  }
}

/** The application/json reader: UTF-8 only (RFC 8259), then strictJsonParser. */
export function jsonReader(app: FastifyInstance): BodyReader {
  const parseJson = strictJsonParser(app)
  return (request, body) => {
    const line = nonUtf8Line(body)
    if (line > 0) throw new HttpErrors.InvalidJson(`line ${line} is not valid UTF-8`)
    return parseJson(request, body.toString('utf8'))
  }
}

/** Hands fastify what `read` makes of the decoded body, or the error it throws. */
function readBody(read: BodyReader, request: FastifyRequest, body: Buffer, done: (err: Error | null, value: unknown) => void): void {
  let value: unknown
  try {
    value = read(request, body)
  } catch (err) {
    done(err as Error, undefined)
    return
  }
  done(null, value)
}

/**
 * Replaces the scope's body parsers with application/json and the `extra` content types, each decoding
 * Content-Encoding first. Any other type is a 415 that names the types the scope takes.
 */
export function bodyParsers(app: FastifyInstance, extra: Record<string, BodyReader> = {}): void {
  const readers: Record<string, BodyReader> = { 'application/json': jsonReader(app), ...extra }
  app.removeAllContentTypeParsers()
  for (const [type, read] of Object.entries(readers)) {
    app.addContentTypeParser(type, { parseAs: 'buffer' }, (request, body, done) => {
      // No Content-Encoding (nearly every request): read now, not a promise's turn later.
      if (request.headers['content-encoding'] === undefined) {
        readBody(read, request, body as Buffer, done)
        return
      }
      decodeContentEncoding(request, body as Buffer).then(
        (decoded) => readBody(read, request, decoded, done),
        (err: Error) => done(err, undefined)
      )
    })
  }
  if (Object.keys(extra).length === 0) return
  // fastify's own 415 says "send application/json": this scope takes more than that.
  const accepted = Object.keys(readers).join(', ')
  app.addContentTypeParser('*', (request, _payload, done) => {
    const type = request.headers['content-type']
    const err = new HttpErrors.UnsupportedMediaType(type ? `"${type.slice(0, 100)}"` : 'none given')
    err.message = `Unsupported Content-Type: ${type ? `"${type.slice(0, 100)}"` : 'none given'} (send ${accepted})`
    done(err, undefined)
  })
}

/** The one body parser of a JSON route: application/json only, Content-Encoding decoded. */
export function jsonBodyParser(app: FastifyInstance): void {
  bodyParsers(app)
}
