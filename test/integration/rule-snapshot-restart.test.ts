// kill -9 of the engine while series report without pause, their alerts firing
// and their ladders stepping: the rules' state never empties, so without a
// snapshot of it the replay point would stay at each series' first message and
// a restart would replay the whole log. With the rule state in the partition
// snapshots (TIDEMARK_STREAM_SNAPSHOT_MS, here every second), the next engine
// process replays only what the windows and the last snapshot need, and the
// trigger events on TM_TRIGGERS are exactly those of an uninterrupted run, none
// lost and none stored twice. Real processes: a nats-server, a `tidemark
// ingest` and a `tidemark engine query` (chDB) that is killed and started again
// on the same data directory.
import { once } from 'node:events'
import { expect, it } from 'vitest'
import { jetstreamManager } from '@nats-io/jetstream'
import { ActionLadder, effectiveRuleGroups, RulesEvaluator, toTriggerEvent, type TriggerEvent } from '../../engine/rules/index.ts'
import { BEACONS_STREAM } from '../../engine/nats/subjects.ts'
import { ADMIN_TOKEN, tempDir } from '../helpers/stack.ts'
import { processRig, startTidemarkProcess, storedTriggerEvents, type TidemarkProcess } from '../helpers/tidemark-process.ts'

const STEP_MS = 15_000
const HOSTS = Array.from({ length: 8 }, (_, i) => `web-${i}`)
/** 40 minutes of samples at 85, one request per 15 s step: pending at 0, firing at 300 s, the ladder at its top from 660 s. */
const LAST_MS = 40 * 60_000
/** The resolution: the last sample leaves the 5-minute lookback, decided at the next grid time. */
const RESOLVED_MS = LAST_MS + 300_000 + STEP_MS
// The resolution a minute and a half before the test starts; the first step down (5 minutes after it) is not reached.
const start = Math.floor((Date.now() - RESOLVED_MS - 90_000) / STEP_MS) * STEP_MS
const HORIZON = start + RESOLVED_MS
/** Where the engine dies: half-way through the incident, with every alert firing at the ladder's top. */
const KILL_AT_MS = 20 * 60_000

const engineDir = tempDir('rule-snapshot-engine')
const rig = processRig(engineDir)

/** The first engine never ticks (it dies mid-stream in event time); the second ticks after a second, to play the incident out. */
function startEngine(idleTimeoutMs: number): Promise<TidemarkProcess> {
  return startTidemarkProcess(
    ['engine', 'query'],
    rig.env('admin', { TIDEMARK_DATA_DIR: engineDir, TIDEMARK_STREAM_IDLE_TIMEOUT_MS: String(idleTimeoutMs), TIDEMARK_STREAM_SNAPSHOT_MS: '1000' })
  )
}

function beacons(atMs: number): { cpu_usage: number; ts: number; tags: Record<string, string> }[] {
  return HOSTS.map((host) => ({ cpu_usage: 85, ts: start + atMs, tags: { host } }))
}

async function post(url: string, token: string, fromMs: number, toMs: number): Promise<void> {
  for (let t = fromMs; t <= toMs; t += STEP_MS) {
    const res = await fetch(`${url}/api/v2/analytics/metrics`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(beacons(t)) })
    expect(res.status).toBe(200)
  }
}

/** What an uninterrupted evaluation of the same samples decides, up to HORIZON. */
function expectedEvents(tenant: string): TriggerEvent[] {
  const groups = effectiveRuleGroups(undefined)
  const rules = new RulesEvaluator(groups)
  for (let t = 0; t <= LAST_MS; t += STEP_MS) for (const b of beacons(t)) rules.push('cpu_usage', b.tags, b.ts, b.cpu_usage)
  return new ActionLadder(groups).advance(rules.advance(HORIZON), HORIZON).map((e) => toTriggerEvent(tenant, e))
}

const stored = async (tenant: string): Promise<TriggerEvent[]> => (await storedTriggerEvents(rig.nc, `tm.triggers.${tenant}.>`)).filter((e) => e.at <= HORIZON)

