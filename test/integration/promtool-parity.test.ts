// Exact parity with Prometheus: random alerting scenarios (seeded, so a failure
// reproduces) are evaluated by Tidemark's evaluator, written as promtool unit
// tests whose expected alerts are Tidemark's at every evaluation, and checked
// by the real `promtool test rules` (Debian's prometheus 2.42) in one process.
// promtool passing a file means it fired exactly the same alerts, with the
// same labels and rendered annotations, at every evaluation of the scenario.
// A control scenario with one expected alert removed must fail, so the check
// itself can fail.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import YAML from 'yaml'
import { formatDuration } from '../../engine/rules/duration.ts'
import { replay, rulesTestCommand } from '../../engine/rules/promtool-test.ts'
import { parseRuleFile } from '../../engine/rules/rule-file.ts'
import { expandSeriesValues, parseSeriesSelector } from '../../engine/rules/series-notation.ts'

const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool'
const SCENARIOS = 240
const SEED = Number(process.env.PARITY_SEED ?? 20260604)

/** mulberry32: small, seedable, good enough to pick scenario shapes. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Scenario {
  id: string
  rulesYaml: string
  testYaml: string
  /** The number of firing (alert, evaluation) pairs Tidemark expects: the scenario's weight. */
  firing: number
}

const S = 1000
const M = 60 * S

