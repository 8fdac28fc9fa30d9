// Two stream engine processes share the partitions; one is killed with SIGKILL
// mid-stream. The other owns every partition within 10 s, and the window
// results and trigger events of that run (the specification's default rules,
// cpu_usage > 80 for 5 m and the rest, with their action ladder, loaded in the
// worker threads as a Tidemark engine loads them), deduplicated by id as
// JetStream's msgID window does, equal a single-process run over the same log:
// nothing missing, nothing doubled, and every re-emitted output identical to its
// first emission.
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import { connectAs, startNats } from '../helpers/stack.ts'
import { startEngineChild, type EngineChild } from '../helpers/stream-engine-child.ts'
import { DEFAULT_RULES, STREAM_RULES_MODULE, type StreamRulesConfig, type TriggerOutput } from '../../engine/rules/index.ts'
import type { EvaluatorConfig } from '../../engine/stream/partition-reader.ts'
import { syntheticBatches } from '../helpers/stream-input.ts'
import { encodeBatch } from '../../engine/model/beacon-batch.ts'
import { setupJetStream } from '../../engine/nats/jetstream-setup.ts'
import type { SupervisedNatsServer } from '../../engine/nats/nats-endpoint.ts'
import type { Sample } from '../../engine/model/sample.ts'
import { samplesByPartition } from '../helpers/stream-rig.ts'
import { beaconSubject } from '../../engine/nats/subjects.ts'
import { checkpointKey, type StoredCheckpoint } from '../../engine/stream/checkpoint-store.ts'
import { leaseKey } from '../../engine/stream/partition-leases.ts'
import type { StreamOutput } from '../../engine/stream/series-evaluator.ts'
import { loadStreamSettings } from '../../engine/stream/stream-config.ts'
import { PARTITION_LEASES_BUCKET, STREAM_CHECKPOINTS_BUCKET, WINDOWS_STREAM, WINDOWS_SUBJECTS } from '../../engine/stream/stream-layout.ts'
import { StreamRuntime } from '../../engine/stream/stream-runtime.ts'

const PARTITIONS = 8
const settings = loadStreamSettings(
  {},
  {
    windows: [
      { name: '10s', sizeMs: 10_000, hopMs: 10_000 },
      { name: '30s/10s', sizeMs: 30_000, hopMs: 10_000 },
    ],
    allowedLatenessMs: 2_000,
    idleTimeoutMs: 1_500,
    checkpointIntervalMs: 250,
    coldStartLookbackMs: 3_600_000,
    minThreads: 2,
    maxThreads: 2,
  }
)
// Event time an hour back: the idle ticks at the end (wall clock) close every window and play every
// incident out (alerts resolve, ladders step down).
const START_TS = Date.now() - 3_600_000
const STEP_MS = 2_000
const BATCHES = 300
// Ten minutes of event time: random values (cpu_usage crossing 80 back and forth: pending, inactive) and one
// hot host per tenant held above every default threshold, so each default rule fires and its ladder climbs.
const input = syntheticBatches({ seed: 9, tenants: 3, seriesPerTenant: 30, batches: BATCHES, samplesPerBatch: 60, startTs: START_TS, stepMs: STEP_MS, jitterMs: 3_000 }).map((batch, b) => {
  const ts = START_TS + b * STEP_MS
  const hot = (tenant: string): Sample[] => [
    [tenant, 'cpu_usage', ts, 85, { host: 'hot' }, ts],
    [tenant, 'memory_usage', ts, 95, { host: 'hot' }, ts],
    [tenant, 'response_time', ts, b < BATCHES / 2 ? 700 : 100, { host: 'hot' }, ts],
  ]
  return [...batch, ...hot('t_0'), ...hot('t_1'), ...hot('t_2')]
})
const LAST_TS = START_TS + BATCHES * STEP_MS
const rules: StreamRulesConfig = { version: 'failover-defaults', base: DEFAULT_RULES, tenants: {} }
const evaluatorConfig: EvaluatorConfig = { config: rules, version: rules.version, evaluationIntervalMs: 15_000 }
/** A partition whose watermark passed this has emitted every window. */
const ALL_CLOSED = LAST_TS + 30_000

let nats: SupervisedNatsServer
let nc: NatsConnection
const children: EngineChild[] = []

beforeAll(async () => {
  nats = await startNats()
  nc = await connectAs(nats)
  await setupJetStream(nc, { replicas: 1, partitions: PARTITIONS, storageAckWaitMs: 60_000 })
})

afterAll(async () => {
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL')
  await nc?.close()
  await nats?.stop()
})

