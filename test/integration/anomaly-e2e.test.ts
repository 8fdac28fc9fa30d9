// Anomaly scores end to end on real parts: beacons over HTTP -> JetStream ->
// the engine's worker threads (a scorer per series beside the windows) ->
// tm.beacons.scores.<p> -> the storage consumer -> ClickHouse, as the metric
// anomaly_score with the tag metric=<scored metric>, readable like any series;
// a rule on the score series fires through the engine on an injected anomaly
// and not on steady data; another tenant's key reads none of it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { partitionOf, seriesKey, type CreatedTenant } from '../../engine/index.ts'
import { createScorer } from '../../engine/anomaly/index.ts'
import { waitForRulesMarked } from '../helpers/rule-markers.ts'
import { startStack, type Stack } from '../helpers/stack.ts'

let stack: Stack
let hot: CreatedTenant
let calm: CreatedTenant
const STEP_MS = 15_000
const POINTS = 700
const JUMP = 600
// On the 15 s grid, far enough back that the whole run is in the past.
const start = Math.floor((Date.now() - (POINTS * STEP_MS + 10 * 60_000)) / STEP_MS) * STEP_MS

/** Steady 50 ± 2 (a fixed sequence), then from `jumpAt` on at `level` ± 2. */
function cpuValues(jumpAt: number, level: number): number[] {
  let r = 12345
  const random = (): number => (r = (r * 16807) % 2147483647) / 2147483647
  return Array.from({ length: POINTS }, (_, i) => (i < jumpAt ? 50 : level) + (random() - 0.5) * 4)
}

const RULES = {
  groups: [
    {
      name: 'anomalies',
      interval: '15s',
      rules: [
        { alert: 'CpuAnomaly', expr: 'max_over_time(anomaly_score{metric="cpu_usage"}[5m]) > 0.5', for: '2m', labels: { severity: 'page' } },
        { alert: 'CpuAnomalyStrict', expr: 'anomaly_score{metric="cpu_usage"} > 0.9', for: '2m' },
      ],
    },
  ],
}

async function post(tenant: CreatedTenant, values: number[]): Promise<void> {
  for (let i = 0; i < values.length; i += 100) {
    const beacons = values.slice(i, i + 100).map((v, k) => ({ cpu_usage: v, ts: start + (i + k) * STEP_MS, tags: { host: 'web-1' } }))
    const res = await stack.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, beacons)
    expect(res.status).toBe(200)
  }
}

async function sql(tenant: CreatedTenant, text: string): Promise<Record<string, unknown>[]> {
  const res = await stack.request('POST', '/api/v2/query', tenant.apiKey, { sql: text })
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  const names = (res.body.columns as { name: string }[]).map((c) => c.name)
  return (res.body.rows as unknown[][]).map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]])))
}

async function storedScores(tenant: CreatedTenant): Promise<{ ts: number; value: number }[]> {
  const rows = await sql(tenant, `SELECT toUnixTimestamp64Milli(ts) AS ts, value FROM samples WHERE metric = 'anomaly_score' AND tags['metric'] = 'cpu_usage' AND tags['host'] = 'web-1' ORDER BY ts`)
  return rows.map((r) => ({ ts: Number(r.ts), value: Number(r.value) }))
}

async function triggers(tenant: CreatedTenant): Promise<{ rule: string; state: string; at: number }[]> {
  const res = await stack.request('GET', `/api/v2/triggers?from=${start}&to=${Date.now()}`, tenant.apiKey)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return res.body.events as { rule: string; state: string; at: number }[]
}

beforeAll(async () => {
  stack = await startStack()
  hot = await stack.createTenant('anomaly-hot')
  // The calm tenant's series in another partition than the hot one's: posted after it with the same timestamps,
  // in the same partition its points would all be older than the watermark the hot series set (late: stored,
  // never scored). That is by design, and it failed this test in about 1 run in 16 (tenant ids are random).
  const partitionOfWeb1 = (t: CreatedTenant): number => partitionOf(t.id, seriesKey('cpu_usage', { host: 'web-1' }), stack.config.partitions)
  for (let n = 1; ; n++) {
    calm = await stack.createTenant(`anomaly-calm-${n}`)
    if (partitionOfWeb1(calm) !== partitionOfWeb1(hot)) break
  }
  for (const t of [hot, calm]) expect((await stack.request('PUT', '/api/v2/rules', t.apiKey, RULES)).status).toBe(200)
  // The rules take effect at their config marker in each partition's log: the data goes after it.
  await waitForRulesMarked(stack.tidemark.runtime.nc, stack.config.partitions)
  await post(hot, cpuValues(JUMP, 95))
  await post(calm, cpuValues(POINTS, 50))
}, 60_000)
afterAll(async () => stack?.stop())

