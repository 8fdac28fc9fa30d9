// Rule files in Prometheus' own format, read from YAML (a file named in the
// configuration, promtool's rule_files) or from the same shape as JSON (the
// rules API). One TypeBox schema checks the shape; then every rule is compiled:
// its expression parsed into the subset, durations read, templates parsed.
// Every problem is collected and reported with the field it belongs to
// (`groups[0].rules[1].expr`), so one answer names everything that is wrong.
//
// Differences from Prometheus, all refused with a message rather than ignored:
// recording rules (`record`), a group `limit` other than 0, `$value` in a
// rule's labels (it would make a new alert whenever the value changes).
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import YAML from 'yaml'
import { parseDuration } from './duration.ts'
import { compileMatchers, parseRuleExpr, type RuleExpr } from './promql-subset.ts'
import { compileTemplate, type Template } from './template.ts'
import { ladderFromAnnotations, type LadderSettings } from './ladder-settings.ts'

const Scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()])
const Duration = Type.Union([Type.String(), Type.Number()], { description: 'a duration such as 30s, 5m or 1h30m' })

export const RuleSchema = Type.Object(
  {
    alert: Type.Optional(Type.String()),
    record: Type.Optional(Type.String()),
    expr: Type.Union([Type.String(), Type.Number()]),
    for: Type.Optional(Duration),
    keep_firing_for: Type.Optional(Duration),
    labels: Type.Optional(Type.Record(Type.String(), Scalar)),
    annotations: Type.Optional(Type.Record(Type.String(), Scalar)),
  },
  { additionalProperties: false }
)

export const RuleGroupSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    interval: Type.Optional(Duration),
    limit: Type.Optional(Type.Integer({ minimum: 0 })),
    rules: Type.Optional(Type.Array(RuleSchema)),
  },
  { additionalProperties: false }
)

/** A rule file (and the body of the rules API): `{ groups: [...] }`. */
export const RuleFileSchema = Type.Object({ groups: Type.Array(RuleGroupSchema) }, { additionalProperties: false })

export type RuleSpec = Static<typeof RuleSchema>
export type RuleGroupSpec = Static<typeof RuleGroupSchema>
export type RuleFileSpec = Static<typeof RuleFileSchema>

/** Prometheus' default evaluation interval, used when a group names none. */
export const DEFAULT_GROUP_INTERVAL_MS = 60_000

export interface NamedTemplate {
  name: string
  template: Template
}

/** An alerting rule, ready for the evaluator. */
export interface AlertRule {
  group: string
  name: string
  /** The expression as written. */
  exprText: string
  expr: RuleExpr
  forMs: number
  keepFiringForMs: number
  labels: NamedTemplate[]
  annotations: NamedTemplate[]
  /** The action ladder its `tidemark_*` annotations configure (see ladder-settings.ts). */
  ladder: LadderSettings
  /** Whether a series (metric and tags) is one this rule's selector picks. */
  matches(metric: string, tags: Readonly<Record<string, string>> | null): boolean
}

export interface RuleGroup {
  name: string
  intervalMs: number
  rules: AlertRule[]
}

export interface RuleProblem {
  /** Where: `groups[0].rules[1].expr`, or `(file)` for the document itself. */
  field: string
  problem: string
}

/** A rule file that cannot be used; `problems` names every bad field. */
export class RuleFileError extends Error {
  constructor(
    readonly problems: RuleProblem[],
    readonly source?: string
  ) {
    super(`${source === undefined ? '' : `${source}: `}${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`)
  }
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** Parses YAML text (JSON is YAML too) and compiles it; throws RuleFileError. */
export function parseRuleFile(text: string, source?: string): { spec: RuleFileSpec; groups: RuleGroup[] } {
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true })
  if (doc.errors.length > 0) {
    throw new RuleFileError(
      doc.errors.map((e) => ({ field: '(file)', problem: `YAML: ${e.message.split('\n')[0]}` })),
      source
    )
  }
  const data: unknown = doc.toJS() ?? { groups: [] }
  return compileRuleFile(data, source)
}

/** Checks a parsed document against the schema and compiles every rule; throws RuleFileError naming each problem. */
export function compileRuleFile(input: unknown, source?: string): { spec: RuleFileSpec; groups: RuleGroup[] } {
  const data = withoutNulls(input)
  if (!Value.Check(RuleFileSchema, data)) {
    const problems: RuleProblem[] = []
    const seen = new Set<string>()
    for (const e of Value.Errors(RuleFileSchema, data)) {
      const field = pathToField(e.path)
      if (seen.has(field)) continue
      seen.add(field)
      const union = (e.schema as { description?: string }).description
      problems.push({ field, problem: describeSchemaError(e.message, e.value, union) })
    }
    throw new RuleFileError(problems, source)
  }
  const spec = data
  const problems: RuleProblem[] = []
  const groups: RuleGroup[] = []
  const groupNames = new Set<string>()
  spec.groups.forEach((g, gi) => {
    const at = `groups[${gi}]`
    if (groupNames.has(g.name)) problems.push({ field: `${at}.name`, problem: `the group name "${g.name}" is repeated in the same file` })
    groupNames.add(g.name)
    let intervalMs = DEFAULT_GROUP_INTERVAL_MS
    if (g.interval !== undefined) {
      const ms = durationField(g.interval, `${at}.interval`, problems)
      if (ms !== undefined) {
        if (ms <= 0) problems.push({ field: `${at}.interval`, problem: 'must be longer than zero' })
        else intervalMs = ms
      }
    }
    if (g.limit !== undefined && g.limit !== 0) {
      problems.push({ field: `${at}.limit`, problem: 'a group limit is not supported by Tidemark (remove it or set 0)' })
    }
    const rules: AlertRule[] = []
    ;(g.rules ?? []).forEach((r, ri) => {
      const rule = compileRule(g.name, r, `${at}.rules[${ri}]`, problems)
      if (rule !== undefined) rules.push(rule)
    })
    groups.push({ name: g.name, intervalMs, rules })
  })
  if (problems.length > 0) throw new RuleFileError(problems, source)
  return { spec, groups }
}

