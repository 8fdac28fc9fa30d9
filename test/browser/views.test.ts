// The dashboard's views end to end: performance quantiles with trigger
// markers, cache stats and sites, against a real stack fed through the ingest
// API; the range picker and a drag-zoom observed as the requests they send.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Request } from 'playwright-core'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { insertHits, insertTriggerEvents, type CreatedTenant, type TriggerEvent } from '../../engine/index.ts'
import { ADMIN_TOKEN, startStack, tempDir, type Stack } from '../helpers/stack.ts'
import { pageviewHit } from '../helpers/tracker-hits.ts'
import { launchChromium } from './chromium.ts'
import { DashboardPage } from './dashboard-page.ts'

const VITE_CONFIG = fileURLToPath(new URL('../../ui/vite.config.ts', import.meta.url))
/** Kept after the run, outside the repository: what the views looked like, light and dark. */
const SCREENSHOT_LIGHT = path.join(os.tmpdir(), 'tidemark-views-light.png')
const SCREENSHOT_DARK = path.join(os.tmpdir(), 'tidemark-views-dark.png')

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const now = Date.now()

let uiDir: string
let stack: Stack
let tenant: CreatedTenant
let browser: Browser
const siteIds: Record<string, string> = {}
const contexts: BrowserContext[] = []

/** The range a reporting request asked for. */
function rangeOf(request: Request): { from: number; to: number } {
  const params = new URL(request.url()).searchParams
  return { from: Number(params.get('from')), to: Number(params.get('to')) }
}

const isPerformanceRequest = (request: Request): boolean => request.url().includes('/api/v2/analytics/performance?')

function triggerEvent(state: TriggerEvent['state'], at: number, n: number): TriggerEvent {
  return {
    version: 1,
    id: n.toString(16).padStart(32, '0'),
    tenant: tenant.id,
    group: 'latency',
    rule: 'HighLatency',
    labels: { alertname: 'HighLatency' },
    annotations: {},
    state,
    change: 'alert',
    value: 480,
    activeAt: now - 40 * MINUTE,
    at,
    step: state === 'firing' ? 1 : 0,
    previousStep: state === 'resolved' ? 1 : 0,
    action: state === 'firing' ? 'expand_cache' : null,
    ladder: ['expand_cache'],
  }
}

beforeAll(async () => {
  uiDir = tempDir('ui')
  await build({ configFile: VITE_CONFIG, logLevel: 'warn', build: { outDir: uiDir } })
  // No stream engine: this file tests the views, and the engine's own anomaly scores of the fixtures would race the band test.
  stack = await startStack({ streamEngine: false }, { uiDir })
  tenant = await stack.createTenant('views')
  browser = await launchChromium()

  // Performance: 100 beacons over the last 50 minutes; response_time 5, 10, … 500 ms.
  const performance = Array.from({ length: 100 }, (_, k) => {
    const i = k + 1
    return { ts: now - 50 * MINUTE + i * 20_000, response_time: 5 * i, db_query_time: i, memory_usage: 40 + (i % 20) }
  })
  const response = await stack.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, performance)
  expect(response.status, JSON.stringify(response.body)).toBe(200)
  // Sites, as the tracker stores its pageviews: visitor v1 saw both sites, so the total counts two visitors, not three.
  for (const name of ['a.example', 'b.example']) {
    const made = await stack.request('POST', '/api/v2/sites', tenant.apiKey, { name, domains: [name] })
    expect(made.status, JSON.stringify(made.body)).toBe(201)
    siteIds[name] = made.body.id
  }
  const views = (name: string, person: string, count: number, ts: number) =>
    Array.from({ length: count }, (_, i) => pageviewHit(tenant.id, siteIds[name]!, person, ts + i * 1000))
  await insertHits(stack.tidemark.runtime.store!, [
    ...views('a.example', 'v1', 3, now - 30 * MINUTE),
    ...views('a.example', 'v2', 2, now - 29 * MINUTE),
    ...views('b.example', 'v1', 5, now - 28 * MINUTE),
  ])
  const cache = await stack.request('POST', '/api/v2/analytics/cache', tenant.ingestToken, [
    { ts: now - 30 * MINUTE, hits: 90, misses: 10, size_kb: 2048 },
    { ts: now - 20 * MINUTE, hits: 60, misses: 40, size_kb: 1024 },
  ])
  expect(cache.status, JSON.stringify(cache.body)).toBe(200)
  expect(await stack.waitForRows(tenant.id, 300 + 6)).toBe(306)

  // Trigger history as the engine's writer stores it: pending, firing, resolved.
  const store = stack.tidemark.runtime.store!
  await insertTriggerEvents(store, [triggerEvent('pending', now - 40 * MINUTE, 1), triggerEvent('firing', now - 35 * MINUTE, 2), triggerEvent('resolved', now - 25 * MINUTE, 3)])
})