describe('anomaly scores through the running engine', () => {
  it('stores a score for every point as anomaly_score{metric="cpu_usage"}, each once, as a lone scorer gives them', async () => {
    await expect.poll(async () => (await storedScores(hot)).length, { timeout: 60_000, interval: 500 }).toBe(POINTS)
    const scores = await storedScores(hot)
    const values = cpuValues(JUMP, 95)
    const lone = createScorer()
    expect(scores).toEqual(values.map((v, i) => ({ ts: start + i * STEP_MS, value: lone.score(start + i * STEP_MS, v) })))
    expect(Math.max(...scores.slice(JUMP).map((s) => s.value))).toBeGreaterThan(0.5)
    // The score series keeps the scored series' tags beside metric=.
    const tags = await sql(hot, `SELECT DISTINCT tags['host'] AS host, tags['metric'] AS scored FROM samples WHERE metric = 'anomaly_score'`)
    expect(tags).toEqual([{ host: 'web-1', scored: 'cpu_usage' }])
  })

  it('reads like any series: GET /api/v2/analytics/aggregate?metric=anomaly_score&tag=metric:cpu_usage', async () => {
    const res = await stack.request('GET', `/api/v2/analytics/aggregate?metric=anomaly_score&tag=metric:cpu_usage&from=${start}&to=${start + POINTS * STEP_MS}&step=3600`, hot.apiKey)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect(res.body.total.count).toBe(POINTS)
    expect(res.body.total.max).toBeGreaterThan(0.5)
    const chart = await fetch(`${stack.url}/api/v2/charts/anomaly_score.svg?tag=metric:cpu_usage&from=${start}&to=${start + POINTS * STEP_MS}`, { headers: { authorization: `Bearer ${hot.apiKey}` } })
    expect(chart.status).toBe(200)
    expect(await chart.text()).toContain('<svg')
  })

  it('fires the rule on the score series for the anomaly, not on steady data', async () => {
    await expect
      .poll(async () => (await triggers(hot)).filter((e) => e.rule === 'CpuAnomaly' && e.state === 'firing').map((e) => e.at), { timeout: 30_000, interval: 500 })
      .toContain(start + JUMP * STEP_MS + 120_000)
    // The calm tenant's scores are all stored (so its rule was evaluated over all of them), and nothing fired.
    await expect.poll(async () => (await storedScores(calm)).length, { timeout: 30_000, interval: 500 }).toBe(POINTS)
    expect((await triggers(calm)).filter((e) => e.rule.startsWith('CpuAnomaly'))).toEqual([])
  })

  it('scores are the tenant’s own: another tenant’s key reads none of them', async () => {
    const res = await stack.request('GET', `/api/v2/analytics/aggregate?metric=anomaly_score&tag=metric:cpu_usage&from=${start}&to=${start + POINTS * STEP_MS}&step=3600`, calm.apiKey)
    expect(res.status).toBe(200)
    // The calm tenant sees its own 700 scores, all low, never the hot tenant's.
    expect(res.body.total.count).toBe(POINTS)
    expect(res.body.total.max).toBeLessThan(0.5)
    const stranger = await stack.createTenant('anomaly-stranger')
    const none = await stack.request('GET', `/api/v2/analytics/aggregate?metric=anomaly_score&from=${start}&to=${start + POINTS * STEP_MS}&step=3600`, stranger.apiKey)
    expect([200, 404]).toContain(none.status)
    if (none.status === 200) expect(none.body.total.count).toBe(0)
    expect(Number((await sql(stranger, `SELECT count() AS n FROM samples WHERE metric = 'anomaly_score'`))[0]?.n)).toBe(0)
  })

  it('refuses the reserved tag metric on ingest with a 400 naming it, storing nothing', async () => {
    const res = await stack.request('POST', '/api/v2/analytics/metrics', hot.ingestToken, { cpu_usage: 1, ts: start, tags: { metric: 'x' } })
    expect(res.status).toBe(400)
    expect(JSON.stringify(res.body)).toContain('tags.metric')
    expect(JSON.stringify(res.body)).toContain('reserved')
  })
})
