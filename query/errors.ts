// The query tier's error catalogue (TM_QUERY_*); docs/errors.md lists them.
import createError from '@fastify/error'

export const QueryErrors = {
  InvalidQuery: createError('TM_QUERY_INVALID', 'Invalid query: %s', 400),
  InvalidRange: createError('TM_QUERY_INVALID_RANGE', 'Invalid range: %s', 400),
  TooManyPoints: createError('TM_QUERY_TOO_MANY_POINTS', 'The range holds %s steps; at most %s are served: widen step or narrow the range', 400),
  // No %s: ClickHouse's own text names tables, its version and the query. It stays in the log, as the cause.
  StorageUnavailable: createError('TM_QUERY_STORAGE_UNAVAILABLE', 'Storage did not answer this query: retry shortly (GET /api/v2/health tells when it is back)', 503),
} as const
