// `tidemark rules test FILE…`: promtool's rule unit-test files, run through the
// evaluator the engine runs, reported roughly as `promtool test rules` reports
// them, with the same exit status (0 when every file passes, 1 otherwise).
//
// As promtool does: rule_files are resolved against the test file's folder
// (a `*` glob in the file name is expanded); every group is evaluated at
// 0, evaluation_interval, 2×evaluation_interval, … up to the largest eval_time,
// whatever the group's own interval; an alert test at eval_time compares the
// alerts *firing* after the last evaluation at or before it (pending ones are
// not compared); expected labels get `alertname` added; both lists are sorted.
// One difference: promtool 2.42 places every sample at time 0 when a test
// group has no `interval` (a bug later versions fixed); Tidemark uses
// evaluation_interval, as Prometheus documents.
// Not supported, reported as a failure of that file: promql_expr_test, and
// whatever the rule files hold outside Tidemark's subset.
import fs from 'node:fs/promises'
import path from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import YAML from 'yaml'
import { formatDuration, parseDuration } from './duration.ts'
import { RulesEvaluator, type ActiveAlert } from './evaluator.ts'
import { parseRuleFile, type RuleGroup } from './rule-file.ts'
import { expandSeriesValues, parseSeriesSelector, type SeriesStep } from './series-notation.ts'

const Scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()])
const Duration = Type.Union([Type.String(), Type.Number()])

const AlertTestSchema = Type.Object(
  {
    eval_time: Duration,
    alertname: Type.String(),
    exp_alerts: Type.Optional(
      Type.Union([
        Type.Array(
          Type.Object(
            {
              exp_labels: Type.Optional(Type.Union([Type.Record(Type.String(), Scalar), Type.Null()])),
              exp_annotations: Type.Optional(Type.Union([Type.Record(Type.String(), Scalar), Type.Null()])),
            },
            { additionalProperties: false }
          )
        ),
        Type.Null(),
      ])
    ),
  },
  { additionalProperties: false }
)

const TestGroupSchema = Type.Object(
  {
    interval: Type.Optional(Duration),
    input_series: Type.Optional(Type.Union([Type.Array(Type.Object({ series: Type.String(), values: Type.Union([Type.String(), Type.Number()]) }, { additionalProperties: false })), Type.Null()])),
    name: Type.Optional(Type.String()),
    alert_rule_test: Type.Optional(Type.Union([Type.Array(AlertTestSchema), Type.Null()])),
    promql_expr_test: Type.Optional(Type.Union([Type.Array(Type.Unknown()), Type.Null()])),
    external_labels: Type.Optional(Type.Union([Type.Record(Type.String(), Scalar), Type.Null()])),
    external_url: Type.Optional(Type.String()),
  },
  { additionalProperties: false }
)

/** A promtool unit-test file. */
export const PromtoolTestFileSchema = Type.Object(
  {
    rule_files: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
    evaluation_interval: Type.Optional(Duration),
    group_eval_order: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
    // Newer promtool versions; it only loosens promql_expr_test comparisons, which Tidemark does not run.
    fuzzy_compare: Type.Optional(Type.Boolean()),
    tests: Type.Optional(Type.Union([Type.Array(TestGroupSchema), Type.Null()])),
  },
  { additionalProperties: false }
)

type PromtoolTestFile = Static<typeof PromtoolTestFileSchema>
type TestGroup = Static<typeof TestGroupSchema>

export interface Output {
  write(text: string): unknown
}

/** Result of one test file: its failures, as promtool words them (empty when it passed). */
export interface TestFileResult {
  file: string
  errors: string[]
}

/** Runs promtool test files; writes a report like promtool's; resolves to the exit status (0 all passed, 1 otherwise). */
export async function rulesTestCommand(files: string[], out: Output, err: Output = out): Promise<number> {
  let failed = false
  for (const file of files) {
    out.write(`Unit Testing:  ${file}\n`)
    const { errors } = await runTestFile(file)
    if (errors.length === 0) {
      out.write('  SUCCESS\n\n')
    } else {
      failed = true
      err.write(`  FAILED:\n${errors.join('\n')}\n\n`)
    }
  }
  return failed ? 1 : 0
}

