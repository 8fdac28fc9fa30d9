// The specification's scaling scenario end to end on real parts: beacons over
// HTTP -> JetStream -> the engine's worker threads (windows + the tenant's
// rules + the action ladder) -> trigger events on tm.triggers.<tenant>.<rule>
// (TM_TRIGGERS) and rows in ClickHouse's trigger_events. Event time drives it:
// the beacons carry explicit timestamps in the past.
import fs from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { CreatedTenant } from '../../engine/index.ts'
import { TRIGGERS_STREAM, triggerHistory, type TriggerEvent } from '../../engine/rules/index.ts'
import { startStack, type Stack } from '../helpers/stack.ts'

const seed = JSON.parse(fs.readFileSync(new URL('../fixtures/seed-test-data.json', import.meta.url), 'utf8')) as {
  scaling: { high_cpu: { duration: number; value: number }; normal: { duration: number; value: number } }
}

let stack: Stack
let hot: CreatedTenant
let calm: CreatedTenant
const STEP_MS = 15_000
// Aligned to the 15 s evaluation grid, far enough back that the whole run is in the past.
const start = Math.floor((Date.now() - 15 * 60_000) / STEP_MS) * STEP_MS

/** cpu_usage every 15 s for `duration` s and two minutes beyond (the ladder's first escalation), as one POST each. */
function cpuBeacons(value: number, durationS: number): { cpu_usage: number; ts: number; tags: Record<string, string> }[] {
  const out = []
  for (let t = 0; t <= durationS * 1000 + 120_000; t += STEP_MS) out.push({ cpu_usage: value, ts: start + t, tags: { host: 'web-1' } })
  return out
}

/** Every event on a tenant's subjects, read by a durable consumer from the start (catching up). */
async function triggersOf(tenant: string, until: (events: TriggerEvent[]) => boolean, timeoutMs = 30_000): Promise<TriggerEvent[]> {
  const nc = stack.tidemark.runtime.nc
  const jsm = await jetstreamManager(nc)
  const durable = `e2e-${tenant}`
  await jsm.consumers.add(TRIGGERS_STREAM, { durable_name: durable, filter_subject: `tm.triggers.${tenant}.>`, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All })
  const consumer = await jetstream(nc).consumers.get(TRIGGERS_STREAM, durable)
  const events: TriggerEvent[] = []
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && !until(events)) {
    const batch = await consumer.fetch({ max_messages: 100, expires: 1000 })
    for await (const m of batch) {
      events.push(m.json<TriggerEvent>())
      m.ack()
    }
  }
  return events
}

beforeAll(async () => {
  stack = await startStack()
  hot = await stack.createTenant('hot')
  calm = await stack.createTenant('calm')
  const high = await stack.request('POST', '/api/v2/analytics/metrics', hot.ingestToken, cpuBeacons(seed.scaling.high_cpu.value, seed.scaling.high_cpu.duration))
  expect(high.status).toBe(200)
  const normal = await stack.request('POST', '/api/v2/analytics/metrics', calm.ingestToken, cpuBeacons(seed.scaling.normal.value, seed.scaling.normal.duration))
  expect(normal.status).toBe(200)
}, 60_000)
afterAll(async () => stack?.stop())

