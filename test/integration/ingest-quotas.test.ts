// Quotas per tenant on real parts, each tier as its own least-privileged NATS
// user: the admin sets a quota through the query tier, the ingest process sees
// it through its watch of the tenants bucket (without one permission
// violation), answers 429 TM_INGEST_RATE_LIMITED with Retry-After to that
// tenant alone, and goes back to the default when the quota is deleted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openQuotaBucket, SupervisedNatsServer, type CreatedTenant } from '../../engine/index.ts'
import { ADMIN_TOKEN, connectAs, startStack, tempDir, type Stack } from '../helpers/stack.ts'

const serverLog: string[] = []
let nats: SupervisedNatsServer
let ingest: Stack
let engine: Stack
let query: Stack

beforeAll(async () => {
  nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir: tempDir('nats-quota'), onLog: (line) => serverLog.push(line) })
  ;[ingest, engine, query] = await Promise.all([
    startStack({}, { nats, natsUser: 'ingest', roles: ['ingest'] }),
    startStack({}, { nats, natsUser: 'engine', roles: ['engine'] }),
    startStack({}, { nats, natsUser: 'query', roles: ['query'] }),
  ])
}, 60_000)

afterAll(async () => {
  for (const stack of [ingest, engine, query]) await stack?.stop()
  await nats?.stop()
})

async function post(tenant: CreatedTenant, samples: number) {
  const body = Array.from({ length: samples }, (_, i) => ({ page_views: i }))
  const response = await fetch(`${ingest.url}/api/v2/analytics/metrics`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.ingestToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as any, retryAfter: response.headers.get('retry-after') }
}

/** Posts `samples` at a time until the answer has `status`, or the deadline passes. */
async function postUntil(tenant: CreatedTenant, samples: number, status: number, deadlineMs = 10_000) {
  const end = Date.now() + deadlineMs
  for (;;) {
    const res = await post(tenant, samples)
    if (res.status === status || Date.now() > end) return res
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function createTenant(name: string): Promise<CreatedTenant> {
  const created = await query.request('POST', '/api/v2/tenants', ADMIN_TOKEN, { name })
  expect(created.status).toBe(201)
  return created.body
}

describe('per-tenant quotas', () => {
  it('limits the tenant whose quota is set, with 429 and Retry-After, and no other; DELETE restores the default', async () => {
    const [limited, other] = await Promise.all([createTenant('limited'), createTenant('unlimited')])
    expect((await post(limited, 500)).status).toBe(200)
    const put = await query.request('PUT', `/api/v2/tenants/${limited.id}/quota`, ADMIN_TOKEN, { samplesPerSec: 10, burst: 100 })
    expect(put).toMatchObject({ status: 200, body: { tenantId: limited.id, source: 'tenant', samplesPerSec: 10, burst: 100 } })
    expect((await query.request('GET', `/api/v2/tenants/${limited.id}/quota`, ADMIN_TOKEN)).body).toMatchObject({ source: 'tenant', samplesPerSec: 10 })

    const refused = await postUntil(limited, 100, 429)
    expect(refused.status).toBe(429)
    expect(refused.body).toMatchObject({ code: 'TM_INGEST_RATE_LIMITED', message: expect.stringContaining('10 samples a second (burst 100)') })
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1)
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(10)
    expect((await post(other, 1000)).status).toBe(200)

    expect((await query.request('DELETE', `/api/v2/tenants/${limited.id}/quota`, ADMIN_TOKEN)).body).toMatchObject({ source: 'default' })
    expect((await postUntil(limited, 1000, 200)).status).toBe(200)
    expect(violations()).toEqual([])
  })

  it('refuses a bad quota, an unknown tenant, and a caller without the admin token, changing nothing', async () => {
    const tenant = await createTenant('quota-errors')
    const bad = await query.request('PUT', `/api/v2/tenants/${tenant.id}/quota`, ADMIN_TOKEN, { samplesPerSec: -1, burst: 0 })
    expect(bad.status).toBe(400)
    expect(bad.body.fields.map((f: { field: string }) => f.field).sort()).toEqual(['burst', 'samplesPerSec'])
    expect((await query.request('PUT', '/api/v2/tenants/t_0123456789ab/quota', ADMIN_TOKEN, { samplesPerSec: 1, burst: 1 })).body).toMatchObject({
      statusCode: 404,
      code: 'TM_QUERY_TENANT_NOT_FOUND',
    })
    expect((await query.request('PUT', `/api/v2/tenants/${tenant.id}/quota`, tenant.apiKey, { samplesPerSec: 1, burst: 1 })).status).toBe(401)
    expect((await query.request('GET', `/api/v2/tenants/${tenant.id}/quota`, ADMIN_TOKEN)).body).toMatchObject({ source: 'default' })
  })
})

describe('the ingest user watches quotas and token withdrawals, nothing else of the tenants bucket', () => {
  it('is refused a watch of tenant records, names, or every key (it may follow only quotas and token withdrawals)', async () => {
    const nc = await connectAs(nats, 'ingest', { inboxPrefix: '_INBOX.ingest' })
    try {
      const kv = await openQuotaBucket(nc)
      const before = violations().length
      await expect(kv.watch({ key: 'tenant.>' })).rejects.toThrow(/permissions violation/i)
      await expect(kv.watch({ key: 'name.>' })).rejects.toThrow(/permissions violation/i)
      await expect(kv.watch()).rejects.toThrow(/permissions violation/i)
      expect(violations().length).toBeGreaterThan(before)
    } finally {
      await nc.close()
    }
  })
})

const violations = () => serverLog.filter((line) => /violation/i.test(line))
