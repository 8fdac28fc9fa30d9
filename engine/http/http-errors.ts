// Errors every HTTP tier shares (authentication, body parsing, validation).
// Tier-specific errors live in ingest/errors.ts and query/errors.ts.
import createError from '@fastify/error'

export const HttpErrors = {
  Unauthorized: createError('TM_HTTP_UNAUTHORIZED', 'Missing or unknown credential: send Authorization: Bearer <token>', 401),
  Forbidden: createError('TM_HTTP_FORBIDDEN', 'This credential may not %s', 403),
  InvalidRequest: createError('TM_HTTP_INVALID_REQUEST', 'Invalid request: %s', 400),
  InvalidJson: createError('TM_HTTP_INVALID_JSON', 'The body is not valid JSON: %s', 400),
  BodyTooLarge: createError('TM_HTTP_BODY_TOO_LARGE', 'The body is larger than the %s bytes this route accepts', 413),
  UnsupportedMediaType: createError('TM_HTTP_UNSUPPORTED_MEDIA_TYPE', 'Unsupported Content-Type: %s', 415),
  NotFound: createError('TM_HTTP_NOT_FOUND', 'No route %s', 404),
  Internal: createError('TM_HTTP_INTERNAL', 'Internal error', 500),
} as const

/** One field that failed validation, in the words a client can act on. */
export interface FieldProblem {
  field: string
  problem: string
}
