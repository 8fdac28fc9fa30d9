// promtool's input_series notation. The series is PromQL (`cpu_usage{host="a"}`,
// read with Prometheus' grammar); the values are promtool's expanding notation,
// one token per step of the test group's interval, as promtool 2.42 reads them:
//   85          one sample
//   _           no sample at this step          _x3   three steps without samples
//   stale       a stale marker (the series ended)
//   85x3        85 four times (the first plus three more)
//   1+2x3       1 3 5 7          5-0.5x2  5 4.5 4   (each step adds in float64, as Go does)
//   Inf -Inf NaN
// `x` always means "times" (promtool reads 0x10 as eleven zeros, not hex).
import { parser } from '@prometheus-io/lezer-promql'
import type { SyntaxNode } from '@lezer/common'
import { unquoteGoString } from './go-string.ts'

/** One expanded step: a value, a stale marker, or nothing. */
export type SeriesStep = { kind: 'value'; value: number } | { kind: 'stale' } | { kind: 'omitted' }

export class NotationError extends Error {}

const NUMBER = String.raw`(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?`
const TOKEN = new RegExp(`^([-+]?${NUMBER})(?:([-+]${NUMBER})x(\\d+)|x(\\d+))?$`)
// Inf and NaN are words to promtool's lexer: they stand alone (`Infx2` is refused, as promtool refuses it).
const SPECIAL = /^[-+]?(?:inf|nan)$/i
const MAX_STEPS = 10_000_000

function numberOf(text: string): number {
  const sign = text.startsWith('-') ? -1 : 1
  const body = text.replace(/^[-+]/, '')
  if (/^inf$/i.test(body)) return sign * Infinity
  if (/^nan$/i.test(body)) return NaN
  return sign * Number(body)
}

/** Expands a values string into steps; throws NotationError naming the bad token. */
export function expandSeriesValues(values: string): SeriesStep[] {
  const steps: SeriesStep[] = []
  const push = (step: SeriesStep): void => {
    if (steps.length >= MAX_STEPS) throw new NotationError(`more than ${MAX_STEPS} values in "${values.slice(0, 40)}…"`)
    steps.push(step)
  }
  for (const token of values.trim().split(/\s+/)) {
    if (token === '') continue
    if (token === '_') {
      push({ kind: 'omitted' })
      continue
    }
    const blank = /^_x(\d+)$/.exec(token)
    if (blank !== null) {
      for (let i = 0; i < Number(blank[1]); i++) push({ kind: 'omitted' })
      continue
    }
    if (token === 'stale') {
      push({ kind: 'stale' })
      continue
    }
    if (SPECIAL.test(token)) {
      push({ kind: 'value', value: numberOf(token) })
      continue
    }
    const m = TOKEN.exec(token)
    if (m === null) {
      throw new NotationError(`"${token}" is not a series value: write a number, _, stale, NxT (N repeated, T+1 values) or A+BxT / A-BxT (T+1 values from A in steps of B)`)
    }
    let value = numberOf(m[1] as string)
    if (m[2] !== undefined) {
      const step = numberOf(m[2])
      const times = Number(m[3])
      for (let i = 0; i <= times; i++) {
        push({ kind: 'value', value })
        value += step
      }
    } else if (m[4] !== undefined) {
      const times = Number(m[4])
      for (let i = 0; i <= times; i++) push({ kind: 'value', value })
    } else {
      push({ kind: 'value', value })
    }
  }
  return steps
}

/** A series as written in a test file: `cpu_usage{host="a"}` -> metric and tags (only `=` matchers, as promtool requires). */
export function parseSeriesSelector(text: string): { metric: string; tags: Record<string, string> } {
  const tree = parser.parse(text)
  let error: number | undefined
  tree.iterate({
    enter(n) {
      if (n.type.isError && error === undefined) error = n.from
    },
  })
  if (error !== undefined) throw new NotationError(`"${text}" is not a series (syntax error at character ${error + 1})`)
  const node = tree.topNode.firstChild
  if (node === null || node.name !== 'VectorSelector') throw new NotationError(`"${text}" is not a series: write metric{label="value", …}`)
  const src = (n: SyntaxNode): string => text.slice(n.from, n.to)
  let metric = ''
  const tags: Record<string, string> = {}
  for (let part = node.firstChild; part !== null; part = part.nextSibling) {
    if (part.name === 'Identifier') metric = src(part)
    if (part.name !== 'LabelMatchers') continue
    for (let m = part.firstChild; m !== null; m = m.nextSibling) {
      if (m.name === 'QuotedLabelName') {
        metric = unquoteGoString(src(m))
        continue
      }
      if (m.name !== 'UnquotedLabelMatcher' && m.name !== 'QuotedLabelMatcher') continue
      const nameNode = m.firstChild as SyntaxNode
      const opNode = nameNode.nextSibling as SyntaxNode
      const valueNode = opNode.nextSibling as SyntaxNode
      if (src(opNode).trim() !== '=') throw new NotationError(`"${text}": a series names its labels with =, not ${src(opNode).trim()}`)
      const name = nameNode.name === 'QuotedLabelName' ? unquoteGoString(src(nameNode)) : src(nameNode)
      const value = unquoteGoString(src(valueNode))
      if (name === '__name__') metric = value
      else if (value !== '') tags[name] = value
    }
  }
  if (metric === '') throw new NotationError(`"${text}" has no metric name`)
  return { metric, tags }
}
