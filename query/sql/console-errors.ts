// What an analyst learns when ClickHouse refuses their statement. Syntax and
// semantic errors are worth showing (position, "Unknown identifier valeu,
// maybe you meant value"), but ClickHouse's text may also quote the composed
// statement (Tidemark's database, view names, the parameter binding the
// tenant) and hint at other tables. So: the message is cut before the part
// where ClickHouse quotes a scope or an expression, and dropped for a generic
// one when what is left still names anything internal. Data in messages is
// always the tenant's own: no name in the statement reaches anything else.
import { QueryErrors } from '../errors.ts'
import type { SqlLimits } from './sql-statement.ts'
import { UNKNOWN_TABLE_MARK } from './sql-statement.ts'

interface ClickHouseFailure {
  /** ClickHouse's error name (SYNTAX_ERROR, TIMEOUT_EXCEEDED…); absent when ClickHouse did not answer at all. */
  type?: string
  message: string
}

const MAX_MESSAGE = 600
/** Where ClickHouse starts quoting the statement or its plan, case as it writes them. */
const QUOTING = [' In scope ', ' in scope ', ' In query ', ': While processing', ': while executing', '. Stack trace', ' (version ']

/** ClickHouse errors that say the server, not the statement, is in trouble. */
const SERVER_TROUBLE = new Set([
  'TOO_MANY_SIMULTANEOUS_QUERIES',
  'NETWORK_ERROR',
  'SOCKET_TIMEOUT',
  'ALL_CONNECTION_TRIES_FAILED',
  'UNKNOWN_DATABASE',
  'UNKNOWN_TABLE',
  'CANNOT_ALLOCATE_MEMORY',
  'TABLE_IS_DROPPED',
  'ABORTED',
  'QUERY_WAS_CANCELLED',
])

function failureOf(err: unknown): ClickHouseFailure {
  const e = err as { type?: unknown; message?: unknown }
  return { type: typeof e.type === 'string' ? e.type : undefined, message: typeof e.message === 'string' ? e.message : String(err) }
}

/** ClickHouse's message up to where it starts quoting, without its exception prefix, or undefined when it names internals. */
export function analystMessage(message: string, internalNames: readonly string[]): string | undefined {
  let text = message.replace(/^Code: \d+\. /, '').replace(/^DB::Exception: /, '')
  for (const marker of QUOTING) {
    const at = text.indexOf(marker)
    if (at >= 0) text = text.slice(0, at)
  }
  text = text.replace(/[:.\s]+$/, '')
  // ClickHouse's spelling hint comes after the quoted scope; it names columns of the statement's own tables.
  const hint = /Maybe you meant:? (\[[^\]]*\]|[^.\s]+)/.exec(message)
  if (hint && !text.includes(hint[0])) text += `. ${hint[0]}`
  if (internalNames.some((name) => text.includes(name))) return undefined
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text
}

/** The first step: ClickHouse formats the statement, or says why it cannot parse it. */
export function formatFailure(err: unknown): Error {
  const failure = failureOf(err)
  if (failure.type !== 'SYNTAX_ERROR') return new QueryErrors.StorageUnavailable({ cause: err })
  if (failure.message.includes('Multi-statements are not allowed')) return new QueryErrors.SqlRefused('several statements: send one SELECT, without a second statement after ;', { cause: err })
  if (/^(Code: \d+\. )?(DB::Exception: )?Empty query/.test(failure.message)) return new QueryErrors.SqlInvalid('the statement is empty', { cause: err })
  return new QueryErrors.SqlInvalid(analystMessage(failure.message, []) ?? 'the statement does not parse', { cause: err })
}

/** The second step: EXPLAIN AST of the formatted statement. */
export function explainFailure(err: unknown): Error {
  const failure = failureOf(err)
  if (failure.type === 'UNKNOWN_QUERY_PARAMETER') return new QueryErrors.SqlRefused('query parameters ({name:Type}): write the values into the statement', { cause: err })
  if (failure.message.includes('cannot have output options')) {
    return new QueryErrors.SqlRefused('FORMAT and INTO OUTFILE: choose the answer with ?format=json|columnar|csv or Accept: text/csv', { cause: err })
  }
  if (failure.type === undefined) return new QueryErrors.StorageUnavailable({ cause: err })
  // A formatted SELECT always explains; what does not is another kind of statement (INSERT … FORMAT with data, say).
  return new QueryErrors.SqlRefused('only a SELECT may run here', { cause: err })
}

/** The last steps: the plan and the run. */
export function runFailure(err: unknown, limits: SqlLimits, internalNames: readonly string[], viewNames: readonly string[]): Error {
  const failure = failureOf(err)
  const { type, message } = failure
  if (type === undefined || SERVER_TROUBLE.has(type)) return new QueryErrors.StorageUnavailable({ cause: err })
  const unknown = message.indexOf(UNKNOWN_TABLE_MARK)
  if (type === 'FUNCTION_THROW_IF_VALUE_IS_NON_ZERO' && unknown >= 0) {
    const name = /^[A-Za-z0-9_]*/.exec(message.slice(unknown + UNKNOWN_TABLE_MARK.length))?.[0] ?? ''
    return new QueryErrors.SqlFailed(`unknown table ${name}: the tables are ${viewNames.join(', ')} (and the statement's own WITH … AS (…) names)`, { cause: err })
  }
  switch (type) {
    case 'TIMEOUT_EXCEEDED':
      return new QueryErrors.SqlTimeout(String(limits.maxExecutionS), 'filter by time and metric, or read samples_1m or samples_1h', { cause: err })
    case 'TOO_MANY_ROWS':
    case 'TOO_MANY_BYTES':
      return new QueryErrors.SqlTooManyRows(
        `it would read more than ${limits.maxRowsToRead.toLocaleString('en-US')} rows: filter by time and metric, or read samples_1m or samples_1h`,
        { cause: err }
      )
    case 'TOO_MANY_ROWS_OR_BYTES':
      return new QueryErrors.SqlTooManyRows(`its answer is larger than ${Math.round(limits.maxResultBytes / 1048576)} MiB: select fewer columns or rows`, { cause: err })
    case 'MEMORY_LIMIT_EXCEEDED':
      // "(total)" is the server's own limit, shared by every query: not this statement's fault.
      if (message.includes('(total)')) return new QueryErrors.StorageUnavailable({ cause: err })
      return new QueryErrors.SqlMemoryLimit(String(Math.round(limits.maxMemoryBytes / 1048576)), 'aggregate over fewer groups or a narrower range', { cause: err })
  }
  const text = analystMessage(message, internalNames)
  return new QueryErrors.SqlFailed(text ? `${type}: ${text}` : `${type} (ClickHouse's message named internals and is in the log)`, { cause: err })
}
