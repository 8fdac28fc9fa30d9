// Tells apart the two ways a ClickHouse insert fails. A refusal for content (a
// value that does not parse as its column's type, a malformed row) comes back
// the same for the same rows however often they are sent: retrying cannot help,
// the rows must be set aside. Anything else (ClickHouse down or busy, a network
// error, a missing table) may pass later and is retried with the same token.
// Measured on chDB 26.7 through @clickhouse/client (test/unit/clickhouse-errors.test.ts
// keeps the shapes): a string where a Float64 is expected is CANNOT_PARSE_NUMBER,
// a bad DateTime64 CANNOT_PARSE_DATETIME, a malformed row CANNOT_PARSE_INPUT_ASSERTION_FAILED;
// a renamed table is UNKNOWN_TABLE; an insert refused for content stores none of
// its rows (checked up to 1M rows with the bad row last).

/** ClickHouse error names that mean "these rows", not "this server". */
const CONTENT_ERRORS = new Set([
  'TYPE_MISMATCH',
  'INCORRECT_DATA',
  'INCORRECT_NUMBER_OF_COLUMNS',
  'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN',
  'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE',
  'TOO_LARGE_STRING_SIZE',
  'CANNOT_CONVERT_TYPE',
  'DECIMAL_OVERFLOW',
  'UNEXPECTED_DATA_AFTER_PARSED_VALUE',
  'CANNOT_READ_ARRAY_FROM_TEXT',
  'CANNOT_READ_MAP_FROM_TEXT',
])
/** CANNOT_PARSE_NUMBER, CANNOT_PARSE_DATETIME, CANNOT_PARSE_INPUT_ASSERTION_FAILED, CANNOT_PARSE_ESCAPE_SEQUENCE, … */
const CONTENT_ERROR_PREFIX = 'CANNOT_PARSE_'

/** The error's ClickHouse name (`CANNOT_PARSE_NUMBER`), from the client's ClickHouseError or the `(NAME)` in its message. */
export function clickHouseErrorName(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const { type, message } = err as { type?: unknown; message?: unknown }
  if (typeof type === 'string' && type !== '') return type
  if (typeof message !== 'string' || !/DB::Exception/.test(message)) return undefined
  return /\(([A-Z][A-Z0-9_]{2,})\)/.exec(message)?.[1]
}

/** True when ClickHouse refused the rows themselves, so sending them again would fail again. */
export function isContentRefusal(err: unknown): boolean {
  const name = clickHouseErrorName(err)
  return name !== undefined && (name.startsWith(CONTENT_ERROR_PREFIX) || CONTENT_ERRORS.has(name))
}