function generate(index: number, rand: () => number): Scenario {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1))
  const evalInterval = pick([15 * S, 30 * S, M])
  const inputInterval = pick([10 * S, 15 * S, 20 * S, 30 * S, 45 * S, M, 90 * S])
  const threshold = pick([80, 80, 80, 80.5, 0.3])

  // Values: segments that cross, touch and hover at the threshold, with gaps and stale markers.
  const seriesValues = (): string => {
    const parts: string[] = []
    let length = 0
    const target = int(12, 36)
    const near = (): string => {
      if (threshold === 0.3) return pick(['0.1', '0.2', '0.3', '0.30000000000000004', '0.4', '0.29999999999999998'])
      return String(pick([threshold - 10, threshold - 0.5, threshold, threshold, threshold + 0.5, threshold + 5, threshold + 20, 'NaN', 'Inf', '-Inf']))
    }
    while (length < target) {
      const kind = rand()
      if (kind < 0.25) {
        const n = int(0, 6)
        const v = near()
        // promtool refuses NaNx3 and Infx3: special values stand alone.
        parts.push(/[a-z]/i.test(v) ? v : `${v}x${n}`)
        length += n + 1
      } else if (kind < 0.4) {
        // Flapping around the threshold.
        const n = int(2, 6)
        for (let i = 0; i < n; i++) parts.push(i % 2 === 0 ? near() : String(threshold === 0.3 ? 0.1 : threshold - 1))
        length += n
      } else if (kind < 0.55) {
        // Ramps that accumulate float64 error on their way past the threshold (as Go's parser adds them).
        const n = int(3, 10)
        const step = threshold === 0.3 ? pick(['0.1', '0.05']) : pick(['0.1', '0.3', '2.5', '1'])
        const start = threshold === 0.3 ? 0 : threshold - Number(step) * Math.floor(n / 2)
        parts.push(`${Number(start.toFixed(2))}${rand() < 0.8 ? '+' : '-'}${step}x${n}`)
        length += n + 1
      } else if (kind < 0.7) {
        // Gaps shorter and longer than the 5-minute lookback.
        const steps = rand() < 0.5 ? Math.max(1, Math.floor((4 * M) / inputInterval)) : Math.ceil((6 * M) / inputInterval)
        const n = rand() < 0.3 ? int(1, 3) : steps
        parts.push(n === 1 ? '_' : `_x${n}`)
        length += n
      } else if (kind < 0.78) {
        parts.push('stale')
        length += 1
      } else {
        parts.push(near())
        length += 1
      }
    }
    return parts.join(' ')
  }

  const hosts = ['a', 'b', 'c'].slice(0, int(1, 3))
  const input_series = hosts.map((host) => ({ series: `m{host="${host}", dc="${host === 'c' ? 'us' : 'eu'}"}`, values: seriesValues() }))
  if (rand() < 0.3) input_series.push({ series: 'other{host="a"}', values: seriesValues() })

  const rules = Array.from({ length: int(1, 3) }, (_, r) => {
    const matcher = pick(['', '', '{host="a"}', '{host!="b"}', '{host=~"a|b"}', '{host!~"c.*"}', '{dc=~"e.*"}', '{dc="us"}'])
    const selector = `m${matcher}`
    const op = pick(['>', '>', '>=', '<', '<=', '==', '!='])
    const form = rand()
    let vector: string
    if (form < 0.45) vector = selector
    else {
      const fn = pick(['avg', 'min', 'max', 'sum', 'count', 'quantile'])
      const range = pick(['30s', '1m', '90s', '2m', '5m'])
      vector = fn === 'quantile' ? `quantile_over_time(${pick(['0', '0.5', '0.95', '1'])}, ${selector}[${range}])` : `${fn}_over_time(${selector}[${range}])`
      if (fn === 'count' && rand() < 0.7) return rule(r, `${vector} ${pick(['>', '>=', '<'])} ${int(1, 5)}`)
      if (fn === 'sum' && rand() < 0.5) return rule(r, `${vector} ${op} ${threshold * int(2, 4)}`)
    }
    const expr = rand() < 0.2 ? `${threshold} ${flip(op)} ${vector}` : `${vector} ${op} ${threshold}`
    return rule(r, expr)
  })
  function rule(r: number, expr: string): Record<string, unknown> {
    const out: Record<string, unknown> = { alert: `R${r}`, expr }
    const forMs = pick([0, 0, evalInterval, 2 * evalInterval, 45 * S, 70 * S, 150 * S, 5 * M])
    if (forMs > 0) out.for = formatDuration(forMs)
    const keep = pick([0, 0, 0, 30 * S, M, 150 * S])
    if (keep > 0) out.keep_firing_for = formatDuration(keep)
    if (rand() < 0.7) out.labels = { severity: pick(['page', 'ticket']), ...(rand() < 0.5 ? { who: '{{ $labels.host }}-{{ $labels.nope }}' } : {}) }
    if (rand() < 0.8) {
      out.annotations = {
        value: '{{ $value }}',
        ...(rand() < 0.5 ? { human: '{{ humanize $value }} {{ $value | printf "%.2f" }}' } : {}),
        ...(rand() < 0.5 ? { where: '{{ $labels.host }} {{ $labels.__name__ }} {{ .Labels.dc | toUpper }}' } : {}),
      }
    }
    return out
  }

  const id = `s${String(index).padStart(3, '0')}`
  const ruleFile = { groups: [{ name: `g${index}`, rules }] }
  const rulesYaml = YAML.stringify(ruleFile)
  const groups = parseRuleFile(rulesYaml, `${id}.rules.yml`).groups
  const series = input_series.map((s) => ({ ...parseSeriesSelector(s.series), steps: expandSeriesValues(s.values) }))
  const longest = Math.max(...series.map((s) => s.steps.length))
  const until = Math.ceil(((longest + 2) * inputInterval + 6 * M) / evalInterval) * evalInterval

  // Tidemark's firing alerts at every evaluation (and at a few times between evaluations).
  const alertTests: Record<string, unknown>[] = []
  let firing = 0
  const names = rules.map((r) => r.alert as string)
  replay(groups, series, { inputInterval, evalInterval, until }, (ts, evaluator) => {
    const active = evaluator.activeAlerts().filter((a) => a.state === 'firing')
    const times = [ts, ...(rand() < 0.1 ? [ts + int(1, evalInterval / S - 1) * S] : [])]
    for (const eval_time of times) {
      for (const alertname of new Set(names)) {
        const mine = active.filter((a) => a.alert === alertname)
        firing += mine.length
        alertTests.push({
          eval_time: formatDuration(eval_time),
          alertname,
          exp_alerts: mine.map((a) => {
            const { alertname: _drop, ...exp_labels } = a.labels
            return { exp_labels, exp_annotations: a.annotations }
          }),
        })
      }
    }
  })
  const test = {
    rule_files: [`${id}.rules.yml`],
    evaluation_interval: formatDuration(evalInterval),
    tests: [{ interval: formatDuration(inputInterval), input_series, alert_rule_test: alertTests }],
  }
  return { id, rulesYaml, testYaml: YAML.stringify(test, { lineWidth: 0 }), firing }
}

function flip(op: string): string {
  return ({ '>': '<', '<': '>', '>=': '<=', '<=': '>=', '==': '==', '!=': '!=' } as Record<string, string>)[op] as string
}

/** promtool's report per file: "Unit Testing:  FILE" then SUCCESS or FAILED and its errors. */
function reportsByFile(output: string): Map<string, string> {
  const byFile = new Map<string, string>()
  for (const section of output.split(/^Unit Testing: {2}/m).slice(1)) {
    const newline = section.indexOf('\n')
    byFile.set(path.basename(section.slice(0, newline).trim()), section.slice(newline + 1))
  }
  return byFile
}

