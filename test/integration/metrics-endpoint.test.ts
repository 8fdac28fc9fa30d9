// GET /metrics as Prometheus scrapes it: real stack, figures that match what happened, no tenant named.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStack, type Stack } from '../helpers/stack.ts'

let stack: Stack

beforeAll(async () => {
  // No stream engine: its anomaly scores are stored rows too, and this counts the client's samples through storage.
  stack = await startStack({ streamEngine: false })
})
afterAll(async () => {
  await stack?.stop()
})

function metricValue(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

describe('GET /metrics', () => {
  it('counts what ingest and storage did, in Prometheus text format, and names no tenant', async () => {
    const tenant = await stack.createTenant('metrics-acme')
    const beacons = Array.from({ length: 40 }, (_, i) => ({ page_views: i, load_time: 100 + i }))
    const posted = await stack.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, beacons)
    expect(posted.status).toBe(200)
    expect(await stack.waitForRows(tenant.id, 80)).toBe(80)

    const response = await fetch(`${stack.url}/metrics`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/plain')
    const text = await response.text()
    expect(text).toContain('# TYPE tidemark_ingest_samples_total counter')
    expect(metricValue(text, 'tidemark_ingest_samples_total')).toBe(80)
    expect(metricValue(text, 'tidemark_storage_rows_total')).toBe(80)
    expect(metricValue(text, 'tidemark_storage_dead_letters_total')).toBe(0)
    expect(metricValue(text, 'tidemark_storage_consumer_lag', '{state="undelivered"}')).toBe(0)
    // prom-client's defaults: the event-loop delay every Node service should show.
    expect(text).toMatch(/^tidemark_nodejs_eventloop_lag_p99_seconds \d/m)
    expect(text).not.toContain(tenant.id)
    expect(text).not.toContain('metrics-acme')
  })
})
