// Rule files in Prometheus' format: accepted as YAML and as JSON, every problem named by its field; the defaults and overrides.
import { describe, expect, it } from 'vitest'
import { DEFAULT_RULES, effectiveRuleGroups, withDefaults } from '../../engine/rules/default-rules.ts'
import { parseRulesBody } from '../../engine/rules/rule-errors.ts'
import { parseRuleFile, RuleFileError } from '../../engine/rules/rule-file.ts'

const problemsOf = (text: string): { field: string; problem: string }[] => {
  try {
    parseRuleFile(text)
  } catch (err) {
    expect(err).toBeInstanceOf(RuleFileError)
    return (err as RuleFileError).problems
  }
  throw new Error('expected the file to be refused')
}

describe('parseRuleFile', () => {
  it('compiles groups, intervals, for, keep_firing_for, labels and annotations', () => {
    const { groups } = parseRuleFile(`
groups:
  - name: web
    interval: 30s
    rules:
      - alert: HighCpu
        expr: cpu_usage{host=~"web-.*"} > 80
        for: 5m
        keep_firing_for: 1m30s
        labels: { severity: page, team: 1 }
        annotations: { summary: "{{ $labels.host }} at {{ $value }}" }
  - name: empty
    rules:
`)
    expect(groups).toHaveLength(2)
    const [web, empty] = groups as [NonNullable<(typeof groups)[0]>, NonNullable<(typeof groups)[0]>]
    expect(web.intervalMs).toBe(30_000)
    expect(empty).toMatchObject({ intervalMs: 60_000, rules: [] })
    const rule = web.rules[0]
    expect(rule).toMatchObject({ name: 'HighCpu', forMs: 300_000, keepFiringForMs: 90_000 })
    expect(rule?.labels.map((l) => l.name)).toEqual(['severity', 'team'])
    expect(rule?.matches('cpu_usage', { host: 'web-2' })).toBe(true)
    expect(rule?.matches('cpu_usage', { host: 'db-1' })).toBe(false)
    expect(rule?.matches('memory_usage', { host: 'web-2' })).toBe(false)
  })

  it('names every bad field of every rule at once', () => {
    const problems = problemsOf(`
groups:
  - name: g
    interval: 10x
    limit: 5
    rules:
      - alert: A
        expr: rate(cpu_usage[5m]) > 1
        for: 5q
        labels: { v: "{{ $value }}", "bad-name": x, alertname: y }
      - record: job:cpu:avg
        expr: avg(cpu_usage)
      - expr: cpu_usage > 1
      - alert: T
        expr: cpu_usage > 1
        annotations: { a: "{{ if 1 }}x{{ end }}" }
  - name: g
    rules: []
`)
    const byField = Object.fromEntries(problems.map((p) => [p.field, p.problem]))
    expect(byField['groups[0].interval']).toMatch(/"10x" is not a duration/)
    expect(byField['groups[0].limit']).toMatch(/limit is not supported/)
    expect(byField['groups[0].rules[0].expr']).toMatch(/^rate\(\) is not supported/)
    expect(byField['groups[0].rules[0].for']).toMatch(/"5q" is not a duration/)
    expect(byField['groups[0].rules[0].labels.v']).toMatch(/labels cannot use \$value/)
    expect(byField['groups[0].rules[0].labels.bad-name']).toMatch(/not a valid label name/)
    expect(byField['groups[0].rules[0].labels.alertname']).toMatch(/cannot be set/)
    expect(byField['groups[0].rules[1].record']).toMatch(/recording rules are not supported/)
    expect(byField['groups[0].rules[2].alert']).toMatch(/is required/)
    expect(byField['groups[0].rules[3].annotations.a']).toMatch(/"if" is not supported/)
    expect(byField['groups[1].name']).toMatch(/repeated/)
  })

  it('refuses fields Prometheus does not know, and broken YAML, naming them', () => {
    expect(problemsOf('groups:\n  - name: g\n    bogus: 1\n    rules: []\n')).toEqual([{ field: 'groups[0].bogus', problem: 'is not a field of a Prometheus rule file here' }])
    expect(problemsOf('groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x > 1\n        for: 1m\n        for: 2m\n')[0]?.problem).toMatch(/YAML: Map keys must be unique/)
    expect(problemsOf('groups: [ {name: 1, rules: []} ]')).toEqual([{ field: 'groups[0].name', problem: 'expected string (got 1)' }])
  })
})

describe('the rules API body', () => {
  it('is the same shape as JSON, and a bad one is TM_ENGINE_RULE_INVALID with fields', () => {
    expect(parseRulesBody({ groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'cpu_usage > 1' }] }] }).groups[0]?.rules[0]?.name).toBe('A')
    try {
      parseRulesBody({ groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'sum(cpu_usage) > 1' }] }] })
      expect.unreachable()
    } catch (err) {
      expect(err).toMatchObject({ code: 'TM_ENGINE_RULE_INVALID', statusCode: 400, fields: [{ field: 'groups[0].rules[0].expr' }] })
      expect((err as Error).message).toMatch(/Invalid rules: groups\[0\]\.rules\[0\]\.expr: the aggregation sum\(\) is not supported/)
    }
  })
})

describe('defaults', () => {
  it('are the specification triggers, valid in our own format', () => {
    const rules = effectiveRuleGroups(undefined).flatMap((g) => g.rules)
    expect(rules.map((r) => [r.name, r.exprText, r.forMs])).toEqual([
      ['HighResponseTime', 'quantile_over_time(0.95, response_time[1m]) > 500', 0],
      ['HighCpuUsage', 'cpu_usage > 80', 300_000],
      ['HighMemoryUsage', 'memory_usage > 90', 300_000],
    ])
  })

  it('a tenant rule with a default alert name replaces that default; other defaults stay', () => {
    const tenant = { groups: [{ name: 'mine', rules: [{ alert: 'HighCpuUsage', expr: 'cpu_usage > 95', for: '1m' }, { alert: 'Mine', expr: 'errors > 0' }] }] }
    const names = withDefaults(tenant).groups.flatMap((g) => (g.rules ?? []).map((r) => `${g.name}/${r.alert}:${r.expr}`))
    expect(names).toEqual([
      'tidemark-defaults/HighResponseTime:quantile_over_time(0.95, response_time[1m]) > 500',
      'tidemark-defaults/HighMemoryUsage:memory_usage > 90',
      'mine/HighCpuUsage:cpu_usage > 95',
      'mine/Mine:errors > 0',
    ])
    expect(DEFAULT_RULES.groups[0]?.rules).toHaveLength(3) // untouched
  })
})