describe('promtool parity', () => {
  let dir: string
  let scenarios: Scenario[]
  let control: Scenario
  let output: string
  let status: number | null

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-parity-'))
    const rand = prng(SEED)
    scenarios = Array.from({ length: SCENARIOS }, (_, i) => generate(i, rand))
    for (const s of scenarios) {
      fs.writeFileSync(path.join(dir, `${s.id}.rules.yml`), s.rulesYaml)
      fs.writeFileSync(path.join(dir, `${s.id}.test.yml`), s.testYaml)
    }
    // The control: the first scenario that fires, with one expected alert taken away.
    const base = scenarios.find((s) => s.firing > 0) as Scenario
    const doc = YAML.parse(base.testYaml)
    const withAlert = doc.tests[0].alert_rule_test.find((t: { exp_alerts: unknown[] }) => t.exp_alerts.length > 0)
    withAlert.exp_alerts.pop()
    control = { ...base, id: 'control', testYaml: YAML.stringify(doc, { lineWidth: 0 }) }
    fs.writeFileSync(path.join(dir, 'control.test.yml'), control.testYaml)

    const files = [...scenarios.map((s) => `${s.id}.test.yml`), 'control.test.yml']
    // One promtool process for every file; 2>&1 keeps its SUCCESS (stdout) and FAILED (stderr) lines in order.
    const run = spawnSync('sh', ['-c', `exec "${PROMTOOL}" test rules "$@" 2>&1`, 'promtool', ...files], { cwd: dir, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
    output = run.stdout
    status = run.status
  }, 120_000)

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('covers enough ground: hundreds of scenarios, most of them firing', () => {
    expect(scenarios.length).toBeGreaterThanOrEqual(200)
    const firingScenarios = scenarios.filter((s) => s.firing > 0).length
    expect(firingScenarios).toBeGreaterThan(scenarios.length / 2)
    const total = scenarios.reduce((n, s) => n + s.firing, 0)
    expect(total).toBeGreaterThan(5000)
    for (const feature of ['keep_firing_for', 'stale', 'quantile_over_time', '=~', '!~', '_x', 'for:']) {
      expect(scenarios.filter((s) => (s.rulesYaml + s.testYaml).includes(feature)).length, feature).toBeGreaterThan(10)
    }
  })

  it('promtool reports a difference when there is one (the control fails)', () => {
    const reports = reportsByFile(output)
    expect(reports.get('control.test.yml'), output.slice(0, 2000)).toMatch(/FAILED/)
    expect(status).toBe(1)
  })

  it('promtool fires exactly the alerts Tidemark fires, at every evaluation of every scenario', () => {
    const reports = reportsByFile(output)
    const failures: string[] = []
    for (const s of scenarios) {
      const report = reports.get(`${s.id}.test.yml`)
      if (report === undefined || !/^\s*SUCCESS/.test(report)) {
        failures.push(
          `--- ${s.id} (seed ${SEED}) ---\n# ${s.id}.rules.yml\n${s.rulesYaml}\n# ${s.id}.test.yml\n${s.testYaml.slice(0, 4000)}\n# promtool said:\n${(report ?? '(no report)').slice(0, 3000)}`
        )
      }
    }
    expect(failures.length, failures.slice(0, 3).join('\n\n')).toBe(0)
  })
})

describe('hand-written promtool files (test/fixtures/rules)', () => {
  const fixtures = fileURLToPath(new URL('../fixtures/rules/', import.meta.url))
  // Blank lines aside (promtool prints a few extra), both tools report the same text.
  const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '')

  it.each([
    ['scaling.test.yml', 0],
    ['templates.test.yml', 0],
    ['failing.test.yml', 1],
  ])('%s: promtool and `tidemark rules test` exit %i and say the same', async (file, expected) => {
    const promtool = spawnSync('sh', ['-c', `exec "${PROMTOOL}" test rules "$1" 2>&1`, 'promtool', file], { cwd: fixtures, encoding: 'utf8' })
    let text = ''
    const previous = process.cwd()
    process.chdir(fixtures)
    let status: number
    try {
      status = await rulesTestCommand([file], { write: (t: string) => (text += t) })
    } finally {
      process.chdir(previous)
    }
    expect(promtool.status, promtool.stdout).toBe(expected)
    expect(status).toBe(expected)
    expect(lines(text)).toEqual(lines(promtool.stdout))
    if (expected === 1) expect(text).toMatch(/FAILED:\n {4}alertname: HighCpuUsage, time: 4m/)
  })
})
