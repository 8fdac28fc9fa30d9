// The one body parser of a JSON route: application/json only (fastify's
// default text/plain parser would turn a text body into a string that then
// fails validation as a 400, where the contract says 415), and a
// Content-Encoding of gzip, deflate or br decoded with the decoded size held to
// the route's body limit, so a zip bomb is a 413 and not a gigabyte in memory.
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import type { FastifyInstance } from 'fastify'
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

/** Replaces the scope's body parsers with one for application/json that decodes Content-Encoding. */
export function jsonBodyParser(app: FastifyInstance): void {
  // secure-json-parse as fastify uses it: a __proto__ or constructor.prototype key is an error, not a polluted object.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const raw = body as Buffer
    const encoding = (request.headers['content-encoding'] ?? '').trim().toLowerCase()
    if (encoding === '' || encoding === 'identity') {
      parseJson(request, raw.toString('utf8'), done)
      return
    }
    const decode = DECODERS[encoding]
    if (!decode) {
      done(new HttpErrors.UnsupportedEncoding(`"${encoding.slice(0, 60)}"`), undefined)
      return
    }
    // The compressed body was held to the limit as it arrived; the decoded one is held to the same limit here.
    const limit = request.routeOptions.bodyLimit
    decode(raw, { maxOutputLength: limit }).then(
      (decoded) => parseJson(request, decoded.toString('utf8'), done),
      (err: NodeJS.ErrnoException) => {
        const tooLarge = err.code === 'ERR_BUFFER_TOO_LARGE'
        done(tooLarge ? new HttpErrors.BodyTooLarge(String(limit)) : new HttpErrors.InvalidEncoding(encoding, { cause: err }), undefined)
      }
    )
  })
}