/** Reads and runs one test file. */
export async function runTestFile(file: string): Promise<TestFileResult> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (e) {
    return { file, errors: [`    ${(e as Error).message}`] }
  }
  const baseDir = path.dirname(file)
  return { file, errors: await runTestText(text, (name) => loadRuleFiles(baseDir, name)) }
}

/** Runs a test document whose rule files come from `loadRules`; returns the failures. */
export async function runTestText(text: string, loadRules: (name: string) => Promise<{ name: string; text: string }[]>): Promise<string[]> {
  const doc = YAML.parseDocument(text, { uniqueKeys: true })
  if (doc.errors.length > 0) return doc.errors.map((e) => `    YAML: ${e.message.split('\n')[0]}`)
  const data = doc.toJS() ?? {}
  if (!Value.Check(PromtoolTestFileSchema, data)) {
    return [...Value.Errors(PromtoolTestFileSchema, data)].slice(0, 10).map((e) => `    ${e.path || '(file)'}: ${e.message}`)
  }
  const spec = data as PromtoolTestFile
  const evalInterval = spec.evaluation_interval === undefined ? 60_000 : parseDuration(String(spec.evaluation_interval))
  if (evalInterval === undefined || evalInterval <= 0) return [`    evaluation_interval: "${spec.evaluation_interval}" is not a duration`]

  const groups: RuleGroup[] = []
  for (const name of spec.rule_files ?? []) {
    let loaded: { name: string; text: string }[]
    try {
      loaded = await loadRules(name)
    } catch (e) {
      return [`    ${name}: ${(e as Error).message}`]
    }
    for (const ruleFile of loaded) {
      try {
        // promtool evaluates every group at the test file's evaluation_interval.
        groups.push(...parseRuleFile(ruleFile.text).groups)
      } catch (e) {
        return [`    ${ruleFile.name}: ${(e as Error).message}`]
      }
    }
  }
  const errors: string[] = []
  for (const group of spec.tests ?? []) errors.push(...runTestGroup(group, groups, evalInterval))
  return errors
}

function runTestGroup(tg: TestGroup, groups: RuleGroup[], evalInterval: number): string[] {
  const prefix = tg.name === undefined || tg.name === '' ? '' : `    name: ${tg.name},\n`
  const inputInterval = tg.interval === undefined ? evalInterval : parseDuration(String(tg.interval))
  if (inputInterval === undefined || inputInterval <= 0) return [`${prefix}    interval: "${tg.interval}" is not a duration`]
  if ((tg.promql_expr_test ?? []).length > 0) {
    return [`${prefix}    promql_expr_test is not supported by Tidemark (it runs alert_rule_test); move these cases to promtool`]
  }
  const externalLabels = Object.fromEntries(Object.entries(tg.external_labels ?? {}).map(([k, v]) => [k, String(v)]))
  let series: SeriesInput[]
  try {
    series = (tg.input_series ?? []).map((input) => ({ ...parseSeriesSelector(input.series), steps: expandSeriesValues(String(input.values)) }))
  } catch (e) {
    return [`${prefix}    ${(e as Error).message}`]
  }
  const tests = (tg.alert_rule_test ?? []).map((t) => ({ ...t, evalMs: parseDuration(String(t.eval_time)) }))
  const bad = tests.find((t) => t.evalMs === undefined)
  if (bad !== undefined) return [`${prefix}    eval_time: "${bad.eval_time}" is not a duration`]
  tests.sort((a, b) => (a.evalMs as number) - (b.evalMs as number))
  const errors: string[] = []
  const maxT = tests.length === 0 ? -1 : (tests[tests.length - 1]?.evalMs as number)
  let next = 0
  replay(groups, series, { inputInterval, evalInterval, until: maxT, externalLabels, externalUrl: tg.external_url ?? '' }, (ts, evaluator) => {
    let firing: ActiveAlert[] | undefined
    while (next < tests.length && (tests[next]?.evalMs as number) < ts + evalInterval) {
      const test = tests[next++] as (typeof tests)[number]
      firing ??= evaluator.activeAlerts().filter((a) => a.state === 'firing')
      const got = sortAlerts(firing.filter((a) => a.alert === test.alertname).map((a) => ({ labels: a.labels, annotations: a.annotations })))
      const exp = sortAlerts(
        (test.exp_alerts ?? []).map((a) => ({
          labels: { ...stringMap(a.exp_labels), alertname: test.alertname },
          annotations: stringMap(a.exp_annotations),
        }))
      )
      if (!sameAlerts(exp, got)) {
        errors.push(`${prefix}    alertname: ${test.alertname}, time: ${formatDuration(test.evalMs as number)}, \n        exp:${alertsText(exp)}, \n        got:${alertsText(got)}`)
      }
    }
  })
  return errors
}

