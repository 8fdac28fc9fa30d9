// Each tenant's ingest usage (requests, samples, bytes, rate-limited,
// refused), counted per credential on the ingest process and published into
// that tenant's own series tm_usage_*: the tenant reads its own through SQL
// with its apiKey, another tenant sees none of it, and no client can write a
// tm_usage_ metric.
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

async function usageOf(tenant: CreatedTenant): Promise<Record<string, number>> {
  const res = await stack.request('POST', '/api/v2/query', tenant.apiKey, {
    sql: "SELECT metric, sum(value) AS total FROM samples WHERE startsWith(metric, 'tm_usage_') GROUP BY metric ORDER BY metric",
  })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return Object.fromEntries((res.body.rows as [string, number][]).map(([metric, total]) => [metric, Number(total)]))
}

describe('usage per credential', () => {
  it("counts requests, samples, bytes, rate-limited and refused into the tenant's own series", async () => {
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
    await stack.tidemark.publisher!.drain()
    const requests = 3 + 1 + passed + limited
    await expect.poll(async () => (await usageOf(busy)).tm_usage_requests, { timeout: 10_000 }).toBe(requests)
    expect(await usageOf(busy)).toEqual({
      tm_usage_bytes: (3 + passed + limited) * Buffer.byteLength(ok) + Buffer.byteLength(bad),
      tm_usage_rate_limited: 1,
      tm_usage_refused: 1,
      tm_usage_requests: requests,
      tm_usage_samples: (3 + passed) * 3,
    })
    // The other tenant sees only its own.
    await expect.poll(async () => (await usageOf(quiet)).tm_usage_requests, { timeout: 10_000 }).toBe(1)
    expect(await usageOf(quiet)).toEqual({ tm_usage_bytes: Buffer.byteLength('{"page_views":1}'), tm_usage_requests: 1, tm_usage_samples: 1 })
  })

  it('refuses a beacon that names a tm_usage_ metric', async () => {
    const tenant = await stack.createTenant('forger')
    const res = await post(tenant, JSON.stringify([{ page_views: 1 }, { tm_usage_samples: 1_000_000 }]))
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ code: 'TM_INGEST_INVALID_BEACON', fields: [{ field: '[1].tm_usage_samples', problem: expect.stringContaining('reserved') }] })
  })
})
