// Runs one analyst's statement over their tenant's views, in four round trips:
//   1. ClickHouse formats it (the raw text travels only as a bound parameter,
//      so nothing of it is parsed as part of another statement);
//   2. EXPLAIN AST of the formatted text, screened (statement-screen.ts);
//   3. EXPLAIN QUERY TREE of the composed statement, every table checked;
//   4. the composed statement itself, with its limits in its SETTINGS.
// Measured on chDB here: a statement over a few hundred rows answers in about
// 10 ms, all four steps included.
import { performance } from 'node:perf_hooks'
import { TENANT_VIEWS, type ClickHouseStore } from '../../engine/index.ts'
import { QueryErrors } from '../errors.ts'
import type { SqlColumn, SqlJsonAnswer } from '../read-contract.ts'
import { explainFailure, formatFailure, runFailure } from './console-errors.ts'
import { MalformedAstError, parseExplainAst } from './explain-ast.ts'
import { composeStatement, DEFAULT_SQL_LIMITS, verifyPlan, type SqlLimits } from './sql-statement.ts'
import { screenStatement } from './statement-screen.ts'

export const DEFAULT_MAX_ROWS = 10_000
export const MAX_ROWS_LIMIT = 100_000

/** Row-major, values as ClickHouse's JSON gives them (64-bit integers as strings). */
export type SqlAnswer = SqlJsonAnswer

export interface SqlRunOptions {
  maxRows?: number
  /** 'truncate' (default) answers the first maxRows with truncated: true; 'error' refuses a longer answer. */
  overflow?: 'truncate' | 'error'
  limits?: SqlLimits
}

const VIEW_NAMES = TENANT_VIEWS.map((v) => v.name)

interface JsonCompact {
  meta: SqlColumn[]
  data: unknown[][]
}

export async function runSql(store: ClickHouseStore, tenant: string, sql: string, options: SqlRunOptions = {}): Promise<SqlAnswer> {
  const started = performance.now()
  const maxRows = Math.min(options.maxRows ?? DEFAULT_MAX_ROWS, MAX_ROWS_LIMIT)
  const limits = options.limits ?? DEFAULT_SQL_LIMITS
  const db = store.database
  const internalNames = [`${db}.`, '_for_tenant', 'tm_unknown_table', 'tm-unknown-table']

  let formatted: string
  try {
    const [row] = await store.rows<{ formatted: string }>('SELECT formatQuerySingleLine({sql:String}) AS formatted SETTINGS max_execution_time = 5', { sql })
    formatted = row?.formatted ?? ''
  } catch (err) {
    throw formatFailure(err)
  }

  let astLines: string[]
  try {
    // EXPLAIN as a subquery: the client appends FORMAT to the statement, which would otherwise become the explained query's.
    const rows = await store.rows<{ explain: string }>(`SELECT explain FROM (EXPLAIN AST ${formatted})`)
    astLines = rows.map((r) => r.explain)
  } catch (err) {
    throw explainFailure(err)
  }
  let tableNames: string[]
  try {
    tableNames = screenStatement(parseExplainAst(astLines), VIEW_NAMES, formatted).tableNames
  } catch (err) {
    if (err instanceof MalformedAstError) throw new QueryErrors.SqlRefused('a name holds a line break or another control character', { cause: err })
    throw err
  }

  const resultRows = maxRows + 1
  const statement = composeStatement(db, tenant, formatted, tableNames, TENANT_VIEWS, resultRows, limits)
  try {
    const plan = await store.rows<{ explain: string }>(`SELECT explain FROM (EXPLAIN QUERY TREE ${statement})`)
    verifyPlan(
      plan.map((r) => r.explain),
      db,
      TENANT_VIEWS
    )
  } catch (err) {
    if ((err as { code?: string }).code === 'TM_QUERY_SQL_REFUSED') throw err
    throw runFailure(err, limits, internalNames, VIEW_NAMES)
  }

  let answer: JsonCompact
  try {
    const result = await store.client.query({ query: statement, format: 'JSONCompact' })
    answer = (await result.json()) as JsonCompact
  } catch (err) {
    throw runFailure(err, limits, internalNames, VIEW_NAMES)
  }
  const truncated = answer.data.length > maxRows
  if (truncated && options.overflow === 'error') {
    throw new QueryErrors.SqlTooManyRows(`the answer has more than ${maxRows} rows (maxRows): add a LIMIT or aggregate, or send "overflow": "truncate"`)
  }
  const rows = truncated ? answer.data.slice(0, maxRows) : answer.data
  return { columns: answer.meta.map((m) => ({ name: m.name, type: m.type })), rows, rowCount: rows.length, truncated, elapsedMs: Math.round(performance.now() - started) }
}
