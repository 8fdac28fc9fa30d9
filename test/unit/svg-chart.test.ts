// The SVG chart generator as pure functions: the document is well-formed XML,
// its path points and ticks follow the data, gaps break the line, units read in
// the metric's kind, and every text from data is escaped.
import { describe, expect, it } from 'vitest'
import { axisUnit, escapeXml, formatTick, layoutFor, niceTicks, renderChart, runsOf, timeTicks, type ChartInput } from '../../query/svg-chart.ts'

/**
 * A small well-formedness check: tags balance, attributes are quoted, every & starts an entity, no < or > in
 * text or attribute values. Enough to catch an unescaped value; Chromium parses the real thing (test/browser).
 */
function checkWellFormed(xml: string): void {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '')
  const stack: string[] = []
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>|([^<]+)/gy
  let m: RegExpExecArray | null
  let pos = 0
  while ((m = token.exec(body)) !== null) {
    pos = token.lastIndex
    const [, closing, name, attributes, selfClosing, text] = m
    const checked = text ?? attributes ?? ''
    for (const amp of checked.matchAll(/&/g)) {
      expect(checked.slice(amp.index).match(/^&(amp|lt|gt|quot|#39|#\d+);/), `a bare & at ${amp.index}`).not.toBeNull()
    }
    if (text !== undefined) {
      expect(text).not.toMatch(/>/)
      continue
    }
    if (closing) expect(stack.pop(), `</${name}> closes`).toBe(name)
    else if (!selfClosing) stack.push(name!)
  }
  expect(pos, `unparsed from: ${body.slice(pos, pos + 80)}`).toBe(body.length)
  expect(stack).toEqual([])
}

const HOUR = 3600_000
const from = Date.UTC(2026, 10, 22, 5, 0)

function input(overrides: Partial<ChartInput> = {}): ChartInput {
  const values = [10, 20, null, 40, 30, null, null, 50, 45, 60]
  return {
    title: 'load_time',
    subtitle: 'avg',
    kind: 'duration_ms',
    stat: 'avg',
    fromMs: from,
    toMs: from + HOUR,
    stepMs: 6 * 60_000,
    t: values.map((_, i) => from + i * 6 * 60_000),
    values,
    width: 800,
    height: 300,
    theme: 'light',
    ...overrides,
  }
}

/** The [x, y] pairs of each subpath of a path's d. */
function subpaths(svg: string, className: string): number[][][] {
  const d = new RegExp(`class="${className}" d="([^"]*)"`).exec(svg)?.[1] ?? ''
  return d
    .split('M')
    .filter(Boolean)
    .map((sub) =>
      sub
        .replace(/Z$/, '')
        .split('L')
        .map((pair) => pair.trim().split(' ').map(Number))
    )
}

describe('renderChart', () => {
  it('is well-formed, self-contained and labelled for assistive technology', () => {
    const svg = renderChart(input())
    checkWellFormed(svg)
    expect(svg).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
    expect(svg).toContain('role="img"')
    expect(svg).toContain('aria-label="load_time: avg"')
    expect(svg).toContain('<title>load_time</title>')
    // No external resource: the only URL is the namespace.
    expect(svg.match(/https?:\/\//g)).toEqual(['http://'])
    expect(svg).not.toMatch(/href|<image|@import|url\(/)
  })

  it('draws one subpath per run of data, each point where the layout puts its value', () => {
    const data = input()
    const svg = renderChart(data)
    const layout = layoutFor(data)
    const runs = subpaths(svg, 'line')
    expect(runs.map((r) => r.length)).toEqual([2, 2, 3]) // [10, 20] [40, 30] [50, 45, 60]; the nulls are gaps
    const expected = runsOf(data.values).map((run) => run.map((i) => [layout.x(data.t[i]!), layout.y(data.values[i]!)]))
    expect(runs).toEqual(expected)
    // Higher values sit higher (smaller y), and x follows time.
    const flat = runs.flat()
    const shown = data.values.filter((v): v is number => v !== null)
    for (let i = 1; i < flat.length; i++) {
      expect(flat[i]![0]).toBeGreaterThan(flat[i - 1]![0]!)
      expect(Math.sign(flat[i - 1]![1]! - flat[i]![1]!)).toBe(Math.sign(shown[i]! - shown[i - 1]!))
    }
    // The axis starts at 0 for a duration, and its top tick covers the largest value.
    expect(layout.valueTicks[0]).toBe(0)
    expect(layout.valueTicks.at(-1)).toBeGreaterThanOrEqual(60)
    expect(layout.y(0)).toBe(layout.plot.bottom)
  })

  it('writes value ticks in the metric unit and time ticks in UTC', () => {
    const svg = renderChart(input())
    const valueLabels = [...svg.matchAll(/data-value="[^"]*">([^<]*)</g)].map((m) => m[1])
    expect(valueLabels).toEqual(['0 ms', '20 ms', '40 ms', '60 ms'])
    const timeLabels = [...svg.matchAll(/data-t="(\d+)">([^<]*)</g)].map((m) => [Number(m[1]), m[2]])
    expect(timeLabels[0]).toEqual([from, '05:00'])
    expect(timeLabels.at(-1)).toEqual([from + HOUR, '06:00'])
    for (const [t, label] of timeLabels) expect(new Date(t as number).toISOString().slice(11, 16)).toBe(label)
  })

  it('draws the min–max band as one closed shape per run, around the line', () => {
    const data = input({ values: [10, 20, null, 30], t: [0, 1, 2, 3].map((i) => from + i * 15 * 60_000), band: { min: [5, 15, null, 25], max: [15, 30, null, 40] } })
    const svg = renderChart(data)
    const layout = layoutFor(data)
    const shapes = subpaths(svg, 'band')
    expect(shapes.length).toBe(2)
    expect(shapes[0]).toEqual([
      [layout.x(data.t[0]!), layout.y(15)],
      [layout.x(data.t[1]!), layout.y(30)],
      [layout.x(data.t[1]!), layout.y(15)],
      [layout.x(data.t[0]!), layout.y(5)],
    ])
    // A run of one point has no line to draw: it gets a dot, and no subpath of its own.
    expect(subpaths(svg, 'line').map((r) => r.length)).toEqual([2])
    expect(svg).toContain(`<circle cx="${layout.x(data.t[3]!)}" cy="${layout.y(30)}"`)
  })

  it('escapes every text from data, in text and in attributes', () => {
    const hostile = `</title><script>alert("x")</script> & 'quoted' \u0001`
    const svg = renderChart(input({ title: hostile, subtitle: `site=<b>&amp;` }))
    checkWellFormed(svg)
    expect(svg).not.toContain('<script>')
    expect(svg).toContain('&lt;/title&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39; ')
    expect(svg).toContain('site=&lt;b&gt;&amp;amp;')
    expect(svg).not.toContain('\u0001')
  })

  it('escapes the five XML characters and drops control characters XML forbids', () => {
    expect(escapeXml(`a<b>&"c"'d'\u0000\u001f\tok`)).toBe('a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;\tok')
  })

  it('says so when there is no data, and has a dark theme', () => {
    const svg = renderChart(input({ values: Array(10).fill(null), theme: 'dark' }))
    checkWellFormed(svg)
    expect(svg).toContain('No data in this range')
    expect(svg).not.toContain('class="line"')
    expect(svg).toContain('fill="#111827"')
  })
})

describe('ticks and units', () => {
  it('picks round value ticks covering the data', () => {
    expect(niceTicks(0, 60, 5)).toEqual([0, 20, 40, 60])
    expect(niceTicks(0.1, 0.3, 3)).toEqual([0.1, 0.2, 0.3])
    expect(niceTicks(5, 5, 5)[0]).toBeLessThan(5)
    const ticks = niceTicks(-3, 97, 6)
    expect(ticks[0]).toBeLessThanOrEqual(-3)
    expect(ticks.at(-1)).toBeGreaterThanOrEqual(97)
  })

  it('scales units by kind: seconds past 1,000 ms, bytes by 1,024, percent, plain counts', () => {
    expect(formatTick(1500, axisUnit('duration_ms', 'avg', 2000))).toBe('1.5 s')
    expect(formatTick(3 * 1024 * 1024, axisUnit('bytes', 'max', 4 * 1024 * 1024))).toBe('3 MB')
    expect(formatTick(50, axisUnit('percent', 'avg', 100))).toBe('50 %')
    expect(formatTick(12_000, axisUnit('count', 'sum', 12_000))).toBe('12,000')
    // count is samples, whatever the metric measures.
    expect(formatTick(7, axisUnit('duration_ms', 'count', 7))).toBe('7')
  })

  it('steps time ticks on whole UTC intervals and labels days past a day', () => {
    const day = 86_400_000
    const ticks = timeTicks(Date.UTC(2026, 0, 1, 3), Date.UTC(2026, 0, 8, 3), 8)
    expect(ticks.map((t) => t.label)).toEqual(['01-02', '01-03', '01-04', '01-05', '01-06', '01-07', '01-08'])
    expect(ticks.every((t) => t.t % day === 0)).toBe(true)
    expect(timeTicks(0, 30_000, 4).map((t) => t.label)).toEqual(['00:00:00', '00:00:10', '00:00:20', '00:00:30'])
  })
})
