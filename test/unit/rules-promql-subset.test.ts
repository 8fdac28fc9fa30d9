// The rule expression subset: what is accepted (read with Prometheus' grammar) and how the rest is refused.
import { describe, expect, it } from 'vitest'
import { compileMatchers, parseRuleExpr } from '../../engine/rules/promql-subset.ts'

const SUBSET = 'Tidemark evaluates selector op scalar and <agg>_over_time(selector[range]) op scalar'

describe('parseRuleExpr accepts the subset', () => {
  it('reads a selector with every matcher kind', () => {
    expect(parseRuleExpr('cpu_usage{host="a", dc!="us", env=~"prod|stage", role!~"test.*"} > 80')).toEqual({
      selector: {
        metric: 'cpu_usage',
        matchers: [
          { name: 'host', op: '=', value: 'a' },
          { name: 'dc', op: '!=', value: 'us' },
          { name: 'env', op: '=~', value: 'prod|stage' },
          { name: 'role', op: '!~', value: 'test.*' },
        ],
      },
      op: '>',
      threshold: 80,
    })
  })

  it('reads every _over_time form, quantile with its parameter, and Prometheus durations', () => {
    expect(parseRuleExpr('quantile_over_time(0.95, response_time[1m]) > 500').range).toEqual({ fn: 'quantile_over_time', rangeMs: 60_000, quantile: 0.95 })
    for (const fn of ['avg', 'min', 'max', 'sum', 'count']) {
      expect(parseRuleExpr(`${fn}_over_time(cpu_usage[1h30m]) >= 1`).range).toEqual({ fn: `${fn}_over_time`, rangeMs: 5_400_000 })
    }
    expect(parseRuleExpr('max_over_time(x[90s]) > 1').range?.rangeMs).toBe(90_000)
    expect(parseRuleExpr('max_over_time(x[500ms]) > 1').range?.rangeMs).toBe(500)
  })

  it('normalises a number on the left by flipping the operator', () => {
    expect(parseRuleExpr('80 < cpu_usage')).toMatchObject({ op: '>', threshold: 80 })
    expect(parseRuleExpr('80 >= cpu_usage')).toMatchObject({ op: '<=', threshold: 80 })
    expect(parseRuleExpr('80 == cpu_usage')).toMatchObject({ op: '==', threshold: 80 })
  })

  it('takes every comparison, signs, parentheses, exponents, hex and Inf', () => {
    for (const op of ['>', '<', '>=', '<=', '==', '!=']) expect(parseRuleExpr(`x ${op} 1`).op).toBe(op)
    expect(parseRuleExpr('(x) > -(3)').threshold).toBe(-3)
    expect(parseRuleExpr('x > 1e3').threshold).toBe(1000)
    expect(parseRuleExpr('x > 0x10').threshold).toBe(16)
    expect(parseRuleExpr('x < Inf').threshold).toBe(Infinity)
    expect(parseRuleExpr('{__name__="cpu_usage", host="a"} > 1').selector).toEqual({ metric: 'cpu_usage', matchers: [{ name: 'host', op: '=', value: 'a' }] })
  })
})

describe('parseRuleExpr refuses what is outside, naming the part', () => {
  const cases: [string, string][] = [
    ['rate(http_requests[5m]) > 1', `rate() is not supported: ${SUBSET}`],
    ['sum(cpu_usage) > 1', 'the aggregation sum() is not supported'],
    ['cpu_usage > 1 and memory_usage > 2', 'the operator "and" is not supported'],
    ['cpu_usage > 1 or memory_usage > 2', 'the operator "or" is not supported'],
    ['cpu_usage + 1 > 2', 'the operator "+" (in "cpu_usage + 1") is not supported'],
    ['cpu_usage > bool 80', 'the bool modifier is not supported'],
    ['cpu_usage offset 5m > 1', 'offset ("cpu_usage offset 5m") is not supported'],
    ['cpu_usage @ 100 > 1', 'the @ modifier'],
    ['avg_over_time(cpu_usage[5m:1m]) > 1', 'a subquery'],
    ['cpu_usage[5m] > 1', 'a bare range selector'],
    ['cpu_usage > memory_usage', 'comparing two series'],
    ['cpu_usage > on(host) memory_usage', 'vector matching ("on(host)")'],
    ['cpu_usage', '"cpu_usage" has no comparison'],
    ['{host="a"} > 1', 'a selector without a metric name'],
    ['cpu_usage{__name__=~"c.*"} > 1', 'matching the metric name with =~'],
    ['cpu_usage > 5m', 'the duration 5m is not a number here'],
    ['cpu_usage > ', 'PromQL syntax error at character 13'],
    ['max_over_time(cpu_usage[0s]) > 1', 'the range [0s] must be longer than zero'],
    ['quantile_over_time(cpu_usage[1m]) > 1', 'quantile_over_time() takes two arguments'],
    ['cpu_usage{host=~"(?=a)"} > 1', 'uses lookaround'],
    ['cpu_usage{host=~"a("} > 1', 'the regex "a(" is invalid'],
    ['', 'the expression is empty'],
  ]
  it.each(cases)('%s', (expr, message) => {
    expect(() => parseRuleExpr(expr)).toThrow(message)
  })
})

describe('compileMatchers', () => {
  it('anchors regexes fully and reads absent tags as ""', () => {
    const m = compileMatchers(parseRuleExpr('x{host=~"web-.*", dc!="", role!~"db|cache", zone=""} > 1').selector.matchers)
    expect(m({ host: 'web-1', dc: 'eu', role: 'app' })).toBe(true)
    expect(m({ host: 'xweb-1', dc: 'eu', role: 'app' })).toBe(false) // anchored at the start
    expect(m({ host: 'web-1', dc: 'eu', role: 'dbx' })).toBe(true) // anchored at the end: "dbx" is not "db"
    expect(m({ host: 'web-1', dc: 'eu', role: 'db' })).toBe(false)
    expect(m({ host: 'web-1', role: 'app' })).toBe(false) // dc!="" needs the tag
    expect(m({ host: 'web-1', dc: 'eu', role: 'app', zone: 'z' })).toBe(false) // zone="" needs it absent
    expect(compileMatchers(parseRuleExpr('x{h=~"(?i)WEB"} > 1').selector.matchers)({ h: 'web' })).toBe(true)
  })
})
