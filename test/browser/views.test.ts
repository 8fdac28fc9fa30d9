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
import { startStack, tempDir, type Stack } from '../helpers/stack.ts'
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
  stack = await startStack({}, { uiDir })
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
    const over = dashboard.page.locator('[data-testid="performance-response_time"] .u-over')
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

    await dashboard.page.screenshot({ path: SCREENSHOT_LIGHT, fullPage: true })
    await dashboard.page.getByTestId('theme-toggle').click()
    expect(await dashboard.page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark')
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
    const over = dashboard.page.locator('[data-testid="performance-response_time"] .u-over')
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
    // The 5 s poll of /api/v2/triggers may draw it first; the stream's own event is what is waited for.
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
    await expect
      .poll(
        async () => {
          await page.getByTestId('refresh').click()
          await page.waitForFunction(() => document.querySelector('[data-testid="usage-panel"]')?.getAttribute('data-state') !== 'loading')
          return dashboard.text('usage-requests')
        },
        { timeout: 25_000, interval: 1000 }
      )
      .toBe('2')
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
})
