// The incremental evaluator: Prometheus' alerting semantics on the event-time grid (promtool
// parity over random scenarios is in test/integration/promtool-parity.test.ts).
import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import { effectiveRuleGroups } from '../../engine/rules/default-rules.ts'
import { RulesEvaluator, SeriesEvaluator, type AlertTransition } from '../../engine/rules/evaluator.ts'
import { parseRuleFile } from '../../engine/rules/rule-file.ts'

const seed = JSON.parse(fs.readFileSync(new URL('../fixtures/seed-test-data.json', import.meta.url), 'utf8')) as {
  scaling: { high_cpu: { duration: number; value: number }; normal: { duration: number; value: number } }
}

const S = 1000
const M = 60 * S

function rules(yaml: string): RulesEvaluator {
  return new RulesEvaluator(parseRuleFile(yaml).groups)
}

function one(expr: string, extra = '', interval = '1m'): RulesEvaluator {
  return rules(`groups:\n  - name: g\n    interval: ${interval}\n    rules:\n      - alert: A\n        expr: ${expr}\n${extra}`)
}

const states = (ts: AlertTransition[]): string[] => ts.map((t) => `${t.at / S}s:${t.state}`)

describe('the specification scaling data', () => {
  // A reporter sends cpu_usage every second for `duration` seconds, starting off the evaluation grid.
  const run = (value: number, duration: number, watermarkAfter: number): AlertTransition[] => {
    const e = new RulesEvaluator(effectiveRuleGroups(undefined))
    const t0 = 1_760_000_003_000
    const out: AlertTransition[] = []
    for (let s = 0; s <= duration; s++) {
      e.push('cpu_usage', { host: 'web-1' }, t0 + s * S, value)
      e.advance(t0 + s * S, out)
    }
    e.advance(t0 + (duration + watermarkAfter) * S, out)
    return out.map((t) => ({ ...t, at: t.at - t0 }))
  }

  it(`cpu_usage at ${seed.scaling.high_cpu.value} for ${seed.scaling.high_cpu.duration} s (and a bit beyond) fires HighCpuUsage`, () => {
    const out = run(seed.scaling.high_cpu.value, seed.scaling.high_cpu.duration, 15)
    expect(out.map((t) => [t.alert, t.state])).toEqual([
      ['HighCpuUsage', 'pending'],
      ['HighCpuUsage', 'firing'],
    ])
    const firing = out[1] as AlertTransition
    expect(firing.at - (out[0] as AlertTransition).at).toBe(300 * S)
    expect(firing.labels).toEqual({ alertname: 'HighCpuUsage', host: 'web-1', severity: 'warning', action: 'scale' })
    expect(firing.annotations.summary).toBe('CPU at 85 % for 5 minutes (above 80 %)')
    expect(firing.value).toBe(85)
  })

  it(`cpu_usage at ${seed.scaling.high_cpu.value} for only 240 s does not fire (still pending)`, () => {
    const out = run(seed.scaling.high_cpu.value, 240, 0)
    expect(out.map((t) => t.state)).toEqual(['pending'])
  })

  it(`cpu_usage at ${seed.scaling.normal.value} for ${seed.scaling.normal.duration} s does not fire, however long we wait`, () => {
    expect(run(seed.scaling.normal.value, seed.scaling.normal.duration, 3600)).toEqual([])
  })
})

