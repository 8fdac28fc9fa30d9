// Errors every HTTP tier shares (authentication, body parsing, validation).
// Tier-specific errors live in ingest/errors.ts and query/errors.ts.
import createError from '@fastify/error'

export const HttpErrors = {
  Unauthorized: createError('TM_HTTP_UNAUTHORIZED', 'Missing or unknown credential: send Authorization: Bearer <token>', 401),
  Forbidden: createError('TM_HTTP_FORBIDDEN', 'This credential may not %s', 403),
  InvalidRequest: createError('TM_HTTP_INVALID_REQUEST', 'Invalid request: %s', 400),
  InvalidJson: createError('TM_HTTP_INVALID_JSON', 'The body is not valid JSON: %s', 400),
  BodyTooLarge: createError('TM_HTTP_BODY_TOO_LARGE', 'The body is larger than the %s bytes this route accepts', 413),
  UnsupportedMediaType: createError('TM_HTTP_UNSUPPORTED_MEDIA_TYPE', 'Unsupported Content-Type: %s (send application/json)', 415),
  UnsupportedEncoding: createError('TM_HTTP_UNSUPPORTED_ENCODING', 'Unsupported Content-Encoding: %s (send gzip, deflate, br, or none)', 415),
  InvalidEncoding: createError('TM_HTTP_INVALID_ENCODING', 'The body is not valid %s', 400),
  /** A 4xx fastify or Node raised that no other code names; it keeps the status it came with. */
  RequestRejected: createError('TM_HTTP_REQUEST_REJECTED', 'The request was refused: %s', 400),
  ShuttingDown: createError('TM_HTTP_SHUTTING_DOWN', 'This server is shutting down; retry (another instance answers, or this one once restarted)', 503),
  NotFound: createError('TM_HTTP_NOT_FOUND', 'No route %s', 404),
  Internal: createError('TM_HTTP_INTERNAL', 'Internal error', 500),
} as const

/** One field that failed validation, in the words a client can act on. */
export interface FieldProblem {
  field: string
  problem: string
}
