// The query tier's error catalogue (TM_QUERY_*); docs/errors.md lists them.
import createError from '@fastify/error'

export const QueryErrors = {
  InvalidQuery: createError('TM_QUERY_INVALID', 'Invalid query: %s', 400),
  TenantNotFound: createError('TM_QUERY_TENANT_NOT_FOUND', 'No tenant %s', 404),
  InvalidRange: createError('TM_QUERY_INVALID_RANGE', 'Invalid range: %s', 400),
  TooManyPoints: createError('TM_QUERY_TOO_MANY_POINTS', 'The range holds %s steps; at most %s are served: widen step or narrow the range', 400),
  // No %s: ClickHouse's own text names tables, its version and the query. It stays in the log, as the cause.
  StorageUnavailable: createError('TM_QUERY_STORAGE_UNAVAILABLE', 'Storage did not answer this query: retry shortly (GET /api/v2/health tells when it is back)', 503),
  // The reporting routes: a name the tenant never sent is not an empty chart, and a group-by has a bound.
  MetricUnknown: createError('TM_QUERY_METRIC_UNKNOWN', 'This tenant never sent %s (GET /api/v2/analytics/metric-names lists what it sent)', 404),
  TooManyGroups: createError('TM_QUERY_TOO_MANY_GROUPS', 'groupBy=%s splits the range into more than %s groups: filter with tag= or group by another tag', 400),
  // GET /api/v2/live: a bound per tenant, so one tenant's tabs cannot hold every socket and timer of the process.
  TooManyLiveStreams: createError('TM_QUERY_LIVE_TOO_MANY_STREAMS', 'This tenant already has %s live streams open: close one first', 429),
  // The SQL console (POST /api/v2/query). Messages name the refused part or the limit; none carries ClickHouse's
  // text beyond the analyst's own statement (query/sql/console-errors.ts decides what passes).
  SqlInvalid: createError('TM_QUERY_SQL_INVALID', 'SQL syntax error: %s', 400),
  SqlRefused: createError('TM_QUERY_SQL_REFUSED', 'SQL refused: %s', 400),
  SqlFailed: createError('TM_QUERY_SQL_FAILED', 'The query failed: %s', 400),
  SqlTimeout: createError('TM_QUERY_SQL_TIMEOUT', 'The query ran past its time limit of %s s: %s', 400),
  SqlTooManyRows: createError('TM_QUERY_SQL_TOO_MANY_ROWS', 'The query went past a row limit: %s', 400),
  SqlMemoryLimit: createError('TM_QUERY_SQL_MEMORY_LIMIT', 'The query needs more than its memory limit of %s MiB: %s', 400),
} as const
