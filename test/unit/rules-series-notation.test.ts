// promtool's input_series notation, as promtool 2.42 expands it (each case checked against promtool).
import { describe, expect, it } from 'vitest'
import { expandSeriesValues, parseSeriesSelector } from '../../engine/rules/series-notation.ts'

const show = (values: string): string =>
  expandSeriesValues(values)
    .map((s) => (s.kind === 'value' ? String(s.value) : s.kind === 'stale' ? 'stale' : '_'))
    .join(' ')

describe('expandSeriesValues', () => {
  it.each([
    ['1 2 3', '1 2 3'],
    ['1x0', '1'],
    ['85x3', '85 85 85 85'],
    ['-2+4x3', '-2 2 6 10'],
    ['1-2x4', '1 -1 -3 -5 -7'],
    ['2-0.1x3', '2 1.9 1.7999999999999998 1.6999999999999997'], // float64 accumulation, as Go adds
    ['1 _x2 3', '1 _ _ 3'],
    ['_x0 1', '1'],
    ['_ stale 5', '_ stale 5'],
    ['0x10', '0 0 0 0 0 0 0 0 0 0 0'], // x is "times", never hex
    ['1e3 +5 .5', '1000 5 0.5'],
    ['Inf -Inf NaN inf', 'Infinity -Infinity NaN Infinity'],
  ])('%s -> %s', (values, expected) => {
    expect(show(values)).toBe(expected)
  })

  it.each(['1_000', 'stalex2', 'NaNx2', 'Infx1', '1+-1x2', 'abc', '1 x 2'])('refuses %s naming the token', (values) => {
    expect(() => expandSeriesValues(values)).toThrow(/is not a series value/)
  })
})

describe('parseSeriesSelector', () => {
  it('reads a series in PromQL notation', () => {
    expect(parseSeriesSelector('cpu_usage{host="a", dc="eu"}')).toEqual({ metric: 'cpu_usage', tags: { host: 'a', dc: 'eu' } })
    expect(parseSeriesSelector('{__name__="m", a="b"}')).toEqual({ metric: 'm', tags: { a: 'b' } })
    expect(parseSeriesSelector('up')).toEqual({ metric: 'up', tags: {} })
  })

  it('refuses matchers other than = and what is not a series', () => {
    expect(() => parseSeriesSelector('m{a=~"x"}')).toThrow('names its labels with =')
    expect(() => parseSeriesSelector('rate(x[1m])')).toThrow('is not a series')
    expect(() => parseSeriesSelector('{a="b"}')).toThrow('has no metric name')
  })
})
