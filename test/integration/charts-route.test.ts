// GET /api/v2/charts/<metric>.svg on real parts (nats-server, chDB, Tidemark on
// a port): beacons posted through ingest come back as a chart whose line sits
// where the values are, with gaps where a bucket is empty; each apiKey gets its
// own tenant's data; bad sizes and names are 400s naming the parameter; and the
// document draws in headless Chromium (a screenshot is kept under /tmp).
import os from 'node:os'
import path from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CreatedTenant } from '../../engine/index.ts'
import { launchChromium } from '../browser/chromium.ts'
import { startStack, type Stack } from '../helpers/stack.ts'

/** Kept after the run, outside the repository: what the chart looked like, light and dark. */
const SCREENSHOT = path.join(os.tmpdir(), 'tidemark-chart-svg.png')
const SCREENSHOT_DARK = path.join(os.tmpdir(), 'tidemark-chart-svg-dark.png')

const MINUTE = 60_000
const HOUR = 60 * MINUTE
/** Three whole hours ago: closed hours, whatever source the query picks. */
const t0 = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR
const range = `from=${t0}&to=${t0 + HOUR}&step=600`
/** load_time per 10-minute bucket; bucket 2 has none (a gap). */
const ACME_BUCKETS: number[][] = [[100, 300], [400], [], [1000, 2000], [500], [250]]
const HOSTILE_SITE = `<x&"y'>`

let stack: Stack
let acme: CreatedTenant
let globex: CreatedTenant
let browser: Browser | undefined

async function post(tenant: CreatedTenant, beacons: object[]): Promise<void> {
  const res = await stack.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, beacons)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
}

async function chart(route: string, tenant: CreatedTenant | null = acme): Promise<Response> {
  return fetch(stack.url + route, { headers: tenant ? { authorization: `Bearer ${tenant.apiKey}` } : {} })
}

/** The value axis as the document draws it: value -> y, fitted through two of its tick labels. */
function valueScale(svg: string): (v: number) => number {
  const ticks = [...svg.matchAll(/<text x="[^"]*" y="([^"]*)" dy="[^"]*" data-value="([^"]*)">/g)].map((m) => ({ y: Number(m[1]), v: Number(m[2]) }))
  expect(ticks.length).toBeGreaterThanOrEqual(2)
  const [a, b] = [ticks[0]!, ticks[ticks.length - 1]!]
  return (v) => a.y + ((v - a.v) / (b.v - a.v)) * (b.y - a.y)
}

function linePoints(svg: string): number[][][] {
  const d = /class="line" d="([^"]*)"/.exec(svg)?.[1] ?? ''
  return d
    .split('M')
    .filter(Boolean)
    .map((sub) => sub.split('L').map((pair) => pair.split(' ').map(Number)))
}

const avg = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length

beforeAll(async () => {
  stack = await startStack()
  acme = await stack.createTenant('acme')
  globex = await stack.createTenant('globex')
  await post(
    acme,
    ACME_BUCKETS.flatMap((values, bucket) => values.map((v, k) => ({ load_time: v, ts: t0 + bucket * 10 * MINUTE + (k + 1) * MINUTE, tags: { site: 'a' } })))
  )
  await post(acme, [{ load_time: 50, ts: t0 + 5 * MINUTE, tags: { site: HOSTILE_SITE } }])
  await post(globex, [{ load_time: 99_999, ts: t0 + MINUTE }])
  const acmeRows = ACME_BUCKETS.flat().length + 1
  expect(await stack.waitForRows(acme.id, acmeRows, 20_000)).toBe(acmeRows)
  expect(await stack.waitForRows(globex.id, 1, 20_000)).toBe(1)
}, 60_000)
afterAll(async () => {
  await browser?.close()
  await stack?.stop()
})