/** A gauge's values by partition from GET /metrics. */
async function perPartition(url: string, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const out = new Map<string, number>()
  for (const m of text.matchAll(new RegExp(`^${name}\\{partition="(\\d+)"\\} (\\d+)`, 'gm'))) out.set(m[1] as string, Number(m[2]))
  return out
}

it('resumes rule state from the snapshot after kill -9: a bounded replay, every transition of an uninterrupted run, each once', async () => {
  const engine = await startEngine(3_600_000)
  rig.running.push(engine)
  const ingest = await startTidemarkProcess(['ingest'], rig.env('ingest', { TIDEMARK_DATA_DIR: tempDir('rule-snapshot-ingest') }))
  rig.running.push(ingest)
  const created = await fetch(`${engine.url}/api/v2/tenants`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'snapshots' }) })
  expect(created.status).toBe(201)
  const tenant = (await created.json()) as { id: string; ingestToken: string }
  const expected = expectedEvents(tenant.id)
  // Per host: pending, firing at step 1, three escalations (one per 2 min cooldown), resolved.
  expect(expected.map((e) => `${e.state}/${e.change}/${e.step}@${(e.at - start) / 1000}`)).toEqual(
    expect.arrayContaining(['pending/alert/0@0', 'firing/alert/1@300', 'firing/escalate/2@420', 'firing/escalate/4@660', `resolved/alert/4@${RESOLVED_MS / 1000}`])
  )
  expect(expected).toHaveLength(HOSTS.length * 6)

  // Twenty minutes of the incident: every host fires and climbs to the top; snapshots are taken meanwhile.
  await post(ingest.url, tenant.ingestToken, 0, KILL_AT_MS)
  await expect.poll(async () => (await stored(tenant.id)).length, { timeout: 20_000, interval: 250 }).toBe(HOSTS.length * 5)
  // A snapshot and a checkpoint after everything so far (every second), then the rest arrives as the engine dies.
  await new Promise((resolve) => setTimeout(resolve, 2500))
  const rest = post(ingest.url, tenant.ingestToken, KILL_AT_MS + STEP_MS, LAST_MS)
  await new Promise((resolve) => setTimeout(resolve, 150))
  engine.child.kill('SIGKILL')
  await once(engine.child, 'exit')
  await rest

  // The log as the next engine finds it: messages per partition.
  const jsm = await jetstreamManager(rig.nc)
  const info = await jsm.streams.info(BEACONS_STREAM, { subjects_filter: 'tm.beacons.>' })
  const logged = new Map(Object.entries(info.state.subjects ?? {}).map(([subject, n]) => [subject.split('.').pop() as string, n]))

  const again = await startEngine(1_000)
  rig.running.push(again)
  const ids = expected.map((e) => e.id).sort()
  await expect.poll(async () => (await stored(tenant.id)).map((e) => e.id).sort(), { timeout: 60_000, interval: 500 }).toEqual(ids)
  // Each id once on the stream (JetStream dropped the re-decided ones by msgID), each as the uninterrupted run has it.
  const events = await stored(tenant.id)
  expect(events).toHaveLength(expected.length)
  const byId = new Map(expected.map((e) => [e.id, e]))
  for (const e of events) expect(e).toEqual(byId.get(e.id))

  // Bounded: each partition replayed what its windows (5 minutes sliding by one) and the last snapshot need,
  // not its whole log back to the incident's first message (which the rules alone would have needed).
  const replayed = await perPartition(again.url, 'tidemark_stream_replayed_messages')
  let total = 0
  let replayedTotal = 0
  for (const [partition, n] of logged) {
    if (n < 40) continue
    total += n
    replayedTotal += replayed.get(partition) ?? 0
    expect(replayed.get(partition), `partition ${partition}: replayed ${replayed.get(partition)} of ${n}`).toBeLessThan(n * 0.4)
  }
  expect(total).toBeGreaterThan(0)
  expect(replayedTotal).toBeGreaterThan(0)

  again.child.kill('SIGTERM')
  expect((await once(again.child, 'exit'))[0]).toBe(0)
  ingest.child.kill('SIGTERM')
  await once(ingest.child, 'exit')
}, 180_000)