afterAll(async () => {
  for (const context of contexts) await context.close()
  await browser?.close()
  await stack?.stop()
  if (uiDir) fs.rmSync(uiDir, { recursive: true, force: true })
})

async function openDashboard(query = ''): Promise<DashboardPage> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, locale: 'en-US', timezoneId: 'UTC', colorScheme: 'light' })
  contexts.push(context)
  // Inside the test's own timeout, so a failure names what it waited for.
  context.setDefaultTimeout(10_000)
  const dashboard = new DashboardPage(await context.newPage())
  await dashboard.page.goto(stack.url + '/' + query)
  return dashboard
}

/** Refreshes until the usage panel counts `requests` (ingest publishes usage every 10 s). */
async function waitForUsageRequests(dashboard: DashboardPage, requests: string): Promise<void> {
  const { page } = dashboard
  await expect
    .poll(
      async () => {
        await page.getByTestId('refresh').click()
        await page.waitForFunction(() => document.querySelector('[data-testid="usage-panel"]')?.getAttribute('data-state') !== 'loading')
        return dashboard.text('usage-requests')
      },
      { timeout: 25_000, interval: 1000 }
    )
    .toBe(requests)
}

describe('dashboard views', () => {
  it('shows performance quantiles, trigger markers, cache and sites figures from the data sent', async () => {
    const dashboard = await openDashboard('?metric=response_time')
    await dashboard.connect(tenant.apiKey)
    await dashboard.waitForCount('response_time', 100)
    await dashboard.page.getByTestId('performance-panel').waitFor({ state: 'visible' })
    await dashboard.waitForText('perf-response_time-count', '100')

    // The figures are the API's own for the range the page queried, and that is what the data says:
    // the p95 of 5, 10, … 500 is 475 (DDSketch: within 1 %).
    const range = await dashboard.page.evaluate(() => window.__tidemark.range)
    const api = await stack.request('GET', `/api/v2/analytics/performance?from=${range.fromMs}&to=${range.toMs}`, tenant.apiKey)
    expect(api.status).toBe(200)
    const p95 = api.body.total.response_time.p95 as number
    expect(Math.abs(p95 - 475) / 475).toBeLessThan(0.02)
    const format = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 })
    expect(await dashboard.text('perf-response_time-p95')).toBe(`${format.format(p95)} ms`)
    expect(await dashboard.text('perf-response_time-p50')).toBe(`${format.format(api.body.total.response_time.p50)} ms`)
    expect(await dashboard.text('perf-response_time-avg')).toBe('252.5 ms')
    expect(await dashboard.text('perf-db_query_time-avg')).toBe('50.5 ms')
    expect(await dashboard.text('perf-memory_usage-p99')).toMatch(/^5\d(\.\d+)? %$/)

    // Cache: 150 hits, 50 misses, 75 %; the largest size, 2,048 KB, reads in MB.
    await dashboard.waitForText('cache-hits', '150')
    expect(await dashboard.text('cache-misses')).toBe('50')
    expect(await dashboard.text('cache-hitRatio')).toBe('75 %')
    expect(await dashboard.text('cache-sizeKb')).toBe('2 MB')

    // Sites: v1 saw both, so two unique visitors in total; each site with its own row and sparkline.
    await dashboard.waitForText('sites-total-visits', '3')
    expect(await dashboard.text('sites-total-visitors')).toBe('2')
    expect(await dashboard.text('sites-total-page_views')).toBe('10')
    const siteRow = async (site: string): Promise<string[]> => dashboard.page.locator(`[data-site="${siteIds[site]}"] td`).allTextContents()
    expect((await siteRow('a.example')).slice(0, 4)).toEqual(['a.example', '2', '2', '5'])
    expect((await siteRow('b.example')).slice(0, 4)).toEqual(['b.example', '1', '1', '5'])
    expect(await dashboard.page.locator(`[data-site="${siteIds['a.example']}"] svg.sparkline polyline`).count()).toBe(1)

    // The trigger history is drawn: the firing marker's red is on the response_time canvas at its time.
    await dashboard.page.waitForFunction(() => window.__tidemark.triggers.length === 3)
    const firingDrawn = await dashboard.page.evaluate((at) => {
      const plot = window.__tidemark.plots.response_time!
      const x = Math.round(plot.valToPos(at, 'x', true))
      const pixels = plot.ctx.getImageData(x - 1, plot.bbox.top, 3, plot.bbox.height).data
      // --firing in the light theme: #cf222e.
      for (let i = 0; i < pixels.length; i += 4) if (Math.abs(pixels[i]! - 207) < 40 && pixels[i + 1]! < 90 && pixels[i + 2]! < 100) return true
      return false
    }, now - 35 * MINUTE)
    expect(firingDrawn).toBe(true)

    // One cursor: hovering the response_time chart moves the cache chart's cursor too.
    const over = dashboard.page.locator('[data-testid="performance-response_time"] > .chart .u-over')
    // Mouse coordinates are the viewport's: the chart has to be on screen.
    await over.scrollIntoViewIfNeeded()
    const box = (await over.boundingBox())!
    await dashboard.page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2)
    await dashboard.page.waitForFunction(() => {
      const { plots } = window.__tidemark
      const cache = plots.cache!
      const source = plots.response_time!
      if ((cache.cursor.left ?? -1) < 0 || (source.cursor.left ?? -1) < 0) return false
      // The charts' plotting areas differ (their axes do): the same time, not the same pixel.
      return Math.abs(cache.posToVal(cache.cursor.left!, 'x') - source.posToVal(source.cursor.left!, 'x')) < 60_000
    })

    // The view is in the URL, the key never.
    expect(dashboard.page.url()).toContain('metric=response_time')
    expect(dashboard.page.url()).toContain('range=1h')
    expect(dashboard.page.url()).not.toContain(tenant.apiKey)

    // Axis labels: 14 px on every chart, in the theme's text colour (light: #1f2328; dark: #e6edf3, from the same light-dark() palette).
    const axisLabels = (): Promise<{ sizes: number[]; colour: string }> =>
      dashboard.page.evaluate(() => {
        const plots = Object.values(window.__tidemark.plots).filter((plot) => plot.root.getClientRects().length > 0)
        const axes = plots.flatMap((plot) => plot.axes.filter((axis) => axis.show !== false))
        const plot = window.__tidemark.plots.response_time!
        const stroke = plot.axes[1]!.stroke as unknown as (u: typeof plot, i: number) => string
        return { sizes: [...new Set(axes.map((axis) => (axis.font as unknown as [string, number])[1] / devicePixelRatio))], colour: stroke(plot, 1) }
      })
    expect(await axisLabels()).toEqual({ sizes: [14], colour: 'rgb(31, 35, 40)' })
    await dashboard.page.screenshot({ path: SCREENSHOT_LIGHT, fullPage: true })
    await dashboard.page.getByTestId('theme-toggle').click()
    expect(await dashboard.page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
    expect(await axisLabels()).toEqual({ sizes: [14], colour: 'rgb(230, 237, 243)' })
    await dashboard.page.screenshot({ path: SCREENSHOT_DARK, fullPage: true })

    expect(dashboard.errors).toEqual([])
    expect(dashboard.consoleErrors).toEqual([])
  })

  it('queries the range picked and the span dragged across a chart, and keeps it in the URL', async () => {
    const dashboard = await openDashboard()
    await dashboard.connect(tenant.apiKey)
    await dashboard.page.getByTestId('performance-panel').waitFor({ state: 'visible' })
    await dashboard.page.getByTestId('auto-refresh').uncheck()

    // The picker: 6 hours asked of the server.
    const sixHours = dashboard.page.waitForRequest((r) => isPerformanceRequest(r) && rangeOf(r).to - rangeOf(r).from >= 6 * HOUR)
    await dashboard.page.getByTestId('range').selectOption('6h')
    const picked = rangeOf(await sixHours)
    // The server aligns to steps; the page asks for exactly 6 h ending now.
    expect(picked.to - picked.from).toBe(6 * HOUR)
    expect(dashboard.page.url()).toContain('range=6h')
    await dashboard.waitForText('perf-response_time-count', '100')

    // A drag across the middle third of the response_time chart: the query becomes that span.
    const over = dashboard.page.locator('[data-testid="performance-response_time"] > .chart .u-over')
    // Mouse coordinates are the viewport's: the chart has to be on screen.
    await over.scrollIntoViewIfNeeded()
    const box = (await over.boundingBox())!
    const zoomed = dashboard.page.waitForRequest((r) => isPerformanceRequest(r) && rangeOf(r).to - rangeOf(r).from < 3 * HOUR)
    await dashboard.page.mouse.move(box.x + box.width / 3, box.y + box.height / 2)
    await dashboard.page.mouse.down()
    await dashboard.page.mouse.move(box.x + (box.width * 2) / 3, box.y + box.height / 2, { steps: 8 })
    await dashboard.page.mouse.up()
    const span = rangeOf(await zoomed)
    // A third of six hours, give or take a pixel's worth.
    expect(Math.abs(span.to - span.from - 2 * HOUR)).toBeLessThan(5 * MINUTE)
    expect(Math.abs(span.from - (picked.from + 2 * HOUR))).toBeLessThan(5 * MINUTE)
    expect(await dashboard.page.getByTestId('range').inputValue()).toBe('custom')
    const url = new URL(dashboard.page.url())
    expect(Date.parse(url.searchParams.get('from')!)).toBe(span.from)
    expect(Date.parse(url.searchParams.get('to')!)).toBe(span.to)
    expect(url.search).not.toContain(tenant.apiKey)

    // Typed into the custom range's inputs (local time; the context's zone is UTC): the query follows.
    const typedFrom = Math.floor((now - 3 * HOUR) / 1000) * 1000
    const typedTo = Math.floor((now - HOUR) / 1000) * 1000
    const utcInput = (ms: number): string => new Date(ms).toISOString().slice(0, 19)
    await dashboard.page.getByTestId('range-from').fill(utcInput(typedFrom))
    const typed = dashboard.page.waitForRequest((r) => isPerformanceRequest(r) && rangeOf(r).to === typedTo)
    await dashboard.page.getByTestId('range-to').fill(utcInput(typedTo))
    expect(rangeOf(await typed)).toEqual({ from: typedFrom, to: typedTo })
    await dashboard.page.getByTestId('range-to').fill(utcInput(typedFrom - HOUR))
    await dashboard.waitForStatus('The custom range needs a start before its end.')

    // The link opens the same span.
    const shared = await openDashboard(url.search)
    const again = shared.page.waitForRequest(isPerformanceRequest)
    await shared.connect(tenant.apiKey)
    expect(rangeOf(await again)).toEqual(span)
    expect(await shared.page.getByTestId('range').inputValue()).toBe('custom')

    expect(dashboard.errors).toEqual([])
    expect(dashboard.consoleErrors).toEqual([])
    expect(shared.consoleErrors).toEqual([])
  })

  it('follows /api/v2/live with the key in a header, and draws a new trigger transition as it arrives', async () => {
    const dashboard = await openDashboard('?metric=response_time')
    const liveRequest = dashboard.page.waitForRequest((r) => r.url().includes('/api/v2/live?'))
    await dashboard.connect(tenant.apiKey)
    const request = await liveRequest
    expect(request.url()).not.toContain(tenant.apiKey)
    expect(request.headers().authorization).toBe(`Bearer ${tenant.apiKey}`)
    expect(new URL(request.url()).searchParams.getAll('metric')).toEqual(['response_time'])
    await dashboard.waitForText('live', 'Live')

    // Stored now: the stream reads history once it has settled (3 s) at its next tick (5 s at most).
    await insertTriggerEvents(stack.tidemark.runtime.store!, [{ ...triggerEvent('firing', Date.now(), 4), rule: 'LiveLatency' }])
    // A closed step's refresh may read it from /api/v2/triggers first; the stream's own event is what is waited for.
    await dashboard.page.waitForFunction(() => /^Live: LiveLatency firing at /.test(document.querySelector('[data-testid="live"]')?.textContent ?? ''), undefined, { timeout: 15_000 })
    expect(await dashboard.page.evaluate(() => window.__tidemark.liveEvents.trigger)).toBe(1)
    expect(await dashboard.page.evaluate(() => window.__tidemark.triggers.filter((t) => t.rule === 'LiveLatency').length)).toBe(1)
    // The last closed step came too, and re-queried the views.
    expect(await dashboard.page.evaluate(() => window.__tidemark.liveEvents.aggregate)).toBeGreaterThan(0)

    // Auto-refresh off stops the stream.
    await dashboard.page.getByTestId('auto-refresh').uncheck()
    await dashboard.waitForText('live', 'Live: off')
    expect(dashboard.errors).toEqual([])
    expect(dashboard.consoleErrors).toEqual([])
  })

  it('lists trigger transitions and usage, runs SQL into a table, a chart and a CSV, and confirms a retention that deletes', async () => {
    const dashboard = await openDashboard('?metric=response_time')
    const { page } = dashboard
    await dashboard.connect(tenant.apiKey)
    await page.getByTestId('auto-refresh').uncheck()

    // Timeline: the three HighLatency transitions, newest first.
    const rows = page.locator('[data-testid="triggers-table"] tbody tr')
    await rows.first().waitFor()
    const transitions = await rows.evaluateAll((trs) => trs.map((tr) => [tr.children[1]?.textContent, (tr as HTMLElement).dataset.state]))
    expect(transitions.filter(([rule]) => rule === 'HighLatency').map(([, state]) => state)).toEqual(['resolved', 'firing', 'pending'])

    // Usage: the two ingest requests and 306 samples of beforeAll, once the ingest process has published them (every 10 s).
    await waitForUsageRequests(dashboard, '2')
    expect(await dashboard.text('usage-samples')).toBe('306')

    // SQL: per-minute counts of response_time add up to the 100 samples sent, in the table and the chart.
    await page.getByTestId('sql-editor').fill("SELECT toStartOfMinute(ts) AS minute, count() AS n FROM samples WHERE metric = 'response_time' GROUP BY minute ORDER BY minute")
    await page.getByTestId('sql-run').click()
    await page.waitForFunction(() => / rows in \d+ ms/.test(document.querySelector('[data-testid="sql-summary"]')?.textContent ?? ''))
    const counts = await page.locator('[data-testid="sql-table"] tbody tr td:nth-child(2)').allTextContents()
    expect(counts.reduce((sum, n) => sum + Number(n), 0)).toBe(100)
    expect(await page.evaluate(() => Array.from(window.__tidemark.sql()!.data[1]!).reduce((a: number, b) => a + (b ?? 0), 0))).toBe(100)
    const downloading = page.waitForEvent('download')
    await page.getByTestId('sql-csv').click()
    const csv = fs.readFileSync((await (await downloading).path())!, 'utf8').trim().split(/\r?\n/)
    expect(csv[0]).toMatch(/minute.*n/)
    expect(csv.slice(1).reduce((sum, line) => sum + Number(line.split(',').at(-1)), 0)).toBe(100)

    // Retention: shortening raw samples to 7 days says what goes, and saves only on the second click.
    await page.getByTestId('retention-rawDays').fill('7')
    await page.getByTestId('retention-save').click()
    await expect.poll(() => dashboard.text('retention-confirm-text')).toMatch(/^Raw samples older than 7 days \(before \d{4}-\d\d-\d\d\) will be deleted/)
    expect((await stack.request('GET', '/api/v2/retention', tenant.apiKey)).body.rawDays).toBeNull()
    await page.getByTestId('retention-confirm').click()
    await dashboard.waitForText('retention-message', 'Saved.')
    expect((await stack.request('GET', '/api/v2/retention', tenant.apiKey)).body.rawDays).toBe(7)

    await page.screenshot({ path: path.join(os.tmpdir(), 'tidemark-views-tools.png'), fullPage: true })
    expect(dashboard.errors).toEqual([])
    expect(dashboard.consoleErrors).toEqual([])
  })

  it('stops polling while the live stream is connected, and polls every 5 s while it is down', async () => {
    const aggregateAsks = (dashboard: DashboardPage): number[] => {
      const seen: number[] = []
      dashboard.page.on('request', (r) => {
        if (r.url().includes('/api/v2/analytics/aggregate?') && new URL(r.url()).searchParams.get('metric') === 'response_time') seen.push(Date.now())
      })
      return seen
    }
    const dashboard = await openDashboard('?metric=response_time')
    const asked = aggregateAsks(dashboard)
    await dashboard.connect(tenant.apiKey)
    await dashboard.waitForText('live', 'Live')
    expect(await dashboard.page.getByTestId('live').getAttribute('data-updates')).toBe('live')
    // The stream's first event (the last closed step) comes as it connects: let its refresh pass before counting.
    await dashboard.page.waitForTimeout(2000)
    // 16 s: over three 5 s ticks, and at least one closed 15 s step. Each ask is one live event's refresh, none a tick's.
    const since = Date.now()
    const eventsBefore = await dashboard.page.evaluate(() => window.__tidemark.liveEvents.aggregate)
    const pollsBefore = await dashboard.page.evaluate(() => window.__tidemark.polls)
    await dashboard.page.waitForTimeout(16_000)
    const events = (await dashboard.page.evaluate(() => window.__tidemark.liveEvents.aggregate)) - eventsBefore
    expect(events).toBeGreaterThan(0)
    expect(await dashboard.page.evaluate(() => window.__tidemark.polls)).toBe(pollsBefore)
    expect(asked.filter((t) => t >= since).length).toBeLessThanOrEqual(events)

    // With the stream refused, the status says so and the 5 s poll carries the updates.
    const fallback = await openDashboard('?metric=response_time')
    await fallback.page.route('**/api/v2/live?**', (route) => route.abort())
    const polled = aggregateAsks(fallback)
    await fallback.connect(tenant.apiKey)
    await fallback.page.waitForFunction(() => document.querySelector('[data-testid="live"]')?.getAttribute('data-state') === 'error')
    expect(await fallback.text('live')).toMatch(/Polling every 5 s meanwhile\.$/)
    expect(await fallback.page.getByTestId('live').getAttribute('data-updates')).toBe('polling')
    const start = polled.length
    await expect.poll(() => polled.length - start, { timeout: 15_000 }).toBeGreaterThanOrEqual(2)
    expect(dashboard.errors).toEqual([])
    expect(dashboard.consoleErrors).toEqual([])
    // The aborted stream is the one error the fallback page may log.
    expect(fallback.consoleErrors.filter((e) => !e.includes('/api/v2/live'))).toEqual([])
  }, 60_000)

  it("shows the ingest credential's usage against its quota, with the 429s and refusals it met", async () => {
    const limited = await stack.createTenant('quota')
    // A tiny quota: one sample a second, five at once; each request below carries five.
    expect((await stack.request('PUT', `/api/v2/tenants/${limited.id}/quota`, ADMIN_TOKEN, { samplesPerSec: 1, burst: 5 })).status).toBe(200)
    const beacons = Array.from({ length: 5 }, (_, i) => ({ ts: now - 10 * MINUTE + i * 1000, response_time: 100 + i }))
    let passed = 0
    let rateLimited = 0
    const deadline = Date.now() + 10_000
    // Until three 429s: the ingest process picks the quota up from the bucket within a moment.
    while (rateLimited < 3 && Date.now() < deadline) {
      const response = await stack.request('POST', '/api/v2/analytics/metrics', limited.ingestToken, beacons)
      if (response.status === 429) rateLimited++
      else {
        expect(response.status, JSON.stringify(response.body)).toBe(200)
        passed++
      }
    }
    expect(rateLimited).toBe(3)
    // One refused outright: an invalid body.
    expect((await stack.request('POST', '/api/v2/analytics/metrics', limited.ingestToken, { response_time: -1 })).status).toBe(400)
    // Stored before the page asks: a metric the URL names but metric-names does not list yet is a 404 (a console error).
    expect(await stack.waitForRows(limited.id, passed * 5)).toBe(passed * 5)

    const dashboard = await openDashboard('?metric=response_time')
    const { page } = dashboard
    await dashboard.connect(limited.apiKey)
    await page.getByTestId('auto-refresh').uncheck()
    // Usage is published every 10 s by the ingest process.
    await waitForUsageRequests(dashboard, String(passed + rateLimited + 1))
    expect(await dashboard.text('usage-rateLimited')).toBe('3')
    expect(await dashboard.text('usage-refused')).toBe('1')
    expect(await dashboard.text('usage-samples')).toBe(String(passed * 5))
    expect(await dashboard.text('usage-quota')).toBe('1 samples/s, burst 5')
    // The busiest minute against the quota, as the API reports it for the range the page asked.
    const range = await page.evaluate(() => window.__tidemark.range)
    const api = await stack.request('GET', `/api/v2/usage?from=${range.fromMs}&to=${range.toMs}`, limited.apiKey)
    expect(api.body.quota).toEqual({ samplesPerSec: 1, burst: 5, source: 'tenant' })
    const peak = api.body.peakSamplesPerSec as number
    expect(peak).toBeGreaterThan(0)
    const oneDecimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 })
    expect(await dashboard.text('usage-peak')).toBe(`${oneDecimal.format(peak)} samples/s`)
    expect(await dashboard.text('usage-of-quota')).toBe(`Busiest minute at ${oneDecimal.format(peak * 100)} % of the quota`)
    expect(await page.getByTestId('usage-meter').evaluate((m) => [(m as HTMLMeterElement).max, (m as HTMLMeterElement).value])).toEqual([1, Math.min(1, peak)])

    // The other tenant's panel shows its own quota, the default, and none of these 429s.
    const other = await openDashboard('?metric=response_time')
    await other.connect(tenant.apiKey)
    await other.page.getByTestId('auto-refresh').uncheck()
    await other.waitForText('usage-rateLimited', '0')
    expect(await other.text('usage-quota')).toMatch(/ \(default\)$/)
    await page.screenshot({ path: path.join(os.tmpdir(), 'tidemark-views-usage.png'), fullPage: true })
    expect(dashboard.errors).toEqual([])
    expect(dashboard.consoleErrors).toEqual([])
    expect(other.consoleErrors).toEqual([])
  })

  it('draws the highest anomaly score of each step as a band under the performance chart, once scores exist', async () => {
    // Before any score: no band and no request for one (the route would answer 404, a console error).
    const before = await openDashboard('?metric=response_time')
    const anomalyAsks: string[] = []
    before.page.on('request', (r) => {
      if (r.url().includes('metric=anomaly_score')) anomalyAsks.push(r.url())
    })
    await before.connect(tenant.apiKey)
    await before.page.getByTestId('performance-panel').waitFor({ state: 'visible' })
    await before.waitForText('perf-response_time-count', '100')
    expect(anomalyAsks).toEqual([])
    expect(await before.page.getByTestId('anomaly-response_time').isHidden()).toBe(true)

    // Scores as the engine stores them (test/integration/anomaly-e2e.test.ts shows it does): rows of anomaly_score
    // tagged metric=response_time; two in one step (max 0.95). Ingest refuses the tag metric, so they go in as rows.
    const base = Math.floor((now - 40 * MINUTE) / MINUTE) * MINUTE
    const scores: Array<[number, number]> = [
      [base, 0.2],
      [base + 10 * MINUTE, 0.3],
      [base + 10 * MINUTE + 2000, 0.95],
      [base + 20 * MINUTE, 0.4],
      [base + 30 * MINUTE, 0.7],
    ]
    const store = stack.tidemark.runtime.store!
    const values = scores.map(([ts, v]) => `('${tenant.id}', 'anomaly_score', fromUnixTimestamp64Milli(${ts}), ${v}, map('metric', 'response_time'), now64(3), 0)`).join(', ')
    await store.command(`INSERT INTO ${store.database}.samples (tenant, metric, ts, value, tags, received_at, stream_seq) VALUES ${values}`)

    const dashboard = await openDashboard('?metric=response_time')
    const asked = dashboard.page.waitForRequest((r) => r.url().includes('metric=anomaly_score'))
    await dashboard.connect(tenant.apiKey)
    const request = new URL((await asked).url())
    expect(request.searchParams.getAll('tag')).toHaveLength(1)
    await dashboard.page.getByTestId('anomaly-response_time').waitFor({ state: 'visible' })
    // The band's values: one per step that holds a score, the highest of the step, in time order.
    const drawn = await dashboard.page.evaluate(() => {
      const plot = window.__tidemark.plots.response_time_anomaly!
      const perf = window.__tidemark.plots.response_time!
      return { values: Array.from(plot.data[1]!).filter((v) => v !== null), sameBuckets: JSON.stringify(Array.from(plot.data[0]!)) === JSON.stringify(Array.from(perf.data[0]!)) }
    })
    expect(drawn).toEqual({ values: [0.2, 0.95, 0.4, 0.7], sameBuckets: true })
    expect(await dashboard.text('anomaly-response_time-summary')).toBe('Anomaly score, highest per step: peak 0.95, 2 steps at or above the threshold 0.5')
    // Asked in the performance view's own step; the metrics without scores get no band.
    const perfStep = await dashboard.page.evaluate(() => {
      const t = window.__tidemark.plots.response_time!.data[0]!
      return (t[1]! - t[0]!) / 1000
    })
    expect(Number(request.searchParams.get('step'))).toBe(perfStep)
    expect(await dashboard.page.getByTestId('anomaly-db_query_time').isHidden()).toBe(true)
    expect(await dashboard.page.getByTestId('anomaly-memory_usage').isHidden()).toBe(true)
    // The band is on the canvas: the anomaly fill (#bf3989 at 35 % on white: pink) in the middle of the 0.95 step, above the threshold.
    const painted = await dashboard.page.evaluate(() => {
      const plot = window.__tidemark.plots.response_time_anomaly!
      const t = plot.data[0]!
      const i = Array.from(plot.data[1]!).indexOf(0.95)
      const x = Math.round(plot.valToPos(t[i]! + (t[1]! - t[0]!) / 2, 'x', true))
      const y = Math.round(plot.valToPos(0.7, 'y', true))
      const [r, g, b] = plot.ctx.getImageData(x, y, 1, 1).data
      return r! - g! > 30 && b! - g! > 15
    })
    expect(painted).toBe(true)

    await dashboard.page.locator('[data-testid="performance-response_time"]').screenshot({ path: path.join(os.tmpdir(), 'tidemark-views-anomaly.png') })
    await dashboard.page.getByTestId('theme-toggle').click()
    await dashboard.page.locator('[data-testid="performance-response_time"]').screenshot({ path: path.join(os.tmpdir(), 'tidemark-views-anomaly-dark.png') })
    expect(before.consoleErrors).toEqual([])
    expect(dashboard.errors).toEqual([])
    expect(dashboard.consoleErrors).toEqual([])
  })
})
