// kill -9 of the engine while it scores: the next engine process resumes the
// scorers from the partition snapshot named by the checkpoint, replays only
// what the snapshot does not hold, and the scores stored in ClickHouse are
// exactly those of an uninterrupted run (a lone scorer fed each series), each
// point once. Real processes: a nats-server, a `tidemark ingest` and a
// `tidemark engine query` (chDB) that is killed and started again on the same
// data directory. The metric is one no default rule selects, so the scorers'
// snapshot alone is what the restart rests on (rule state has snapshots of its
// own: rule-snapshot-restart.test.ts).
import { once } from 'node:events'
import { expect, it } from 'vitest'
import { Kvm } from '@nats-io/kv'
import { createScorer } from '../../engine/anomaly/index.ts'
import { STREAM_CHECKPOINTS_BUCKET } from '../../engine/stream/index.ts'
import type { StoredCheckpoint } from '../../engine/stream/checkpoint-store.ts'
import { ADMIN_TOKEN, tempDir } from '../helpers/stack.ts'
import { processRig, startTidemarkProcess, type TidemarkProcess } from '../helpers/tidemark-process.ts'

const STEP_MS = 15_000
const HOSTS = ['web-1', 'web-2', 'web-3']
const POINTS = 600
const PER_REQUEST = 20
const start = Math.floor((Date.now() - (POINTS * STEP_MS + 10 * 60_000)) / STEP_MS) * STEP_MS

const engineDir = tempDir('anomaly-engine')
const rig = processRig(engineDir)

/** The first engine never ticks (it dies mid-stream in event time); the second ticks after a second, to close everything. */
function startEngine(idleTimeoutMs: number): Promise<TidemarkProcess> {
  return startTidemarkProcess(
    ['engine', 'query'],
    rig.env('admin', { TIDEMARK_DATA_DIR: engineDir, TIDEMARK_STREAM_IDLE_TIMEOUT_MS: String(idleTimeoutMs), TIDEMARK_STREAM_SNAPSHOT_MS: '1000' })
  )
}

function value(host: number, i: number): number {
  // A daily-ish wave with a level shift half-way for one host: scores move, so a wrong state would show.
  return 40 + host * 5 + Math.sin(i / 17 + host) * 6 + (host === 1 && i > 450 ? 30 : 0) + ((i * 7919 + host * 104_729) % 13) / 13
}

function beacons(from: number, to: number): { queue_depth: number; ts: number; tags: Record<string, string> }[] {
  const out = []
  for (let i = from; i < to; i++) for (const [h, host] of HOSTS.entries()) out.push({ queue_depth: value(h, i), ts: start + i * STEP_MS, tags: { host } })
  return out
}

async function post(url: string, token: string, body: unknown): Promise<number> {
  const res = await fetch(`${url}/api/v2/analytics/metrics`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return res.status
}

async function storedScores(url: string, apiKey: string): Promise<string[]> {
  const sql = `SELECT tags['host'] AS host, toUnixTimestamp64Milli(ts) AS ts, value FROM samples WHERE metric = 'anomaly_score' ORDER BY host, ts LIMIT 100000`
  const res = await fetch(`${url}/api/v2/query`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ sql }) })
  if (res.status !== 200) return []
  const body = (await res.json()) as { rows: [string, number | string, number][] }
  return body.rows.map(([host, ts, v]) => `${host}@${Number(ts)}=${v}`)
}


it('resumes the scorers from the snapshot after kill -9: every score of an uninterrupted run, each stored once', async () => {
  const engine = await startEngine(3_600_000)
  rig.running.push(engine)
  const ingest = await startTidemarkProcess(['ingest'], rig.env('ingest', { TIDEMARK_DATA_DIR: tempDir('anomaly-ingest') }))
  rig.running.push(ingest)
  const created = await fetch(`${engine.url}/api/v2/tenants`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'scores' }) })
  expect(created.status).toBe(201)
  const tenant = (await created.json()) as { id: string; ingestToken: string; apiKey: string }

  // What an uninterrupted run gives: each host's points, in time order, through a lone scorer.
  const expected: string[] = []
  for (const [h, host] of HOSTS.entries()) {
    const scorer = createScorer()
    for (let i = 0; i < POINTS; i++) expected.push(`${host}@${start + i * STEP_MS}=${scorer.score(start + i * STEP_MS, value(h, i))}`)
  }
  expected.sort()

  const half = 20 * PER_REQUEST
  for (let i = 0; i < half; i += PER_REQUEST) expect(await post(ingest.url, tenant.ingestToken, beacons(i, i + PER_REQUEST))).toBe(200)
  // Scores of the first part are stored, and a snapshot and a checkpoint after it are written (every second here).
  await expect.poll(async () => (await storedScores(engine.url, tenant.apiKey)).length, { timeout: 30_000, interval: 250 }).toBeGreaterThan(HOSTS.length * (half - 100))
  await new Promise((resolve) => setTimeout(resolve, 2500))
  const checkpoints = await new Kvm(rig.nc).open(STREAM_CHECKPOINTS_BUCKET)
  const named: StoredCheckpoint[] = []
  for await (const key of await checkpoints.keys()) {
    if (!/^p\d+$/.test(key)) continue
    const e = await checkpoints.get(key)
    if (e?.operation === 'PUT') named.push(JSON.parse(e.string()) as StoredCheckpoint)
  }
  const withData = named.filter((c) => c.seq > 0)
  expect(withData.length).toBeGreaterThan(0)
  // Each checkpoint names a snapshot, and its replay starts far after the series' first message: the
  // scorers cannot be rebuilt by that replay, only resumed from the snapshot.
  for (const c of withData) {
    expect(c.snapshot, JSON.stringify(c)).toBeDefined()
    expect(c.resume.seq).toBeGreaterThan(5)
  }

  const rest = (async () => {
    for (let i = half; i < POINTS; i += PER_REQUEST) expect(await post(ingest.url, tenant.ingestToken, beacons(i, i + PER_REQUEST))).toBe(200)
  })()
  await new Promise((resolve) => setTimeout(resolve, 150))
  engine.child.kill('SIGKILL')
  await once(engine.child, 'exit')
  await rest

  const again = await startEngine(1_000)
  rig.running.push(again)
  await expect.poll(async () => (await storedScores(again.url, tenant.apiKey)).length, { timeout: 60_000, interval: 500 }).toBeGreaterThanOrEqual(expected.length)
  // A moment for anything late (a duplicate would come now), then exactly the uninterrupted run's scores, each once.
  await new Promise((resolve) => setTimeout(resolve, 2000))
  const stored = await storedScores(again.url, tenant.apiKey)
  expect(stored.length).toBe(expected.length)
  expect([...stored].sort()).toEqual(expected)

  again.child.kill('SIGTERM')
  expect((await once(again.child, 'exit'))[0]).toBe(0)
  ingest.child.kill('SIGTERM')
  await once(ingest.child, 'exit')
}, 180_000)