/** One input series of a test group: metric, tags and the expanded values (one per input interval from 0). */
export interface SeriesInput {
  metric: string
  tags: Record<string, string>
  steps: SeriesStep[]
}

export interface ReplayOptions {
  inputInterval: number
  evalInterval: number
  /** Last evaluation time (inclusive). */
  until: number
  externalLabels?: Record<string, string>
  externalUrl?: string
}

/**
 * promtool's timeline through the engine's evaluator: series values at
 * i × inputInterval, every group evaluated at 0, evalInterval, … until;
 * `after(ts, evaluator)` runs after each evaluation.
 */
export function replay(groups: RuleGroup[], series: SeriesInput[], options: ReplayOptions, after: (ts: number, evaluator: RulesEvaluator) => void): void {
  const evaluator = new RulesEvaluator(
    groups.map((g) => ({ ...g, intervalMs: options.evalInterval })),
    { externalLabels: options.externalLabels ?? {}, externalUrl: options.externalUrl ?? '' }
  )
  for (const { metric, tags, steps } of series) {
    steps.forEach((step, i) => {
      if (step.kind === 'value') evaluator.push(metric, tags, i * options.inputInterval, step.value)
      else if (step.kind === 'stale') evaluator.pushStale(metric, tags, i * options.inputInterval)
    })
  }
  for (let ts = 0; ts <= options.until; ts += options.evalInterval) {
    evaluator.advance(ts)
    after(ts, evaluator)
  }
}

interface LabelsAndAnnotations {
  labels: Record<string, string>
  annotations: Record<string, string>
}

function stringMap(m: Record<string, string | number | boolean> | null | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, String(v)]))
}

/** Prometheus' labels.String(): {a="1", b="2"}, sorted by name. */
export function labelsText(labels: Record<string, string>): string {
  return `{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(', ')}}`
}

function sortAlerts(list: LabelsAndAnnotations[]): LabelsAndAnnotations[] {
  const key = (a: LabelsAndAnnotations): string => labelsText(a.labels) + labelsText(a.annotations)
  return list.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
}

function sameAlerts(a: LabelsAndAnnotations[], b: LabelsAndAnnotations[]): boolean {
  if (a.length !== b.length) return false
  return a.every((x, i) => labelsText(x.labels) === labelsText((b[i] as LabelsAndAnnotations).labels) && labelsText(x.annotations) === labelsText((b[i] as LabelsAndAnnotations).annotations))
}

function alertsText(list: LabelsAndAnnotations[]): string {
  if (list.length === 0) return '[]'
  const items = list.map((a, i) => `            ${i}:\n              Labels:${labelsText(a.labels)}\n              Annotations:${labelsText(a.annotations)}`)
  return `[\n${items.join(',\n')}\n            ]`
}

/** A rule_files entry: a path relative to the test file's folder, with an optional `*`/`?` glob in its file name. */
async function loadRuleFiles(baseDir: string, name: string): Promise<{ name: string; text: string }[]> {
  const full = path.isAbsolute(name) ? name : path.join(baseDir, name)
  const base = path.basename(full)
  if (!/[*?[]/.test(base)) return [{ name, text: await fs.readFile(full, 'utf8') }]
  const dir = path.dirname(full)
  const pattern = new RegExp(`^${base.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`)
  const entries = (await fs.readdir(dir)).filter((f) => pattern.test(f)).sort()
  return Promise.all(entries.map(async (f) => ({ name: path.join(path.dirname(name), f), text: await fs.readFile(path.join(dir, f), 'utf8') })))
}