describe('HighCpuUsage through the running engine', () => {
  it('goes pending, then firing after 5 minutes with the ladder climbing, on the tenant’s subjects', async () => {
    const escalated = (events: TriggerEvent[]) => events.some((e) => e.change === 'escalate')
    const events = await triggersOf(hot.id, escalated)
    const cpu = events.filter((e) => e.rule === 'HighCpuUsage')
    const pending = cpu.find((e) => e.state === 'pending' && e.change === 'alert')
    const firing = cpu.find((e) => e.state === 'firing' && e.change === 'alert')
    expect(pending).toMatchObject({ tenant: hot.id, at: start, step: 0, labels: { alertname: 'HighCpuUsage', host: 'web-1', severity: 'warning' } })
    expect(firing).toMatchObject({ tenant: hot.id, at: start + 300_000, activeAt: start, step: 1, previousStep: 0, action: 'enable_read_replicas', value: 85 })
    const escalation = cpu.find((e) => e.change === 'escalate')
    expect(escalation).toMatchObject({ at: start + 420_000, step: 2, previousStep: 1 })
    // Every event once, in event-time order for the alert.
    expect(new Set(cpu.map((e) => e.id)).size).toBe(cpu.length)
    const ats = cpu.map((e) => e.at)
    expect([...ats].sort((a, b) => a - b)).toEqual(ats)
    // No event on this tenant's subjects belongs to anyone else.
    expect(events.every((e) => e.tenant === hot.id)).toBe(true)
  })

  it('keeps the events in ClickHouse trigger_events, each id once', async () => {
    const store = stack.tidemark.runtime.store!
    let rows: Awaited<ReturnType<typeof triggerHistory>> = []
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      rows = await triggerHistory(store, hot.id, start - 1, Date.now())
      if (rows.some((r) => r.change === 'escalate')) break
    }
    expect(rows.find((r) => r.state === 'pending')).toMatchObject({ rule: 'HighCpuUsage', at: start, step: 0 })
    expect(rows.find((r) => r.state === 'firing')).toMatchObject({ rule: 'HighCpuUsage', at: start + 300_000, step: 1 })
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length)
  })

  it('cpu_usage at 70 gives no event at all, and nothing reaches the other tenant’s subjects', async () => {
    // By now the hot tenant escalated, so the calm tenant's data has been evaluated just as far.
    const events = await triggersOf(calm.id, () => false, 3_000)
    expect(events).toEqual([])
    const stats = stack.tidemark.stream!.stats()
    expect(stats.owned.length).toBe(stack.config.partitions)
  })

  it('shows the stream engine on GET /metrics: lag and late samples per partition, worker utilisation, rule evaluations, transitions', async () => {
    const scrape = async (): Promise<string> => (await fetch(`${stack.url}/metrics`)).text()
    const sum = (text: string, name: string): number =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
        .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
    const before = await scrape()
    // Minutes older than the partition's watermark: late, counted, kept out of windows and rules.
    const late = await stack.request('POST', '/api/v2/analytics/metrics', hot.ingestToken, { cpu_usage: 99, ts: start, tags: { host: 'web-1' } })
    expect(late.status).toBe(200)
    await expect.poll(async () => sum(await scrape(), 'tidemark_stream_late_samples'), { timeout: 10_000 }).toBe(sum(before, 'tidemark_stream_late_samples') + 1)
    const text = await scrape()
    for (let p = 0; p < stack.config.partitions; p++) expect(text).toMatch(new RegExp(`^tidemark_stream_backlog_messages\\{partition="${p}"\\} \\d+$`, 'm'))
    expect(text).toMatch(/^tidemark_stream_worker_utilization\{thread="\d+"\} (0|1|0\.\d+(e-\d+)?)$/m)
    expect(sum(text, 'tidemark_rules_evaluations_total')).toBeGreaterThan(20)
    expect(sum(text, 'tidemark_rules_transitions_total')).toBeGreaterThanOrEqual(2)
    expect(sum(text, 'tidemark_rules_ladder_steps_total')).toBeGreaterThanOrEqual(1)
    expect(sum(text, 'tidemark_triggers_published_total')).toBeGreaterThanOrEqual(3)
    expect(sum(text, 'tidemark_triggers_stored_total')).toBeGreaterThanOrEqual(3)
    // No tenant is ever named.
    expect(text).not.toContain(hot.id)
  })

  it('a tenant’s rule change reaches the worker threads: the new rule decides on the next data', async () => {
    const put = await stack.request('PUT', '/api/v2/rules', calm.apiKey, {
      groups: [{ name: 'calm-own', interval: '15s', rules: [{ alert: 'CalmCpu', expr: 'cpu_usage > 60', labels: { team: 'calm' } }] }],
    })
    expect(put.status).toBe(200)
    // Stamped ahead of the partition's watermark (idle ticks keep it at now - 5 s), on the grid.
    let at = Math.ceil((Date.now() + 60_000) / STEP_MS) * STEP_MS
    const tried: number[] = []
    const events = await (async () => {
      // The change takes effect where it is marked in the partition's log (100 ms debounce, then a config marker):
      // retry with later data until it is in effect.
      for (const deadline = Date.now() + 20_000; Date.now() < deadline; at += STEP_MS) {
        tried.push(at)
        for (const ts of [at, at + 5001]) {
          const posted = await stack.request('POST', '/api/v2/analytics/metrics', calm.ingestToken, { cpu_usage: 70, ts, tags: { host: 'web-2' } })
          expect(posted.status).toBe(200)
        }
        const seen = await triggersOf(calm.id, (e) => e.some((x) => x.rule === 'CalmCpu'), 2_000)
        if (seen.some((x) => x.rule === 'CalmCpu')) return seen
      }
      return []
    })()
    const fired = events.find((e) => e.rule === 'CalmCpu')
    expect(fired).toMatchObject({ tenant: calm.id, state: 'firing', labels: { team: 'calm', host: 'web-2' } })
    expect(tried).toContain(fired?.at)
    // Still nothing from the defaults for cpu at 70, and nothing of the other tenant.
    expect(events.every((e) => e.rule === 'CalmCpu' && e.tenant === calm.id)).toBe(true)
  })
})
