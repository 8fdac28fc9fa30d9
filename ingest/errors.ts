// The ingest tier's error catalogue (TM_INGEST_*); docs/errors.md lists them.
import createError from '@fastify/error'
import type { FieldProblem, TidemarkHttpError } from '../engine/index.ts'

export const IngestErrors = {
  InvalidBeacon: createError('TM_INGEST_INVALID_BEACON', 'Invalid beacon: %s', 400),
  Unavailable: createError('TM_INGEST_UNAVAILABLE', 'Beacons could not be made durable in JetStream (%s); nothing was accepted, retry', 503),
  Overloaded: createError('TM_INGEST_OVERLOADED', 'Ingest is at its limit of %s samples awaiting JetStream; retry shortly', 503),
} as const

/** A 400 that names every bad field, in the shape the error handler sends as `fields`. */
export function invalidBeacon(fields: FieldProblem[]): TidemarkHttpError {
  return Object.assign(new IngestErrors.InvalidBeacon(fields.map((f) => `${f.field} ${f.problem}`).join('; ')), { fields })
}
