// A tenant removes a rule while its alert fires: the engine marks the change in
// the partition's log, resolves the alert there and steps its ladder down, and
// the events land on tm.triggers.<tenant>.<rule> exactly once, also when the
// engine is killed (-9) and replays from its checkpoint afterwards, and when the
// rules change while no engine runs. Real processes: a nats-server, a `tidemark
// ingest`, and a `tidemark engine query` (chDB) killed and started again.
import { once } from 'node:events'
import { expect, it, onTestFailed } from 'vitest'
import { loadConfig, openBucket, partitionOf, RULES_BUCKET, RuleStore, seriesKey } from '../../engine/index.ts'
import type { TriggerEvent } from '../../engine/rules/index.ts'
import { ADMIN_TOKEN, tempDir } from '../helpers/stack.ts'
import { waitForRulesMarked } from '../helpers/rule-markers.ts'
import { processRig, startTidemarkProcess, storedTriggerEvents, type TidemarkProcess } from '../helpers/tidemark-process.ts'

const STEP_MS = 15_000
// Data stamped ten minutes ago: the first engine never ticks (its idle timeout is an hour), so event time
// moves only with the data posted; a restarted engine ticks after a second and plays the rest out to now.
const start = Math.floor((Date.now() - 10 * 60_000) / STEP_MS) * STEP_MS
const RULES = {
  groups: [
    {
      name: 'checkout',
      interval: '15s',
      rules: [
        {
          alert: 'CheckoutCpu',
          expr: 'cpu_usage{host="web-1"} > 80',
          annotations: { tidemark_actions: 'add_workers,degrade', tidemark_cooldown: '10m', tidemark_step_down_after: '1m' },
        },
      ],
    },
  ],
}

const engineDir = tempDir('engine')
const rig = processRig(engineDir)

async function startEngine(idleTimeoutMs: number): Promise<TidemarkProcess> {
  const p = await startTidemarkProcess(['engine', 'query'], rig.env('admin', { TIDEMARK_DATA_DIR: engineDir, TIDEMARK_STREAM_IDLE_TIMEOUT_MS: String(idleTimeoutMs) }))
  rig.running.push(p)
  return p
}

/** Every event stored on one rule's subject of a tenant, in stream order. */
const stored = (tenant: string, rule = 'CheckoutCpu'): Promise<TriggerEvent[]> => storedTriggerEvents(rig.nc, `tm.triggers.${tenant}.${rule}`)

const brief = (events: TriggerEvent[]): string[] => events.map((e) => `${e.state}/${e.change}/${e.previousStep}->${e.step}@${(e.at - start) / 1000}`)

async function call(method: string, url: string, token: string, body?: unknown): Promise<Response> {
  return fetch(url, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) })
}

async function post(url: string, token: string, fromMs: number, toMs: number, value: number): Promise<void> {
  for (let t = fromMs; t <= toMs; t += STEP_MS) {
    const res = await call('POST', `${url}/api/v2/analytics/metrics`, token, { cpu_usage: value, ts: start + t, tags: { host: 'web-1' } })
    expect(res.status).toBe(200)
  }
}

async function tenantWithRules(url: string, name: string): Promise<{ id: string; ingestToken: string; apiKey: string }> {
  const created = await call('POST', `${url}/api/v2/tenants`, ADMIN_TOKEN, { name })
  expect(created.status).toBe(201)
  const tenant = (await created.json()) as { id: string; ingestToken: string; apiKey: string }
  expect((await call('PUT', `${url}/api/v2/rules`, tenant.apiKey, RULES)).status).toBe(200)
  return tenant
}

/** The same events a while later: nothing more arrives (no duplicate, no late extra). */
async function settled(tenant: string, expected: string[]): Promise<void> {
  await expect.poll(async () => brief(await stored(tenant)), { timeout: 40_000, interval: 500 }).toEqual(expected)
  await new Promise((resolve) => setTimeout(resolve, 3_000))
  expect(brief(await stored(tenant))).toEqual(expected)
}

const markedEverywhere = (): Promise<void> => waitForRulesMarked(rig.nc, loadConfig({}).partitions)


