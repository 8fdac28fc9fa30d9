// Each tenant's ingest usage (requests, samples, bytes, rate-limited,
// refused), counted per credential on the ingest process and published as the
// system tenant's samples tagged with the tenant: the tenant reads its own with
// GET /api/v2/usage and its apiKey, another tenant sees none of it, and the
// tenant's own data holds nothing but what it sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CreatedTenant } from '../../engine/index.ts'
import { ADMIN_TOKEN, startStack, type Stack } from '../helpers/stack.ts'

let stack: Stack

beforeAll(async () => {
  stack = await startStack()
})
afterAll(async () => stack?.stop())

async function post(tenant: CreatedTenant, body: string) {
  const response = await fetch(`${stack.url}/api/v2/analytics/metrics`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.ingestToken}`, 'content-type': 'application/json' },
    body,
  })
  return { status: response.status, body: (await response.json()) as any }
}

async function usageOf(tenant: CreatedTenant): Promise<Record<string, unknown>> {
  const res = await stack.request('GET', '/api/v2/usage', tenant.apiKey)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  const { from, to, ...totals } = res.body
  expect(Date.parse(to) - Date.parse(from)).toBe(86_400_000)
  return totals
}

async function ownMetrics(tenant: CreatedTenant): Promise<string[]> {
  const res = await stack.request('POST', '/api/v2/query', tenant.apiKey, { sql: "SELECT DISTINCT metric FROM samples WHERE metric != 'anomaly_score' ORDER BY metric" })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return (res.body.rows as [string][]).map(([m]) => m)
}

describe('usage per credential', () => {
  it("counts requests, samples, bytes, rate-limited and refused, for the tenant's apiKey alone", async () => {
    const [busy, quiet] = await Promise.all([stack.createTenant('busy'), stack.createTenant('quiet')])
    const ok = JSON.stringify([{ page_views: 1, load_time: 5 }, { page_views: 2 }])
    for (let i = 0; i < 3; i++) expect((await post(busy, ok)).status).toBe(200)
    const bad = JSON.stringify({ page_views: -1 })
    expect((await post(busy, bad)).status).toBe(400)
    expect((await post(quiet, JSON.stringify({ page_views: 1 }))).status).toBe(200)
    // A quota the next request passes, and the one after it does not.
    expect((await stack.request('PUT', `/api/v2/tenants/${busy.id}/quota`, ADMIN_TOKEN, { samplesPerSec: 1, burst: 3 })).status).toBe(200)
    const deadline = Date.now() + 10_000
    let limited = 0
    let passed = 0
    while (limited === 0 && Date.now() < deadline) {
      const res = await post(busy, ok)
      if (res.status === 429) limited++
      else passed++
    }
    expect(limited).toBe(1)

    // drain() publishes the usage counted so far (the interval would, within 10 s).
    const publisher = stack.tidemark.publisher!
    const clientSamples = publisher.stats.samples
    await publisher.drain()
    // Usage samples have their own count: stats.samples stays what clients sent.
    expect(publisher.stats.samples).toBe(clientSamples)
    expect(publisher.stats.usageSamples).toBe(8)
    const requests = 3 + 1 + passed + limited
    await expect.poll(async () => (await usageOf(busy)).requests, { timeout: 10_000 }).toBe(requests)
    const { quota, peakSamplesPerSec, ...counts } = await usageOf(busy)
    expect(counts).toEqual({
      bytes: (3 + passed + limited) * Buffer.byteLength(ok) + Buffer.byteLength(bad),
      rateLimited: 1,
      refused: 1,
      requests,
      samples: (3 + passed) * 3,
    })
    // Against its quota: the tenant's own, and the busiest minute of its one ingest process (every sample, unless the run crossed a minute).
    expect(quota).toEqual({ samplesPerSec: 1, burst: 3, source: 'tenant' })
    expect(peakSamplesPerSec).toBeGreaterThan(0)
    expect(peakSamplesPerSec).toBeLessThanOrEqual(((3 + passed) * 3) / 60)
    // The other tenant sees only its own (and the default quota, not busy's), and neither tenant's data holds a usage sample.
    await expect.poll(async () => (await usageOf(quiet)).requests, { timeout: 10_000 }).toBe(1)
    const { quota: quietQuota, peakSamplesPerSec: quietPeak, ...quietCounts } = await usageOf(quiet)
    expect(quietCounts).toEqual({ bytes: Buffer.byteLength('{"page_views":1}'), rateLimited: 0, refused: 0, requests: 1, samples: 1 })
    expect(quietQuota).toEqual({ samplesPerSec: stack.config.quotaSamplesPerSec, burst: stack.config.quotaBurst, source: 'default' })
    expect(quietPeak).toBeCloseTo(1 / 60)
    expect(await ownMetrics(busy)).toEqual(['load_time', 'page_views'])
    expect(await stack.waitForRows(quiet.id, 1)).toBe(1)
    const unknown = await stack.request('GET', '/api/v2/usage', busy.ingestToken)
    expect(unknown.status).toBe(403)
  })
})
