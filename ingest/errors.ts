// The ingest tier's error catalogue (TM_INGEST_*); docs/errors.md lists them.
import createError from '@fastify/error'
import { describeProblems, type FieldProblem, type TidemarkHttpError } from '../engine/index.ts'

export const IngestErrors = {
  InvalidBeacon: createError('TM_INGEST_INVALID_BEACON', 'Invalid beacon: %s', 400),
  Unavailable: createError('TM_INGEST_UNAVAILABLE', 'JetStream did not acknowledge every batch in time: %s', 503),
  Overloaded: createError('TM_INGEST_OVERLOADED', 'Ingest is at its limit of %s samples awaiting JetStream; nothing was accepted, retry shortly', 503),
  SampleTooLarge: createError('TM_INGEST_SAMPLE_TOO_LARGE', 'A sample needs %s bytes, more than the %s a JetStream message may carry here; nothing was accepted', 413),
  InvalidNdjson: createError('TM_INGEST_INVALID_NDJSON', 'The body is not valid NDJSON: line %s: %s', 400),
  InvalidMsgpack: createError('TM_INGEST_INVALID_MSGPACK', 'The body is not valid msgpack: %s', 400),
  EmptyBatch: createError('TM_INGEST_EMPTY_BATCH', 'The batch holds no beacon: send at least one', 400),
  TooManyBeacons: createError('TM_INGEST_TOO_MANY_BEACONS', 'The batch holds more than %s beacons; nothing was accepted: split it', 413),
  RateLimited: createError(
    'TM_INGEST_RATE_LIMITED',
    'This tenant is over its quota of %s samples a second (burst %s) on this ingest process; nothing was accepted: retry after Retry-After seconds',
    429
  ),
  IdempotencyKeyInvalid: createError('TM_INGEST_IDEMPOTENCY_KEY_INVALID', 'Idempotency-Key must be 1 to 255 printable ASCII characters', 400),
  IdempotencyKeyReused: createError(
    'TM_INGEST_IDEMPOTENCY_KEY_REUSED',
    'This Idempotency-Key was used with a different body in the last 24 hours; nothing was accepted. Use a new key for a new request',
    422
  ),
  IdempotencyInProgress: createError(
    'TM_INGEST_IDEMPOTENCY_IN_PROGRESS',
    'A request with this Idempotency-Key is still being made durable; retry after Retry-After seconds',
    409
  ),
  OriginMissing: createError(
    'TM_INGEST_ORIGIN_MISSING',
    'A tracker beacon must come from a page of a registered site: the request has no Origin header (or Origin "null"); nothing was stored',
    403
  ),
  OriginNotAllowed: createError('TM_INGEST_ORIGIN_NOT_ALLOWED', 'Origin %s is not one of the domains of site %s; nothing was stored. Add the domain to the site (tidemark site create … or POST /api/v2/sites)', 403),
  SiteUnknown: createError('TM_INGEST_SITE_UNKNOWN', 'No site has the id "%s" (never created, or deleted); nothing was stored', 404),
} as const

/** A 400 that names every bad field, in the shape the error handler sends as `fields`. */
export function invalidBeacon(fields: FieldProblem[]): TidemarkHttpError {
  return Object.assign(new IngestErrors.InvalidBeacon(describeProblems(fields)), { fields })
}
