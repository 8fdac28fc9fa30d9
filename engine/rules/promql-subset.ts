// The PromQL Tidemark evaluates, read with Prometheus' own grammar
// (@prometheus-io/lezer-promql, the parser of Prometheus' web UI) and mapped
// to a small AST. Two shapes, with the number on either side:
//
//   <selector> <op> <number>                          cpu_usage{host=~"web-.*"} > 80
//   <fn>_over_time(<selector>[<range>]) <op> <number>  avg_over_time(cpu_usage[5m]) >= 80
//   quantile_over_time(<q>, <selector>[<range>]) <op> <number>
//
// fn: avg, min, max, sum, count, quantile; op: > < >= <= == != (no `bool`:
// it returns every series, so an alert would fire for all of them). A selector
// names one metric and filters the beacon's tags with = != =~ !~ (regexes
// fully anchored, as Prometheus anchors them). Parentheses and a sign on the
// number are accepted. Everything else (other functions, aggregations,
// arithmetic, and/or/unless, offset, @, subqueries, vector matching) is
// refused with an error that names the part.
import { parser } from '@prometheus-io/lezer-promql'
import type { SyntaxNode } from '@lezer/common'
import { parseDuration } from './duration.ts'
import { unquoteGoString } from './go-string.ts'

export type MatchOp = '=' | '!=' | '=~' | '!~'
export type CompareOp = '>' | '<' | '>=' | '<=' | '==' | '!='
export type RangeFunction = 'avg_over_time' | 'min_over_time' | 'max_over_time' | 'sum_over_time' | 'count_over_time' | 'quantile_over_time'

export interface LabelMatcher {
  name: string
  op: MatchOp
  value: string
}

export interface Selector {
  metric: string
  /** Matchers on tags (the metric name's own matcher is `metric`). */
  matchers: LabelMatcher[]
}

export interface RuleExpr {
  selector: Selector
  /** Absent for an instant selector (newest sample within the 5-minute lookback). */
  range?: { fn: RangeFunction; rangeMs: number; quantile?: number }
  /** Normalised so the expression reads `series op threshold` (`80 < x` becomes `x > 80`). */
  op: CompareOp
  threshold: number
}

/** A rule expression outside the subset, or not PromQL at all. */
export class ExpressionError extends Error {}

const SUBSET = 'Tidemark evaluates selector op scalar and <agg>_over_time(selector[range]) op scalar (agg: avg, min, max, sum, count, quantile)'

const COMPARISONS: Record<string, CompareOp> = { Gtr: '>', Lss: '<', Gte: '>=', Lte: '<=', Eql: '==', Neq: '!=' }
const FLIPPED: Record<CompareOp, CompareOp> = { '>': '<', '<': '>', '>=': '<=', '<=': '>=', '==': '==', '!=': '!=' }
const RANGE_FUNCTIONS = new Set<string>(['avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time', 'count_over_time', 'quantile_over_time'])
const MATCH_OPS: Record<string, MatchOp> = { EqlSingle: '=', Neq: '!=', EqlRegex: '=~', NeqRegex: '!~' }
const OPERATOR_WORDS: Record<string, string> = {
  Add: '+', Sub: '-', Mul: '*', Div: '/', Mod: '%', Pow: '^', Atan2: 'atan2', And: 'and', Or: 'or', Unless: 'unless', TrimUpper: '</', TrimLower: '>/',
}

function refuse(part: string): never {
  throw new ExpressionError(`${part} is not supported: ${SUBSET}`)
}

function kids(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = []
  for (let c = node.firstChild; c !== null; c = c.nextSibling) out.push(c)
  return out
}

