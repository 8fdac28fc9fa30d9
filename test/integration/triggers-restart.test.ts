// kill -9 of the engine in the middle of an incident: the next engine process
// rebuilds window and rule state by replay from the checkpoints, and the
// trigger events on TM_TRIGGERS are exactly those of an uninterrupted run,
// none lost and none stored twice. Real processes: a nats-server, a
// `tidemark ingest` and a `tidemark engine query` (chDB) that is killed and
// started again on the same data directory.
import { once } from 'node:events'
import { expect, it } from 'vitest'
import { ActionLadder, effectiveRuleGroups, RulesEvaluator, toTriggerEvent, type TriggerEvent } from '../../engine/rules/index.ts'
import { ADMIN_TOKEN, tempDir } from '../helpers/stack.ts'
import { processRig, startTidemarkProcess, storedTriggerEvents, type TidemarkProcess } from '../helpers/tidemark-process.ts'

const STEP_MS = 15_000
// Far enough back that the incident (pending, firing after 5 min, an escalation 2 min later, resolved 5 min
// after the data stops) is in the past, and not so far that the first step down (5 min later) is reached.
const start = Math.floor((Date.now() - 14 * 60_000) / STEP_MS) * STEP_MS
const HOSTS = Array.from({ length: 8 }, (_, i) => `web-${i}`)
const LAST_MS = 450_000
/** Every event of the incident is at or before this: the resolution at LAST_MS + 5 min lookback + one step (the first step down is 5 min after it). */
const HORIZON = start + LAST_MS + 300_000 + STEP_MS

const engineDir = tempDir('engine')
const rig = processRig(engineDir)

/**
 * idleTimeoutMs: an idle partition's wall-clock watermark tick is "a beacon stamped now", which here (data
 * stamped minutes ago) would play the rest of the incident out at once. The first engine never ticks, so
 * it dies mid-incident in event time; the second ticks after a second, to carry the incident to its end.
 */
function startEngine(idleTimeoutMs: number): Promise<TidemarkProcess> {
  return startTidemarkProcess(['engine', 'query'], rig.env('admin', { TIDEMARK_DATA_DIR: engineDir, TIDEMARK_STREAM_IDLE_TIMEOUT_MS: String(idleTimeoutMs) }))
}

function beacons(fromMs: number, toMs: number): { cpu_usage: number; ts: number; tags: Record<string, string> }[] {
  const out = []
  for (let t = fromMs; t <= toMs; t += STEP_MS) for (const host of HOSTS) out.push({ cpu_usage: 85, ts: start + t, tags: { host } })
  return out
}

/** What an uninterrupted evaluation of the same samples decides, up to HORIZON. */
function expectedEvents(tenant: string): TriggerEvent[] {
  const groups = effectiveRuleGroups(undefined)
  const rules = new RulesEvaluator(groups)
  for (const b of beacons(0, LAST_MS)) rules.push('cpu_usage', b.tags, b.ts, b.cpu_usage)
  const transitions = rules.advance(HORIZON)
  return new ActionLadder(groups).advance(transitions, HORIZON).map((e) => toTriggerEvent(tenant, e))
}

/** Every event stored on the tenant's subjects. */
const stored = (tenant: string): Promise<TriggerEvent[]> => storedTriggerEvents(rig.nc, `tm.triggers.${tenant}.>`)

async function post(url: string, token: string, body: unknown): Promise<number> {
  const res = await fetch(`${url}/api/v2/analytics/metrics`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return res.status
}


it('rebuilds rule state after kill -9: every transition of an uninterrupted run, each stored once', async () => {
  const engine = await startEngine(3_600_000)
  rig.running.push(engine)
  const ingest = await startTidemarkProcess(['ingest'], rig.env('ingest', { TIDEMARK_DATA_DIR: tempDir('ingest') }))
  rig.running.push(ingest)
  const created = await fetch(`${engine.url}/api/v2/tenants`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'restart' }) })
  expect(created.status).toBe(201)
  const tenant = (await created.json()) as { id: string; ingestToken: string }
  const expected = expectedEvents(tenant.id)
  expect(expected.map((e) => `${e.state}/${e.change}/${e.step}@${(e.at - start) / 1000}`)).toEqual(
    expect.arrayContaining(['pending/alert/0@0', 'firing/alert/1@300', 'firing/escalate/2@420', 'firing/escalate/4@660', 'resolved/alert/4@765'])
  )
  // Per host: pending, firing at step 1, three escalations (one per 2 min cooldown), resolved.
  expect(expected).toHaveLength(HOSTS.length * 6)

  // Six and a half minutes, a message per 15 s step: every host goes pending at 0 and fires at 300. By then
  // the windows hold nothing older than 120 s, so only the rules' own replay point reaches back to 0.
  for (let t = 0; t <= 390_000; t += STEP_MS) expect(await post(ingest.url, tenant.ingestToken, beacons(t, t))).toBe(200)
  await expect.poll(async () => (await stored(tenant.id)).length, { timeout: 20_000, interval: 250 }).toBe(HOSTS.length * 2)
  // Let a checkpoint be written past the firing (every second by default), then the rest arrives as the engine dies.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const rest = post(ingest.url, tenant.ingestToken, beacons(405_000, LAST_MS))
  engine.child.kill('SIGKILL')
  await once(engine.child, 'exit')
  expect(await rest).toBe(200)

  const again = await startEngine(1_000)
  rig.running.push(again)
  const ids = expected.map((e) => e.id).sort()
  await expect.poll(async () => (await stored(tenant.id)).map((e) => e.id).sort(), { timeout: 40_000, interval: 500 }).toEqual(ids)
  // Each id once on the stream (JetStream dropped the re-decided ones by msgID), each as the uninterrupted run has it.
  const events = await stored(tenant.id)
  expect(events).toHaveLength(expected.length)
  const byId = new Map(expected.map((e) => [e.id, e]))
  for (const e of events) expect(e).toEqual(byId.get(e.id))

  again.child.kill('SIGTERM')
  expect((await once(again.child, 'exit'))[0]).toBe(0)
  ingest.child.kill('SIGTERM')
  await once(ingest.child, 'exit')
}, 120_000)