describe('Prometheus alerting semantics', () => {
  it('is pending from the first true evaluation, fires once for has passed, and resolves', () => {
    const e = one('cpu > 80', '        for: 2m\n')
    for (const [t, v] of [[0, 90], [60, 90], [120, 90], [180, 90], [240, 50]] as const) e.push('cpu', null, t * S, v)
    expect(states(e.advance(300 * S))).toEqual(['0s:pending', '120s:firing', '240s:resolved'])
  })

  it('rounds a for that is off the grid up to the next evaluation', () => {
    const e = one('cpu > 80', '        for: 45s\n', '30s')
    for (let t = 0; t <= 120; t += 10) e.push('cpu', null, t * S, 90)
    expect(states(e.advance(120 * S))).toEqual(['0s:pending', '60s:firing'])
  })

  it('fires at once with for: 0, and one false evaluation resets a pending alert', () => {
    expect(states(one('cpu > 80').advance(0))).toEqual([])
    const now = one('cpu > 80')
    now.push('cpu', null, 0, 81)
    expect(states(now.advance(0))).toEqual(['0s:firing'])
    const e = one('cpu > 80', '        for: 2m\n')
    for (const [t, v] of [[0, 90], [60, 80], [120, 90], [180, 90], [240, 90]] as const) e.push('cpu', null, t * S, v)
    expect(states(e.advance(240 * S))).toEqual(['0s:pending', '60s:inactive', '120s:pending', '240s:firing'])
  })

  it('keeps a firing alert firing while false for less than keep_firing_for, restarting the clock when true again', () => {
    const e = one('cpu > 80', '        keep_firing_for: 3m\n')
    const values = [90, 10, 90, 10, 10, 10, 10, 10]
    values.forEach((v, i) => e.push('cpu', null, i * M, v))
    // false at 1m (kept), true at 2m (clock reset), false from 3m: kept at 3m, 4m, 5m; resolved at 6m.
    expect(states(e.advance(8 * M))).toEqual(['0s:firing', '360s:resolved'])
  })

  it('sees the newest sample of the last 5 minutes (inclusive) unless a stale marker follows it', () => {
    const e = one('cpu > 80')
    e.push('cpu', null, 0, 90)
    expect(states(e.advance(5 * M))).toEqual(['0s:firing'])
    expect(states(e.advance(6 * M))).toEqual(['360s:resolved']) // 6m - 0 > 5m: nothing left
    const stale = one('cpu > 80')
    stale.push('cpu', null, 0, 90)
    stale.pushStale('cpu', null, 90 * S)
    expect(states(stale.advance(3 * M))).toEqual(['0s:firing', '120s:resolved'])
  })

  it('takes a range [t - r, t] with both ends, dropping stale markers', () => {
    const e = one('count_over_time(cpu[2m]) >= 3')
    e.push('cpu', null, 60 * S, 1)
    e.push('cpu', null, 120 * S, 1)
    e.pushStale('cpu', null, 150 * S)
    e.push('cpu', null, 180 * S, 1)
    expect(states(e.advance(5 * M))).toEqual(['180s:firing', '240s:resolved'])
  })

  it('evaluates each time only with samples stamped at or before it, however far ahead they were pushed', () => {
    const pushed = one('max_over_time(cpu[1m]) > 80')
    const interleaved = one('max_over_time(cpu[1m]) > 80')
    const samples = [[0, 10], [50, 90], [61, 10], [130, 10], [175, 95]] as const
    for (const [t, v] of samples) pushed.push('cpu', null, t * S, v)
    const a = pushed.advance(5 * M)
    const b: AlertTransition[] = []
    for (const [t, v] of samples) {
      interleaved.advance(t * S - 1, b)
      interleaved.push('cpu', null, t * S, v)
    }
    interleaved.advance(5 * M, b)
    expect(states(a)).toEqual(['60s:firing', '120s:resolved', '180s:firing', '240s:resolved'])
    expect(states(b)).toEqual(states(a))
  })

  it('refuses out-of-order, duplicate and late samples', () => {
    const e = one('cpu > 80')
    expect(e.push('cpu', null, 60 * S, 90)).toBe(1)
    expect(e.push('cpu', null, 60 * S, 10)).toBe(0) // duplicate timestamp: the first stays, as in Prometheus' TSDB
    expect(e.push('cpu', null, 30 * S, 90)).toBe(0)
    e.advance(120 * S)
    expect(e.push('cpu', null, 120 * S, 90)).toBe(0) // the evaluation at 120 s has run
    expect(e.push('cpu', null, 121 * S, 90)).toBe(1)
  })

  it('names an alert by the series tags, the rule labels and alertname; $labels has __name__ for a selector only', () => {
    const e = rules(`groups:
  - name: g
    rules:
      - alert: Sel
        expr: cpu{host="a"} > 1
        labels: { severity: page, who: "{{ $labels.host }}", host: "" }
        annotations: { s: "{{ $labels.__name__ }}:{{ $value }}" }
      - alert: Fn
        expr: avg_over_time(cpu[1m]) > 1
        annotations: { s: "{{ $labels.__name__ }}:{{ $value }}" }
`)
    e.push('cpu', { host: 'a', dc: 'eu' }, 0, 2.5)
    e.push('cpu', { host: 'b', dc: 'eu' }, 0, 1)
    const out = e.advance(0)
    expect(out.map((t) => [t.alert, t.labels, t.annotations])).toEqual([
      ['Sel', { alertname: 'Sel', dc: 'eu', severity: 'page', who: 'a' }, { s: 'cpu:2.5' }],
      ['Fn', { alertname: 'Fn', dc: 'eu', host: 'a' }, { s: ':2.5' }],
    ])
  })
})

