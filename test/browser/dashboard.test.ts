// The dashboard end to end: the real Vite build served by a real stack
// (nats-server, chDB, Tidemark), driven in headless Chromium. Beacons go in
// through the ingest API; the test reads back what uPlot was given to draw.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext } from 'playwright-core'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CreatedTenant } from '../../engine/index.ts'
import { startStack, tempDir, type Stack } from '../helpers/stack.ts'
import { launchChromium } from './chromium.ts'
import { DashboardPage } from './dashboard-page.ts'

const VITE_CONFIG = fileURLToPath(new URL('../../ui/vite.config.ts', import.meta.url))
/** Kept after the run: the one way to see what a headless failure looked like. */
const SCREENSHOT = path.join(os.tmpdir(), 'tidemark-dashboard.png')

let uiDir: string
let stack: Stack
let tenant: CreatedTenant
let browser: Browser
const contexts: BrowserContext[] = []

async function openDashboard(): Promise<DashboardPage> {
  // UTC and en-US: the axis and the totals read the same on every machine.
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, locale: 'en-US', timezoneId: 'UTC' })
  contexts.push(context)
  const dashboard = new DashboardPage(await context.newPage())
  await dashboard.page.goto(stack.url + '/')
  return dashboard
}

/** Posts beacons and waits until ClickHouse holds `rowsAfter` samples of the tenant. */
async function ingest(beacons: Record<string, number> | Record<string, number>[], rowsAfter: number): Promise<void> {
  const response = await stack.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, beacons)
  expect(response.status, JSON.stringify(response.body)).toBe(200)
  expect(await stack.waitForRows(tenant.id, rowsAfter)).toBe(rowsAfter)
}

beforeAll(async () => {
  // A build of its own, not ui/dist: the test never clobbers what `npm start` serves.
  uiDir = tempDir('ui')
  await build({ configFile: VITE_CONFIG, logLevel: 'warn', build: { outDir: uiDir } })
  stack = await startStack({}, { uiDir })
  tenant = await stack.createTenant('dashboard')
  browser = await launchChromium()
})

afterAll(async () => {
  for (const context of contexts) await context.close()
  await browser?.close()
  await stack?.stop()
  if (uiDir) fs.rmSync(uiDir, { recursive: true, force: true })
})

describe('dashboard', () => {
  it('charts a metric, follows new samples and the window, and remembers the key until told to forget it', async () => {
    await ingest({ page_views: 150, load_time: 420 }, 2)
    const dashboard = await openDashboard()

    await dashboard.connect(tenant.apiKey)
    await dashboard.pickMetric('page_views')
    await dashboard.waitForSeriesValue('page_views', 'avg', 150)
    expect(await dashboard.total('count')).toBe('1')
    expect(await dashboard.total('sum')).toBe('150')
    expect(await dashboard.total('avg')).toBe('150')

    // Nothing is clicked: only auto-refresh can bring this one in, at the next closed step the live stream
    // announces (the step of a 1 h range is 15 s, and a step closes 3 s after its end).
    await ingest({ page_views: 50 }, 3)
    await dashboard.waitForCount('page_views', 2, 25_000)
    await dashboard.waitForSeriesValue('page_views', 'max', 150)
    await dashboard.waitForSeriesValue('page_views', 'min', 50)
    expect(await dashboard.total('count')).toBe('2')
    expect(await dashboard.total('sum')).toBe('200')
    expect(await dashboard.total('min')).toBe('50')
    expect(await dashboard.total('max')).toBe('150')

    // With auto-refresh off, the button alone brings the next one in, well within a tick.
    await dashboard.page.getByTestId('auto-refresh').uncheck()
    await ingest({ page_views: 100 }, 4)
    await dashboard.page.getByTestId('refresh').click()
    await dashboard.waitForCount('page_views', 3, 3_000)
    expect(await dashboard.total('avg')).toBe('100')
    await expect.poll(() => dashboard.page.getByTestId('status').textContent()).toMatch(/^Updated .*page_views/)

    // An hour of backfilled samples, two per minute, charted through the typed-name fallback:
    // the picker was filled before this metric existed.
    const now = Date.now()
    const backfill = Array.from({ length: 120 }, (_, i) => ({ ts: now - 3_540_000 + Math.floor(i / 2) * 60_000, response_time: 200 + 80 * Math.sin(i / 12) + (i % 2) * 40 }))
    await ingest(backfill, 124)
    await dashboard.pickMetric('+other')
    await dashboard.page.getByTestId('metric-name').fill('response_time')
    await dashboard.page.getByTestId('metric-name').press('Enter')
    await dashboard.waitForCount('response_time', 120)
    expect(await dashboard.total('max')).toMatch(/ ms$/)

    // The chart follows the window, down to a phone's width.
    await dashboard.page.setViewportSize({ width: 420, height: 760 })
    await dashboard.page.waitForFunction(() => window.__tidemark.chart.width < 420)
    await dashboard.page.setViewportSize({ width: 1100, height: 760 })
    await dashboard.page.waitForFunction(() => window.__tidemark.chart.width > 900)
    await dashboard.page.screenshot({ path: SCREENSHOT, fullPage: true })

    // A reload comes back to the same key, metric and chart without typing anything.
    expect(await dashboard.savedApiKey()).toBe(tenant.apiKey)
    await dashboard.page.reload()
    await dashboard.waitForCount('response_time', 120)
    expect(await dashboard.page.getByTestId('api-key').inputValue()).toBe(tenant.apiKey)

    await dashboard.page.getByTestId('forget-key').click()
    expect(await dashboard.savedApiKey()).toBeNull()
    expect(await dashboard.page.getByTestId('api-key').inputValue()).toBe('')
    expect(await dashboard.total('count')).toBe('–')
    expect(dashboard.errors).toEqual([])
    expect(dashboard.consoleErrors).toEqual([])
  })

  it("shows the API's own message when the key is refused, and does not keep that key", async () => {
    const dashboard = await openDashboard()
    // An unknown key (401), then a real credential of the wrong role (403).
    for (const [key, status] of [
      ['not-a-real-key', 401],
      [tenant.ingestToken, 403],
    ] as const) {
      const expected = await stack.request('GET', '/api/v2/analytics/metric-names', key)
      expect(expected.status).toBe(status)
      await dashboard.connect(key)
      await dashboard.waitForStatus(expected.body.message)
      expect(await dashboard.page.getByTestId('status').getAttribute('data-state')).toBe('error')
      expect(await dashboard.savedApiKey()).toBeNull()
    }
    expect(dashboard.errors).toEqual([])
  })

  it('revalidates index.html on every load and caches hashed assets for good', async () => {
    const index = await fetch(stack.url + '/')
    expect(index.headers.get('cache-control')).toBe('no-cache')
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(await index.text())?.[1]
    expect(asset).toBeDefined()
    expect((await fetch(stack.url + asset)).headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
  })
})