it('resolves an alert whose rule is removed, once, also across a kill -9 and when removed while no engine runs', async () => {
  let engine = await startEngine(3_600_000)
  // Ingest's usage counts are samples of tm_system stamped now, in partitions of their own series: one landing in
  // b's partition after b's data and before the marker of b's removal moved b's event time to now under b's rules,
  // and b resolved at 435 s (its samples leaving the lookback), as it should under the rules then in effect (seen
  // 1 run in 4 to 14). None comes while this test runs.
  const ingest = await startTidemarkProcess(['ingest'], rig.env('ingest', { TIDEMARK_DATA_DIR: tempDir('ingest'), TIDEMARK_USAGE_INTERVAL_MS: '3600000' }))
  rig.running.push(ingest)
  onTestFailed(() => console.log(`engine output:\n${rig.running.map((r) => r.output()).join('\n').split('\n').filter((l) => !l.includes('"level":30') || l.includes('marked')).slice(-80).join('\n')}`))
  const a = await tenantWithRules(engine.url, 'removal-live')
  const b = await tenantWithRules(engine.url, 'removal-offline')
  // A rule takes effect where its change is marked in the log: let every partition be marked before the data comes.
  await markedEverywhere()

  // Both fire at the first evaluation (for: 0), at step 1 (add_workers).
  // Interleaved by time: when both tenants' series share a partition (1 in 16), posting all of a's first would
  // move its watermark past b's samples, which would then be late and b would never fire.
  for (let t = 0; t <= 120_000; t += STEP_MS) {
    await post(ingest.url, a.ingestToken, t, t, 85)
    await post(ingest.url, b.ingestToken, t, t, 85)
  }
  await expect.poll(async () => brief(await stored(a.id)), { timeout: 45_000, interval: 250 }).toEqual(['firing/alert/0->1@0'])
  await expect.poll(async () => brief(await stored(b.id)), { timeout: 45_000, interval: 250 }).toEqual(['firing/alert/0->1@0'])

  // Tenant a removes its rules while the engine runs: resolved where the log stood (watermark 115 s: the
  // last sample at 120 s minus the 5 s lateness), and a minute later (event time) its ladder steps down.
  expect((await call('DELETE', `${engine.url}/api/v2/rules`, a.apiKey)).status).toBe(200)
  await expect.poll(async () => brief(await stored(a.id)), { timeout: 45_000, interval: 250 }).toEqual(['firing/alert/0->1@0', 'resolved/alert/1->1@115'])
  await post(ingest.url, a.ingestToken, 135_000, 240_000, 50)
  const expectedA = ['firing/alert/0->1@0', 'resolved/alert/1->1@115', 'resolved/step_down/1->0@175']
  await expect.poll(async () => brief(await stored(a.id)), { timeout: 45_000, interval: 250 }).toEqual(expectedA)

  // kill -9, and b's rules removed while no engine runs (straight into the rules bucket, as another process would).
  await new Promise((resolve) => setTimeout(resolve, 1_500))
  engine.child.kill('SIGKILL')
  await once(engine.child, 'exit')
  const rules = await RuleStore.open({ kv: await openBucket(rig.nc, RULES_BUCKET) })
  await rules.clear(b.id)
  await rules.close()

  // The next engine replays a's partition from its checkpoint, under the rules that were in effect there,
  // through the marker: the same events, JetStream keeps each once. b's partition is marked when its
  // owner has caught up: resolved at the end of b's data, the step down a minute later (the ticks carry it).
  engine = await startEngine(1_000)
  await settled(a.id, expectedA)
  // b's change is marked after everything its partition held: a's later data too, when both share it.
  const partitions = loadConfig({}).partitions
  const partitionOfTenant = (tenant: string): number => partitionOf(tenant, seriesKey('cpu_usage', { host: 'web-1' }), partitions)
  const at = partitionOfTenant(a.id) === partitionOfTenant(b.id) ? 235 : 115
  await settled(b.id, ['firing/alert/0->1@0', `resolved/alert/1->1@${at}`, `resolved/step_down/1->0@${at + 60}`])
  const events = [...(await stored(a.id)), ...(await stored(b.id))]
  expect(new Set(events.map((e) => e.id)).size).toBe(events.length)
  expect(events.every((e) => e.rule === 'CheckoutCpu' && e.ladder.join() === 'add_workers,degrade')).toBe(true)

  engine.child.kill('SIGTERM')
  expect((await once(engine.child, 'exit'))[0]).toBe(0)
  ingest.child.kill('SIGTERM')
  await once(ingest.child, 'exit')
}, 240_000)