describe('GET /api/v2/charts/<metric>.svg', () => {
  let svg = ''

  it('answers an SVG document, privately cached, whose line follows the values', async () => {
    const res = await chart(`/api/v2/charts/load_time.svg?${range}&tag=site:a&width=640&height=320`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^image\/svg\+xml/)
    expect(res.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/)
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'")
    svg = await res.text()
    expect(svg).toContain('width="640" height="320"')
    const y = valueScale(svg)
    const runs = linePoints(svg)
    // Buckets 0-1 and 3-5: the empty bucket 2 breaks the line.
    expect(runs.map((r) => r.length)).toEqual([2, 3])
    const expected = ACME_BUCKETS.filter((b) => b.length > 0).map(avg)
    runs.flat().forEach(([, py], i) => expect(Math.abs(py! - y(expected[i]!)), `point ${i}`).toBeLessThan(0.5))
    // x: bucket middles, evenly spaced, with the gap's width between the runs.
    const xs = runs.flat().map(([px]) => px!)
    const dx = xs[1]! - xs[0]!
    expect(xs[2]! - xs[1]!).toBeCloseTo(2 * dx, 0)
    // The band spans min..max per bucket: bucket 3's band reaches 2000, above its average.
    expect(svg).toMatch(/class="band" d="M/)
    // Units: durations past a second read in seconds; time ticks in UTC.
    expect(svg).toMatch(/data-value="2000">2 s</)
    expect(svg).toContain(`>${new Date(t0).toISOString().slice(11, 16)}</text>`)
    expect(svg).toContain('<title>load_time</title>')
  })

  it('escapes a tag value from the data and a title from the request', async () => {
    const res = await chart(`/api/v2/charts/load_time.svg?${range}&tag=${encodeURIComponent(`site:${HOSTILE_SITE}`)}&title=${encodeURIComponent('Load <b>&</b>')}`)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).toContain('site=&lt;x&amp;&quot;y&#39;&gt;')
    expect(text).toContain('<title>Load &lt;b&gt;&amp;&lt;/b&gt;</title>')
    expect(text).not.toContain(HOSTILE_SITE)
    // One sample: one dot, no line.
    expect(text).toMatch(/<circle /)
  })

  it('shows each apiKey its own tenant\'s data only', async () => {
    const theirs = await (await chart(`/api/v2/charts/load_time.svg?${range}&stat=max`, globex)).text()
    const y = valueScale(theirs)
    const dot = /<circle cx="[^"]*" cy="([^"]*)"/.exec(theirs)
    expect(dot).not.toBeNull()
    expect(Math.abs(Number(dot![1]) - y(99_999))).toBeLessThan(0.5)
    expect(theirs).not.toContain('class="line"')
    // acme's max never reaches globex's value: its top tick stays near 2,000 ms.
    const ours = await (await chart(`/api/v2/charts/load_time.svg?${range}&stat=max`)).text()
    const top = Math.max(...[...ours.matchAll(/data-value="([^"]*)"/g)].map((m) => Number(m[1])))
    expect(top).toBeGreaterThanOrEqual(2000)
    expect(top).toBeLessThan(5000)
  })

  it('draws count, sum and p95', async () => {
    for (const stat of ['count', 'sum', 'p95']) {
      const res = await chart(`/api/v2/charts/load_time.svg?${range}&tag=site:a&stat=${stat}`)
      expect(res.status, stat).toBe(200)
      const runs = linePoints(await res.text())
      expect(runs.map((r) => r.length), stat).toEqual([2, 3])
    }
  })

  it('refuses bad parameters with a 400 naming them, an unknown metric with a 404, no key with a 401', async () => {
    const cases: [query: string, name: string][] = [
      ['width=100', 'width'],
      ['width=2001', 'width'],
      ['height=99', 'height'],
      ['height=5000', 'height'],
      ['width=abc', 'width'],
      ['stat=median', 'stat'],
      ['theme=blue', 'theme'],
      ['from=yesterday', 'from'],
    ]
    for (const [query, name] of cases) {
      const base = query.startsWith('from=') ? `to=${t0 + HOUR}` : range
      const res = await chart(`/api/v2/charts/load_time.svg?${base}&${query}`)
      expect(res.status, query).toBe(400)
      expect(await res.text(), query).toContain(name)
    }
    const badName = await chart('/api/v2/charts/Load-Time.svg')
    expect(badName.status).toBe(400)
    expect(await badName.text()).toContain('metric')
    const unknown = await chart(`/api/v2/charts/checkout_time.svg?${range}`)
    expect(unknown.status).toBe(404)
    const body = (await unknown.json()) as { code: string; message: string }
    expect(body.code).toBe('TM_QUERY_METRIC_UNKNOWN')
    expect(body.message).toContain('checkout_time')
    // globex's metric is unknown to acme too.
    await post(globex, [{ signup_count: 1, ts: t0 + MINUTE }])
    expect(await stack.waitForRows(globex.id, 2, 20_000)).toBe(2)
    expect((await chart(`/api/v2/charts/signup_count.svg?${range}`)).status).toBe(404)
    expect((await chart(`/api/v2/charts/load_time.svg?${range}`, null)).status).toBe(401)
  })

  it('parses and draws in headless Chromium', async () => {
    browser = await launchChromium()
    const page = await browser.newPage()
    for (const [theme, file] of [['light', SCREENSHOT], ['dark', SCREENSHOT_DARK]] as const) {
      const doc = await (await chart(`/api/v2/charts/load_time.svg?${range}&tag=site:a&width=640&height=320&theme=${theme}`)).text()
      // The browser's own XML parser: a parse error shows as a <parsererror> element.
      const parsed = await page.evaluate((text) => {
        const xml = new DOMParser().parseFromString(text, 'image/svg+xml')
        return { error: xml.getElementsByTagName('parsererror').length, root: xml.documentElement.nodeName }
      }, doc)
      expect(parsed).toEqual({ error: 0, root: 'svg' })
      await page.setContent(`<!doctype html><body style="margin:0">${doc.replace(/^<\?xml[^>]*>/, '')}</body>`)
      const line = await page.locator('path.line').boundingBox()
      expect(line!.width).toBeGreaterThan(300)
      expect(line!.height).toBeGreaterThan(50)
      expect(await page.locator('svg').getAttribute('aria-label')).toContain('load_time')
      await page.locator('svg').screenshot({ path: file })
    }
  })
})
