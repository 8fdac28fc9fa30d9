// Decides from ClickHouse's own parse (EXPLAIN AST) whether an analyst's
// statement may run: one SELECT (UNION, INTERSECT, EXCEPT, subqueries, CTEs,
// joins and window functions included) whose every node is of a kind listed
// here, whose every function is on the allow-list, and whose every table is a
// plain name. The first thing refused is named in the error.
//
// Which plain names are tables is settled later, by construction: the console
// defines every name the statement uses as a CTE around it (a tenant view, or
// one that fails as "unknown table"), so no name can reach a table of the
// database, whatever scope ClickHouse resolves it in (sql-statement.ts).
import { QueryErrors } from '../errors.ts'
import type { AstNode } from './explain-ast.ts'
import { isAllowedFunction, refusalReason } from './function-allow-list.ts'

/** Node kinds a SELECT over the tenant's views is made of. Anything else is refused, so new syntax is refused until reviewed. */
const ALLOWED_NODES = new Set([
  'SelectWithUnionQuery',
  'SelectIntersectExceptQuery',
  'SelectQuery',
  'ExpressionList',
  'Identifier',
  'Literal',
  'Function',
  'Asterisk',
  'QualifiedAsterisk',
  'ColumnsRegexpMatcher',
  'ColumnsListMatcher',
  'QualifiedColumnsRegexpMatcher',
  'QualifiedColumnsListMatcher',
  'ColumnsTransformerList',
  'ColumnsExceptTransformer',
  'ColumnsReplaceTransformer',
  'ColumnsReplaceTransformer::Replacement',
  'TablesInSelectQuery',
  'TablesInSelectQueryElement',
  'TableExpression',
  'TableIdentifier',
  'TableJoin',
  'ArrayJoin',
  'Subquery',
  'WithElement',
  'OrderByElement',
  'InterpolateElement',
  'WindowDefinition',
  'WindowListElement',
])

/** How a refused node kind is called in SQL, where that is clearer than ClickHouse's class name. */
const NODE_NAMES: Record<string, string> = {
  Set: 'SETTINGS (the console sets its own limits)',
  QueryParameter: 'query parameters ({name:Type})',
  SampleRatio: 'SAMPLE',
  ColumnsApplyTransformer: 'APPLY',
}

const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/
const IN_FUNCTIONS = new Set(['in', 'notin', 'nullin', 'notnullin', 'globalin', 'globalnotin', 'globalnullin', 'globalnotnullin'])

export interface ScreenedStatement {
  /** Every table name the statement reads, tenant views and its own CTEs alike, in order of first use. */
  tableNames: string[]
}

function refuse(what: string): never {
  throw new QueryErrors.SqlRefused(what)
}

/** "InsertQuery" -> "INSERT", "ShowTablesQuery" -> "SHOW TABLES". */
function statementKind(type: string): string {
  return type
    .replace(/Query$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase()
}

/**
 * A SETTINGS clause holding only query parameters (`SETTINGS param_x = 1`)
 * leaves no node in EXPLAIN AST: the formatted text is the only trace of it.
 * ClickHouse's formatter writes the keyword in capitals before the first
 * setting, so this can only err by refusing a string literal that says it.
 */
const PARAMETER_SETTINGS = /\bSETTINGS param_/

export function screenStatement(root: AstNode, viewNames: readonly string[], formatted: string): ScreenedStatement {
  const views = viewNames.join(', ')
  if (PARAMETER_SETTINGS.test(formatted)) refuse('SETTINGS: the console sets its own limits, and parameters are not supported')
  if (root.type !== 'SelectWithUnionQuery') refuse(`only a SELECT may run here, and this is ${statementKind(root.type)}`)
  // The statement's own output options hang off the root after its selects.
  for (const extra of root.children.slice(1)) {
    if (extra.type === 'Set') refuse('SETTINGS: the console sets its own limits')
    refuse('FORMAT and INTO OUTFILE: choose the answer with ?format=json|columnar|csv or Accept: text/csv')
  }
  const tableNames: string[] = []
  const visit = (node: AstNode, parent: AstNode | undefined): void => {
    if (!ALLOWED_NODES.has(node.type)) refuse(`${NODE_NAMES[node.type] ?? node.type} is not supported in the console`)
    if (node.type === 'Function') {
      if (parent?.type === 'TableExpression') refuse(`the table function ${node.label.slice(0, 64)}(…): read the tables ${views}`)
      if (!PLAIN_NAME.test(node.label)) refuse(`the function name ${JSON.stringify(node.label.slice(0, 64))}`)
      if (!isAllowedFunction(node.label)) refuse(`the function ${node.label}: ${refusalReason(node.label)}`)
      if (IN_FUNCTIONS.has(node.label.toLowerCase()) && node.children[0]?.children[1]?.type === 'Identifier') {
        refuse(`IN followed by a table name: write IN (SELECT … FROM ${node.children[0].children[1].label.slice(0, 64)})`)
      }
    }
    if (node.type === 'TableIdentifier') {
      const name = node.label
      // EXPLAIN AST run as a subquery writes a SELECT without FROM as reading system.one (one row, one zero): harmless.
      if (name === 'system.one') return
      if (name.includes('.')) refuse(`the table ${JSON.stringify(name.slice(0, 64))}: name tables without a database; the tables are ${views}`)
      if (!PLAIN_NAME.test(name)) refuse(`the table name ${JSON.stringify(name.slice(0, 64))}: table names are letters, digits and _`)
      if (!tableNames.includes(name)) tableNames.push(name)
    }
    for (const child of node.children) visit(child, node)
  }
  visit(root, undefined)
  return { tableNames }
}