/** Parses and checks a rule's `expr`; throws ExpressionError naming what is wrong or unsupported. */
export function parseRuleExpr(text: string): RuleExpr {
  if (text.trim() === '') throw new ExpressionError('the expression is empty')
  const tree = parser.parse(text)
  tree.iterate({
    enter(n) {
      if (n.type.isError) {
        const at = n.from
        const near = text.slice(at, at + 20).trim()
        throw new ExpressionError(`PromQL syntax error at character ${at + 1}${near === '' ? ' (unexpected end of expression)' : `, near "${near}"`}`)
      }
    },
  })
  const top = tree.topNode.firstChild
  if (top === null) throw new ExpressionError('the expression is empty')
  const src = (n: SyntaxNode): string => text.slice(n.from, n.to)
  const expr = unwrap(top)
  if (expr.name !== 'BinaryExpr') {
    if (isVectorExpr(expr)) {
      checkVector(expr, src)
      throw new ExpressionError(`"${src(expr)}" has no comparison: ${SUBSET}, for example ${src(expr)} > 80`)
    }
    return refuseNode(expr, src)
  }
  const parts = kids(expr)
  const [lhs, opNode] = parts as [SyntaxNode, SyntaxNode]
  const rhs = parts[parts.length - 1] as SyntaxNode
  const op = COMPARISONS[opNode.name]
  if (op === undefined) refuse(`the operator "${OPERATOR_WORDS[opNode.name] ?? src(opNode)}"`)
  for (const modifier of parts.slice(2, -1)) {
    if (modifier.name === 'BoolModifier') {
      throw new ExpressionError(`the bool modifier is not supported: "${src(expr)}" would return every series (0 or 1), so the alert would fire for all of them; drop "bool"`)
    }
    refuse(`vector matching ("${src(modifier)}")`)
  }
  const left = unwrap(lhs)
  const right = unwrap(rhs)
  const leftNumber = numberOf(left, src)
  const rightNumber = numberOf(right, src)
  if (leftNumber !== undefined && rightNumber !== undefined) refuse(`comparing two numbers ("${src(expr)}")`)
  if (leftNumber === undefined && rightNumber === undefined) {
    if (isVectorExpr(left) && isVectorExpr(right)) refuse(`comparing two series ("${src(expr)}")`)
    return refuseNode(isVectorExpr(left) ? right : left, src)
  }
  const vectorNode = leftNumber === undefined ? left : right
  const vector = checkVector(vectorNode, src)
  return {
    ...vector,
    op: leftNumber === undefined ? op : FLIPPED[op],
    threshold: (leftNumber ?? rightNumber) as number,
  }
}

function unwrap(node: SyntaxNode): SyntaxNode {
  let n = node
  while (n.name === 'ParenExpr' && n.firstChild !== null) n = n.firstChild
  return n
}

function isVectorExpr(n: SyntaxNode): boolean {
  return n.name === 'VectorSelector' || n.name === 'FunctionCall'
}

/** The value of a number literal (with a sign, in parentheses), or undefined when the node is not one. */
function numberOf(node: SyntaxNode, src: (n: SyntaxNode) => string): number | undefined {
  const n = unwrap(node)
  if (n.name === 'UnaryExpr') {
    const [sign, operand] = kids(n) as [SyntaxNode, SyntaxNode]
    const inner = numberOf(operand, src)
    return inner === undefined ? undefined : src(sign) === '-' ? -inner : inner
  }
  if (n.name !== 'NumberDurationLiteral') return undefined
  return parseNumber(src(n))
}

/** PromQL number literals as Go's ParseFloat reads them: decimals, exponents, hex, Inf, NaN, `_` between digits. */
export function parseNumber(literal: string): number {
  const text = literal.replace(/^\+/, '')
  const negative = text.startsWith('-')
  const body = (negative ? text.slice(1) : text).toLowerCase()
  let value: number
  if (body === 'inf' || body === 'infinity') value = Infinity
  else if (body === 'nan') value = NaN
  else if (/^0x[0-9a-f]+$/.test(body)) value = parseInt(body.slice(2), 16)
  else if (/^(\d+(_\d+)*(\.(\d+(_\d+)*)?)?|\.\d+(_\d+)*)(e[-+]?\d+(_\d+)*)?$/.test(body)) value = Number(body.replace(/_/g, ''))
  else if (parseDuration(body) !== undefined) {
    throw new ExpressionError(`the duration ${literal} is not a number here: write the threshold as a number`)
  } else throw new ExpressionError(`${literal} is not a number`)
  return negative ? -value : value
}