function compileRule(group: string, r: RuleSpec, at: string, problems: RuleProblem[]): AlertRule | undefined {
  const before = problems.length
  if (r.record !== undefined) {
    problems.push({ field: `${at}.record`, problem: 'recording rules are not supported: Tidemark evaluates alerting rules (use "alert")' })
    return undefined
  }
  if (r.alert === undefined || r.alert.trim() === '') {
    problems.push({ field: `${at}.alert`, problem: 'is required: every rule needs an alert name' })
  }
  const exprText = String(r.expr)
  let expr: RuleExpr | undefined
  if (exprText.trim() === '') {
    problems.push({ field: `${at}.expr`, problem: 'is required' })
  } else {
    try {
      expr = parseRuleExpr(exprText)
    } catch (err) {
      problems.push({ field: `${at}.expr`, problem: (err as Error).message })
    }
  }
  const forMs = r.for === undefined ? 0 : durationField(r.for, `${at}.for`, problems)
  const keepFiringForMs = r.keep_firing_for === undefined ? 0 : durationField(r.keep_firing_for, `${at}.keep_firing_for`, problems)
  const labels = templates(r.labels, `${at}.labels`, 'label', problems)
  const annotations = templates(r.annotations, `${at}.annotations`, 'annotation', problems)
  const ladder = ladderFromAnnotations(r.annotations, `${at}.annotations`, problems)
  for (const l of labels) {
    if (l.name === '__name__' || l.name === 'alertname') problems.push({ field: `${at}.labels.${l.name}`, problem: `"${l.name}" cannot be set by a rule` })
    if (l.template.usesValue) {
      problems.push({ field: `${at}.labels.${l.name}`, problem: 'labels cannot use $value: they name the alert, which would become a new alert at every change of value (use an annotation)' })
    }
  }
  if (problems.length > before || expr === undefined || forMs === undefined || keepFiringForMs === undefined) return undefined
  const matchTags = compileMatchers(expr.selector.matchers)
  const metric = expr.selector.metric
  return {
    group,
    name: r.alert as string,
    exprText,
    expr,
    forMs,
    keepFiringForMs,
    labels,
    annotations,
    ladder,
    matches: (m, tags) => m === metric && matchTags(tags),
  }
}

function durationField(value: string | number, field: string, problems: RuleProblem[]): number | undefined {
  const ms = parseDuration(String(value))
  if (ms === undefined) problems.push({ field, problem: `"${value}" is not a duration (write it like 30s, 5m, 1h30m or 500ms)` })
  return ms
}

function templates(map: Record<string, string | number | boolean> | undefined, at: string, kind: string, problems: RuleProblem[]): NamedTemplate[] {
  const out: NamedTemplate[] = []
  for (const [name, raw] of Object.entries(map ?? {})) {
    if (!LABEL_NAME.test(name)) {
      problems.push({ field: `${at}.${name}`, problem: `"${name}" is not a valid ${kind} name (letters, digits and _, not starting with a digit)` })
      continue
    }
    try {
      out.push({ name, template: compileTemplate(String(raw)) })
    } catch (err) {
      problems.push({ field: `${at}.${name}`, problem: (err as Error).message })
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/** YAML writes an empty list or map as null (`rules:`); Prometheus reads that as empty, and so do we. */
function withoutNulls(data: unknown): unknown {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return data
  const file = { ...(data as Record<string, unknown>) }
  if (file.groups === null) file.groups = []
  if (Array.isArray(file.groups)) {
    file.groups = file.groups.map((g: unknown) => {
      if (typeof g !== 'object' || g === null || Array.isArray(g)) return g
      const group = { ...(g as Record<string, unknown>) }
      if (group.rules === null) group.rules = []
      if (Array.isArray(group.rules)) {
        group.rules = group.rules.map((r: unknown) => {
          if (typeof r !== 'object' || r === null || Array.isArray(r)) return r
          const rule = { ...(r as Record<string, unknown>) }
          for (const key of ['labels', 'annotations', 'for', 'keep_firing_for', 'alert', 'record']) if (rule[key] === null) delete rule[key]
          return rule
        })
      }
      return group
    })
  }
  return file
}

/** "/groups/0/rules/1/for" -> "groups[0].rules[1].for" */
function pathToField(path: string): string {
  let field = ''
  for (const part of path.split('/').slice(1)) {
    const token = part.replace(/~1/g, '/').replace(/~0/g, '~')
    field += /^\d+$/.test(token) ? `[${token}]` : field === '' ? token : `.${token}`
  }
  return field || '(file)'
}

function describeSchemaError(message: string, value: unknown, union: string | undefined): string {
  if (message.startsWith('Expected union value') && union !== undefined) return `must be ${union} (got ${JSON.stringify(value)})`
  if (message === 'Unexpected property') return 'is not a field of a Prometheus rule file here'
  if (message.startsWith('Expected required property')) return 'is required'
  if (value === undefined) return message.toLowerCase()
  return `${message.toLowerCase()} (got ${JSON.stringify(value)})`
}
