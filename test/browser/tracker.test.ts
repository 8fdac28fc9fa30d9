// The browser tracker in headless Chromium: a page served on localhost (its
// own origin) loads /t.js from the ingest tier with one <script> tag, is
// navigated as a single-page app (pushState, Back), fires a custom event, and
// the pageviews, the visitor and the event are then in ClickHouse, and in the
// sites summary. Once with navigator.sendBeacon, once without it (the fetch
// keepalive fallback). Real stack, real browser, nothing mocked.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CreatedTenant } from '../../engine/index.ts'
import { startStack, type Stack } from '../helpers/stack.ts'
import { launchChromium } from './chromium.ts'

let stack: Stack
let tenant: CreatedTenant
let site: { id: string; script: string }
let pages: http.Server
let pageUrl: string
let browser: Browser
const consoleErrors: string[] = []

beforeAll(async () => {
  stack = await startStack()
  tenant = await stack.createTenant('tracked')
  const made = await stack.request('POST', '/api/v2/sites', tenant.apiKey, { name: 'App', domains: ['localhost'] })
  expect(made.status).toBe(201)
  site = made.body
  // The site: any path answers the same single-page app, with the tag as the API handed it out.
  pages = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(`<!doctype html><html><head><title>app</title>${site.script}</head><body><h1>app</h1></body></html>`)
  })
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve))
  pageUrl = `http://localhost:${(pages.address() as AddressInfo).port}`
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await new Promise((resolve) => pages?.close(resolve))
  await stack?.stop()
})

async function rows(sql: string): Promise<any[]> {
  const store = stack.tidemark.runtime.store!
  return store.rows<any>(sql.replaceAll('{db}', store.database), { t: tenant.id })
}

async function waitForRows(sql: string, n: number): Promise<any[]> {
  const end = Date.now() + 15_000
  for (;;) {
    const found = await rows(sql)
    if (found.length >= n || Date.now() > end) return found
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Loads the page, navigates as an SPA, fires an event; resolves with the beacon requests the page made. */
async function visit(options: { userAgent: string; withoutSendBeacon?: boolean }): Promise<{ url: string; type: string }[]> {
  const context = await browser.newContext({ userAgent: options.userAgent, viewport: { width: 390, height: 844 }, screen: { width: 390, height: 844 } })
  if (options.withoutSendBeacon) await context.addInitScript(() => Object.defineProperty(navigator, 'sendBeacon', { value: undefined }))
  const page = await context.newPage()
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()))
  page.on('pageerror', (e) => consoleErrors.push(e.message))
  const beacons: { url: string; type: string }[] = []
  const answered: Promise<unknown>[] = []
  page.on('request', (r) => {
    if (!r.url().endsWith('/api/v2/beacon')) return
    beacons.push({ url: r.url(), type: r.resourceType() })
    answered.push(r.response())
  })
  await page.goto(`${pageUrl}/shop?utm_source=newsletter&utm_campaign=fall`)
  await page.waitForFunction(() => typeof (window as any).tidemark === 'function')
  await page.evaluate(() => history.pushState({}, '', '/shop/cart'))
  // A replaceState to the same path is not a new page.
  await page.evaluate(() => history.replaceState({ step: 2 }, '', '/shop/cart'))
  await page.evaluate(() => (window as any).tidemark('event', 'checkout', { plan: 'pro', items: 3 }))
  await page.goBack()
  await page.waitForFunction(() => location.pathname === '/shop')
  const end = Date.now() + 5000
  while (beacons.length < 4 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 50))
  await Promise.all(answered)
  // Nothing kept in the browser: no cookie (of either origin), no storage.
  expect(await context.cookies()).toEqual([])
  expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0)
  await context.close()
  return beacons
}

describe('the tracker in Chromium', () => {
  it('records pageviews (with UTM and screen class), SPA navigations and a custom event with its props, for one cookieless visitor', async () => {
    const beacons = await visit({ userAgent: 'tidemark-test-browser-a' })
    // Three pageviews (/shop, /shop/cart, Back to /shop) and the event, all by sendBeacon (Chromium reports them as pings).
    expect(beacons.length).toBe(4)
    expect(new Set(beacons.map((b) => b.type))).toEqual(new Set(['ping']))
    const views = await waitForRows(`SELECT path, referrer, utm_source, utm_campaign, screen, visitor FROM {db}.pageviews FINAL WHERE tenant = {t:String} ORDER BY ts`, 3)
    expect(views.map((v) => v.path)).toEqual(['/shop', '/shop/cart', '/shop'])
    expect(views.every((v) => v.utm_source === 'newsletter' && v.utm_campaign === 'fall')).toBe(false)
    expect(views[0]).toMatchObject({ utm_source: 'newsletter', utm_campaign: 'fall', screen: 'mobile' })
    expect(new Set(views.map((v) => v.visitor)).size).toBe(1)
    const events = await waitForRows(`SELECT name, props, path, visitor FROM {db}.events FINAL WHERE tenant = {t:String}`, 1)
    expect(events).toEqual([{ name: 'checkout', props: { plan: 'pro', items: '3' }, path: '/shop/cart', visitor: views[0].visitor }])
    expect(consoleErrors).toEqual([])
  })

  it('falls back to fetch with keepalive without sendBeacon, and a second browser is a second visitor', async () => {
    const beacons = await visit({ userAgent: 'tidemark-test-browser-b', withoutSendBeacon: true })
    expect(beacons.length).toBe(4)
    expect(new Set(beacons.map((b) => b.type))).toEqual(new Set(['fetch']))
    const views = await waitForRows(`SELECT visitor FROM {db}.pageviews FINAL WHERE tenant = {t:String}`, 6)
    expect(views.length).toBe(6)
    expect(new Set(views.map((v) => v.visitor)).size).toBe(2)
    const summary = await stack.request('GET', `/api/v2/analytics/sites-summary?from=${Date.now() - 3600_000}&to=${Date.now() + 60_000}`, tenant.apiKey)
    expect(summary.status).toBe(200)
    expect(summary.body.total).toEqual({ page_views: 6, visits: 2, visitors: 2 })
    expect(summary.body.sites).toMatchObject([{ site: site.id, name: 'App', total: { page_views: 6, visits: 2, visitors: 2 } }])
    expect(consoleErrors).toEqual([])
  })
})