async function until(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now()
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms\n${children.map((c) => c.output()).join('\n')}`)
    await sleep(100)
  }
  return Date.now() - started
}

async function owners(): Promise<Map<number, string>> {
  const kv = await new Kvm(nc).open(PARTITION_LEASES_BUCKET)
  const map = new Map<number, string>()
  for (let p = 0; p < PARTITIONS; p++) {
    const entry = await kv.get(leaseKey(p))
    if (entry?.operation === 'PUT') map.set(p, (entry.json() as { owner: string }).owner)
  }
  return map
}

async function checkpointWatermarks(bucket: string): Promise<number[]> {
  const kv = await new Kvm(nc).open(bucket)
  const marks: number[] = []
  for (let p = 0; p < PARTITIONS; p++) {
    const entry = await kv.get(checkpointKey(p))
    marks.push(entry?.operation === 'PUT' ? ((entry.json() as StoredCheckpoint).watermark ?? -Infinity) : -Infinity)
  }
  return marks
}

it('kill -9 of one engine mid-stream: the other owns everything within 10 s, and the results equal a single-process run', async () => {
  const child = (engineId: string) => startEngineChild(nats, { engineId, partitions: PARTITIONS, settings, evaluatorModule: STREAM_RULES_MODULE, evaluatorConfig })
  const [a, b] = await Promise.all([child('engine-a'), child('engine-b')])
  children.push(a, b)
  await until('both engines hold half', async () => { const o = await owners(); return [...o.values()].filter((x) => x === 'engine-a').length === PARTITIONS / 2 && o.size === PARTITIONS }, 15_000)

  // Every emission as it goes by, duplicates included (JetStream drops them from the stream, not from the subject).
  const emitted: StreamOutput[] = []
  const subscription = nc.subscribe(WINDOWS_SUBJECTS, { callback: (_err, m) => void emitted.push(m.json<StreamOutput>()) })

  const js = jetstream(nc)
  let killedAt = 0
  let tookOverMs: Promise<number> | undefined
  for (const [i, batch] of input.entries()) {
    await Promise.all([...samplesByPartition(batch, PARTITIONS)].map(([p, samples]) => js.publish(beaconSubject(p), encodeBatch(samples), { msgID: `in-${i}-${p}` })))
    if (i % 10 === 9) await sleep(100)
    if (i === 120) {
      a.child.kill('SIGKILL')
      killedAt = Date.now()
      tookOverMs = until('engine-b owns every partition', async () => [...(await owners()).values()].filter((o) => o === 'engine-b').length === PARTITIONS, 10_000)
    }
  }
  expect(killedAt).toBeGreaterThan(0)
  expect(await tookOverMs).toBeLessThan(10_000)

  await until('every window of the failover run is emitted and checkpointed', async () => (await checkpointWatermarks(STREAM_CHECKPOINTS_BUCKET)).every((w) => w >= ALL_CLOSED), 25_000)
  await subscription.drain()

  // The same log, one process, from the beginning, into memory.
  const reference: StreamOutput[] = []
  const single = await StreamRuntime.start({
    nc,
    partitions: PARTITIONS,
    settings,
    engineId: 'reference',
    leasesBucket: 'tm_partition_leases_ref',
    checkpointsBucket: 'tm_stream_checkpoints_ref',
    evaluatorModule: STREAM_RULES_MODULE,
    evaluatorConfig: () => evaluatorConfig,
    sink: { publish: async (_p, _e, outputs) => void reference.push(...outputs) },
  })
  try {
    await until('the single-process run emitted every window', async () => (await checkpointWatermarks('tm_stream_checkpoints_ref')).every((w) => w >= ALL_CLOSED), 25_000)
  } finally {
    await single.stop()
  }

  const expected = new Map(reference.map((o) => [o.id, o]))
  expect(expected.size).toBe(reference.length)
  expect(expected.size).toBeGreaterThan(1000)
  const triggers = reference.filter((o): o is TriggerOutput => o.kind === 'trigger').map((o) => o.event)
  const transitions = triggers.length
  expect(transitions).toBeGreaterThan(20)
  // Every default rule fired on each tenant's hot host, climbed its ladder, resolved and stepped down.
  for (const tenant of ['t_0', 't_1', 't_2']) {
    for (const rule of ['HighCpuUsage', 'HighMemoryUsage', 'HighResponseTime']) {
      const seen = new Set(triggers.filter((e) => e.tenant === tenant && e.rule === rule && e.labels.host === 'hot').map((e) => `${e.state}/${e.change}`))
      expect([...seen].sort(), `${tenant} ${rule}`).toEqual(expect.arrayContaining(['firing/alert', 'firing/escalate', 'resolved/alert', 'resolved/step_down']))
    }
  }
  const union = new Map<string, StreamOutput>()
  let reEmitted = 0
  for (const o of emitted) {
    const first = union.get(o.id)
    if (first) {
      reEmitted++
      expect(o, `re-emission of ${o.id}`).toEqual(first)
    } else union.set(o.id, o)
  }
  expect([...union.keys()].sort()).toEqual([...expected.keys()].sort())
  for (const [id, o] of expected) expect(union.get(id), id).toEqual(o)
  // JetStream kept each result once.
  const info = await (await jetstreamManager(nc)).streams.info(WINDOWS_STREAM)
  expect(info.state.messages).toBe(expected.size)
  console.info(`failover: took over in ${await tookOverMs} ms; ${expected.size} outputs (${transitions} transitions); ${reEmitted} re-emitted after replay and dropped as duplicates`)
}, 90_000)
