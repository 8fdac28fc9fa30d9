// Builds the statement that runs for an analyst, and checks ClickHouse's
// resolved plan of it.
//
// The analyst's statement (as ClickHouse formatted it) goes inside
//
//   WITH samples AS (SELECT * FROM tidemark.samples_for_tenant(tenant = 't_4f…')),
//        nosuch AS (SELECT throwIf(1, 'tm-unknown-table:nosuch') … WHERE throwIf(…) = 0)
//   SELECT * FROM (<statement>) LIMIT <rows + 1>
//   SETTINGS readonly = 1, max_execution_time = …, …
//
// with one CTE for every table name it uses: a tenant view bound to the
// credential's tenant, or, for a name that is no view, one that fails when
// read. A CTE the statement defines itself shadows ours where ClickHouse sees
// it; anywhere else the name meets ours. So no plain name can resolve to a
// table of the database, in any scope, and the view's tenant parameter is
// given here and nowhere else (the statement may not call a view with
// arguments: that is a table function, refused by the screen).
//
// The limits sit in the statement's own SETTINGS: on chDB, settings passed
// beside a query become session-wide and stick (DESIGN.md).
import { QueryErrors } from '../errors.ts'

export interface SqlLimits {
  /** max_execution_time, seconds. */
  maxExecutionS: number
  /** max_rows_to_read over all tables the query reads. */
  maxRowsToRead: number
  /** max_memory_usage, bytes. */
  maxMemoryBytes: number
  /** max_result_bytes. */
  maxResultBytes: number
}

export const DEFAULT_SQL_LIMITS: SqlLimits = {
  // Queries on one chDB connection run one at a time, storage inserts included (DESIGN.md): keep each short.
  maxExecutionS: 10,
  maxRowsToRead: 50_000_000,
  maxMemoryBytes: 1024 * 1024 * 1024,
  maxResultBytes: 64 * 1024 * 1024,
}

/**
 * Tenant ids as the registry makes them (t_ and hex). The id is written into
 * the statement as a literal, not bound as a query parameter: a parameter can
 * be set again from inside a statement (`SETTINGS param_…`), a literal cannot.
 */
const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/
/** throwIf's message when a statement reads a name that is neither a view nor its own CTE. */
export const UNKNOWN_TABLE_MARK = 'tm-unknown-table:'

export interface TenantViewRef {
  name: string
  view: string
}

export function composeStatement(
  db: string,
  tenant: string,
  formatted: string,
  tableNames: readonly string[],
  views: readonly TenantViewRef[],
  resultRows: number,
  limits: SqlLimits
): string {
  if (!TENANT_ID.test(tenant)) throw new Error(`tenant id ${JSON.stringify(tenant)} is not one the registry makes`)
  const ctes = tableNames.map((name) => {
    const view = views.find((v) => v.name === name)
    // Names are plain (letters, digits, _: the screen checked), so they are safe in backquotes and in a string literal.
    return view
      ? `\`${name}\` AS (SELECT * FROM ${db}.${view.view}(tenant = '${tenant}'))`
      : // Failing in WHERE as well as in the column: count() reads no column, but every row passes the filter.
        `\`${name}\` AS (SELECT throwIf(1, '${UNKNOWN_TABLE_MARK}${name}') AS tm_unknown_table WHERE throwIf(1, '${UNKNOWN_TABLE_MARK}${name}') = 0)`
  })
  const settings = [
    'readonly = 1',
    // The plan checked by verifyPlan is the analyzer's: make sure the same analyzer runs it (on by default since 24.3).
    'allow_experimental_analyzer = 1',
    `max_execution_time = ${limits.maxExecutionS}`,
    "timeout_overflow_mode = 'throw'",
    `max_rows_to_read = ${Math.floor(limits.maxRowsToRead)}`,
    "read_overflow_mode = 'throw'",
    `max_result_rows = ${resultRows}`,
    `max_result_bytes = ${Math.floor(limits.maxResultBytes)}`,
    "result_overflow_mode = 'throw'",
    `max_memory_usage = ${Math.floor(limits.maxMemoryBytes)}`,
    // Unambiguous answers: instants as ISO 8601 in UTC, 64-bit integers as strings (the route turns safe ones into numbers).
    "date_time_output_format = 'iso'",
    'output_format_json_quote_64bit_integers = 1',
  ]
  return `${ctes.length > 0 ? `WITH ${ctes.join(', ')} ` : ''}SELECT * FROM (\n${formatted}\n) LIMIT ${resultRows} SETTINGS ${settings.join(', ')}`
}

/**
 * Checks ClickHouse's resolved plan (EXPLAIN QUERY TREE) of the composed
 * statement: every table it reads must be one of the tenant views or
 * system.one (what a SELECT without FROM reads), and it calls no table
 * function. The construction above already guarantees this; the check is
 * there so that a gap in the screen is refused instead of run.
 */
export function verifyPlan(planLines: readonly string[], db: string, views: readonly TenantViewRef[]): void {
  const allowed = new Set([...views.map((v) => `${db}.${v.view}`), 'system.one'])
  for (const line of planLines) {
    if (!line.includes('table_name:') && !line.includes('table_function_name:') && !/^\s*TABLE(_FUNCTION)? id:/.test(line)) continue
    // Anchored at both ends: an alias holding ", table_name: …" cannot add an allowed name after a forbidden one.
    const m = /^\s*TABLE id: \d+(?:, alias: __table\d+)?, table_name: (\S+)$/.exec(line)
    if (!m || !allowed.has(m[1] as string)) {
      throw new QueryErrors.SqlRefused('the statement would read a table other than your views')
    }
  }
}