function refuseNode(node: SyntaxNode, src: (n: SyntaxNode) => string): never {
  switch (node.name) {
    case 'FunctionCall': {
      const name = src(node.firstChild as SyntaxNode)
      return refuse(`${name}()`)
    }
    case 'AggregateExpr':
      return refuse(`the aggregation ${src(node.firstChild as SyntaxNode)}()`)
    case 'BinaryExpr': {
      const opNode = kids(node)[1] as SyntaxNode
      const op = COMPARISONS[opNode.name] ?? OPERATOR_WORDS[opNode.name] ?? src(opNode)
      return refuse(COMPARISONS[opNode.name] ? `a second comparison ("${src(node)}")` : `the operator "${op}" (in "${src(node)}")`)
    }
    case 'OffsetExpr':
      return refuse(`offset ("${src(node)}")`)
    case 'StepInvariantExpr':
      return refuse(`the @ modifier ("${src(node)}")`)
    case 'SubqueryExpr':
      return refuse(`a subquery ("${src(node)}")`)
    case 'MatrixSelector':
      return refuse(`a bare range selector ("${src(node)}"; wrap it in an _over_time function)`)
    case 'UnaryExpr':
      return refuse(`a negated series ("${src(node)}")`)
    case 'StringLiteral':
      return refuse(`a string ("${src(node)}")`)
    case 'NumberDurationLiteral':
      return refuse(`a number alone ("${src(node)}")`)
    default:
      return refuse(`"${src(node)}"`)
  }
}

/** Checks the vector side: an instant selector or an allowed _over_time call. */
function checkVector(node: SyntaxNode, src: (n: SyntaxNode) => string): Pick<RuleExpr, 'selector' | 'range'> {
  if (node.name === 'VectorSelector') return { selector: selectorOf(node, src) }
  if (node.name !== 'FunctionCall') return refuseNode(node, src)
  const name = src(node.firstChild as SyntaxNode)
  if (!RANGE_FUNCTIONS.has(name)) refuse(`${name}()`)
  const body = node.lastChild as SyntaxNode
  const args = kids(body).filter((k) => k.name !== '(' && k.name !== ')' && k.name !== ',')
  const wanted = name === 'quantile_over_time' ? 2 : 1
  if (args.length !== wanted) {
    throw new ExpressionError(`${name}() takes ${wanted === 2 ? 'two arguments (a quantile and a range selector)' : 'one argument (a range selector)'}, got ${args.length}`)
  }
  let quantile: number | undefined
  if (wanted === 2) {
    quantile = numberOf(args[0] as SyntaxNode, src)
    if (quantile === undefined) refuse(`a quantile that is not a number ("${src(args[0] as SyntaxNode)}")`)
  }
  const matrix = unwrap(args[wanted - 1] as SyntaxNode)
  if (matrix.name !== 'MatrixSelector') {
    if (matrix.name === 'SubqueryExpr') refuse(`a subquery ("${src(matrix)}")`)
    throw new ExpressionError(`${name}() needs a range selector such as cpu_usage[5m], got "${src(matrix)}"`)
  }
  const [inner, ...rest] = kids(matrix)
  const selectorNode = unwrap(inner as SyntaxNode)
  if (selectorNode.name !== 'VectorSelector') return refuseNode(selectorNode, src)
  const durationNode = rest.find((k) => k.name === 'DurationExpr')
  const durationText = durationNode === undefined ? '' : src(durationNode).trim()
  const rangeMs = parseDuration(durationText)
  if (rangeMs === undefined) throw new ExpressionError(`the range [${durationText}] is not supported: write a duration such as [5m], [90s] or [1h30m]`)
  if (rangeMs <= 0) throw new ExpressionError(`the range [${durationText}] must be longer than zero`)
  return { selector: selectorOf(selectorNode, src), range: { fn: name as RangeFunction, rangeMs, ...(quantile === undefined ? {} : { quantile }) } }
}