describe('state', () => {
  it('snapshots and restores mid-stream to the same transitions as an uninterrupted run', () => {
    const yaml = `groups:
  - name: g
    interval: 30s
    rules:
      - alert: A
        expr: avg_over_time(cpu[2m]) > 80
        for: 1m
        keep_firing_for: 1m
      - alert: B
        expr: cpu < 50
`
    const groups = parseRuleFile(yaml).groups
    const values = [90, 95, 85, 70, 40, 99, 99, 99, 10, 10, 10, 10, 10, 10]
    const whole = new RulesEvaluator(groups)
    values.forEach((v, i) => whole.push('cpu', { h: 'x' }, i * 20 * S, v))
    const expected = whole.advance(values.length * 20 * S + 10 * M)

    const first = new RulesEvaluator(groups)
    const got: AlertTransition[] = []
    values.forEach((v, i) => {
      first.push('cpu', { h: 'x' }, i * 20 * S, v)
      if (i === 6) first.advance(i * 20 * S, got)
    })
    const restored = RulesEvaluator.restore(groups, structuredClone(first.snapshot()))
    restored.advance(values.length * 20 * S + 10 * M, got)
    expect(got).toEqual(expected)
    expect(expected.length).toBeGreaterThan(3)
  })

  it('drops a series once nothing is in its windows and no alert is active', () => {
    const e = one('cpu > 80')
    e.push('cpu', { h: '1' }, 0, 90)
    e.push('memory', { h: '1' }, 0, 90) // no rule selects it: remembered, never evaluated
    e.advance(M)
    expect(e.liveSeries).toBe(1)
    e.advance(10 * M)
    expect(e.liveSeries).toBe(0)
    expect(e.activeAlerts()).toEqual([])
  })

  it('holds only what the windows need: about one sample for instant selectors, the range for _over_time', () => {
    const [instant, ranged] = parseRuleFile(`groups:
  - name: i
    interval: 15s
    rules: [{ alert: A, expr: cpu > 80 }]
  - name: r
    interval: 15s
    rules: [{ alert: B, expr: "avg_over_time(cpu[1m]) > 80" }]
`).groups as [NonNullable<ReturnType<typeof parseRuleFile>['groups'][0]>, NonNullable<ReturnType<typeof parseRuleFile>['groups'][0]>]
    const a = new SeriesEvaluator(instant, instant.rules, 'cpu', null)
    const b = new SeriesEvaluator(ranged, ranged.rules, 'cpu', null)
    const out: AlertTransition[] = []
    for (let s = 0; s < 600; s++) {
      a.push(s * S, 50)
      b.push(s * S, 50)
      a.advance(s * S, out)
      b.advance(s * S, out)
    }
    expect(a.heldSamples).toBeLessThanOrEqual(15)
    expect(b.heldSamples).toBeGreaterThanOrEqual(60)
    expect(b.heldSamples).toBeLessThanOrEqual(76)
  })
})