function selectorOf(node: SyntaxNode, src: (n: SyntaxNode) => string): Selector {
  let metric: string | undefined
  const matchers: LabelMatcher[] = []
  for (const part of kids(node)) {
    if (part.name === 'Identifier') metric = src(part)
    if (part.name !== 'LabelMatchers') continue
    for (const m of kids(part)) {
      if (m.name === 'QuotedLabelName') {
        // {"metric.name"}: a quoted metric name (Prometheus 3 syntax).
        metric = setMetric(metric, unquote(src(m)), src(node))
        continue
      }
      if (m.name !== 'UnquotedLabelMatcher' && m.name !== 'QuotedLabelMatcher') continue
      const [nameNode, opNode, valueNode] = kids(m) as [SyntaxNode, SyntaxNode, SyntaxNode]
      const name = nameNode.name === 'QuotedLabelName' ? unquote(src(nameNode)) : src(nameNode)
      const op = MATCH_OPS[(opNode.firstChild ?? opNode).name] as MatchOp
      const value = unquote(src(valueNode))
      if (name === '__name__') {
        if (op !== '=') refuse(`matching the metric name with ${op} ("${src(m)}"); a rule selects one metric`)
        metric = setMetric(metric, value, src(node))
        continue
      }
      if (op === '=~' || op === '!~') compileRegex(value)
      matchers.push({ name, op, value })
    }
  }
  if (metric === undefined || metric === '') refuse(`a selector without a metric name ("${src(node)}")`)
  return { metric, matchers }
}

function setMetric(current: string | undefined, name: string, selector: string): string {
  if (current !== undefined && current !== name) throw new ExpressionError(`the selector "${selector}" names two metrics (${current} and ${name})`)
  return name
}

function unquote(literal: string): string {
  try {
    return unquoteGoString(literal)
  } catch (err) {
    throw new ExpressionError((err as Error).message)
  }
}

/**
 * A label regex as Prometheus compiles it: `^(?:re)$`. Go's RE2 and JS agree on
 * the common syntax; what RE2 refuses (lookaround, backreferences) is refused,
 * and what JS reads differently (POSIX classes, \Q…\E, \A, \z, inline flags
 * other than a leading (?i)) is refused too rather than silently misread.
 */
export function compileRegex(source: string): RegExp {
  let body = source
  let flags = ''
  if (body.startsWith('(?i)')) {
    body = body.slice(4)
    flags = 'i'
  }
  const unsupported: [RegExp, string][] = [
    [/\(\?[=!<]/, 'lookaround ((?=, (?!, (?<=, (?<!)'],
    [/\\[1-9]/, 'backreferences (\\1)'],
    [/\(\?[a-zA-Z-]*[:)]/, 'inline flags other than a leading (?i)'],
    [/\[\[:/, 'POSIX classes ([[:alpha:]])'],
    [/\\[QEAz]/, '\\Q, \\E, \\A and \\z'],
    [/\\[pP][A-Za-z]/, 'one-letter Unicode classes (\\pL: write \\p{L})'],
  ]
  for (const [pattern, what] of unsupported) {
    if (pattern.test(body)) throw new ExpressionError(`the regex "${source}" uses ${what}, which Tidemark does not support`)
  }
  try {
    return new RegExp(`^(?:${body})$`, flags + (/\\[pP]\{/.test(body) ? 'u' : ''))
  } catch (err) {
    throw new ExpressionError(`the regex "${source}" is invalid: ${(err as Error).message}`)
  }
}

/** A predicate over a series' tags, compiled once per rule (absent tags match as ""). */
export function compileMatchers(matchers: readonly LabelMatcher[]): (tags: Readonly<Record<string, string>> | null) => boolean {
  const tests = matchers.map((m): ((v: string) => boolean) => {
    switch (m.op) {
      case '=':
        return (v) => v === m.value
      case '!=':
        return (v) => v !== m.value
      case '=~': {
        const re = compileRegex(m.value)
        return (v) => re.test(v)
      }
      case '!~': {
        const re = compileRegex(m.value)
        return (v) => !re.test(v)
      }
    }
  })
  return (tags) => {
    for (let i = 0; i < matchers.length; i++) {
      const value = tags?.[(matchers[i] as LabelMatcher).name] ?? ''
      if (!(tests[i] as (v: string) => boolean)(value)) return false
    }
    return true
  }
}

/** The expression written back in PromQL (canonical form, for messages and the API). */
export function formatRuleExpr(e: RuleExpr): string {
  const matchers = e.selector.matchers.map((m) => `${m.name}${m.op}${JSON.stringify(m.value)}`)
  const selector = e.selector.metric + (matchers.length > 0 ? `{${matchers.join(', ')}}` : '')
  const vector = e.range === undefined ? selector : `${e.range.fn}(${e.range.quantile === undefined ? '' : `${e.range.quantile}, `}${selector}[${e.range.rangeMs}ms])`
  return `${vector} ${e.op} ${e.threshold}`
}
