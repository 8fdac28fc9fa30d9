// One engine's stream runtime against a real nats-server, with the things that
// force a partition to rebuild by replay while it consumes: a move to a new
// thread, a worker thread that dies, and an abrupt stop of the whole engine
// followed by a fresh one. Every window result, deduplicated by id, equals what
// a plain pipeline computes from the partition's final log (ticks included),
// and every re-emission is identical to the first.
import { expect, it } from 'vitest'
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { until } from '../helpers/until.ts'
import { syntheticBatches } from '../helpers/stream-input.ts'
import { publishBatches, streamNats } from '../helpers/stream-rig.ts'
import { decodeBatch } from '../../engine/model/beacon-batch.ts'
import { BEACONS_STREAM, beaconSubject } from '../../engine/nats/subjects.ts'
import type { StreamOutput } from '../../engine/stream/series-evaluator.ts'
import { loadStreamSettings, pipelineSettings } from '../../engine/stream/stream-config.ts'
import { StreamRuntime } from '../../engine/stream/stream-runtime.ts'
import { tickOf } from '../../engine/stream/watermark-ticks.ts'
import { PartitionPipeline } from '../../engine/stream/window-pipeline.ts'

const PARTITIONS = 4
const settings = loadStreamSettings(
  {},
  {
    windows: [
      { name: '10s', sizeMs: 10_000, hopMs: 10_000 },
      { name: '30s/10s', sizeMs: 30_000, hopMs: 10_000 },
    ],
    allowedLatenessMs: 2_000,
    idleTimeoutMs: 1_000,
    checkpointIntervalMs: 200,
    coldStartLookbackMs: 3_600_000,
    minThreads: 1,
    maxThreads: 2,
    lagMessages: 1_000_000,
  }
)
const START_TS = Date.now() - 3_600_000
const input = syntheticBatches({ seed: 5, tenants: 2, seriesPerTenant: 25, batches: 240, samplesPerBatch: 50, startTs: START_TS, stepMs: 500, jitterMs: 3_000 })
const ALL_CLOSED = START_TS + 240 * 500 + 30_000

const rig = streamNats(PARTITIONS)

function publish(from: number, to: number): Promise<void> {
  return publishBatches(rig.nc, input, { partitions: PARTITIONS, from, to, idPrefix: 'rt', pauseEvery: 20 })
}

/** What one pipeline computes from the partition's log as it is now, from its first message. */
async function fromTheLog(partition: number): Promise<StreamOutput[]> {
  const jsm = await jetstreamManager(rig.nc)
  const info = await jsm.streams.info(BEACONS_STREAM, { subjects_filter: beaconSubject(partition) })
  const total = info.state.subjects?.[beaconSubject(partition)] ?? 0
  const consumer = await jetstream(rig.nc).consumers.get(BEACONS_STREAM, { filter_subjects: beaconSubject(partition), deliver_policy: DeliverPolicy.All })
  const pipeline = new PartitionPipeline(partition, pipelineSettings(settings))
  const out: StreamOutput[] = []
  let read = 0
  const messages = await consumer.consume()
  for await (const m of messages) {
    const watermark = tickOf(m)
    pipeline.apply(watermark === undefined ? { kind: 'batch', seq: m.seq, samples: decodeBatch(m.data) } : { kind: 'watermark', seq: m.seq, watermark }, out)
    if (++read === total) break
  }
  return out
}

it('rebuilds by replay after a move, a dead worker thread, and an abrupt restart, and nothing differs from the log', async () => {
  const emitted: StreamOutput[] = []
  const sink = { publish: async (_p: number, _e: number, outputs: StreamOutput[]) => void emitted.push(...outputs) }
  const first = await StreamRuntime.start({ nc: rig.nc, partitions: PARTITIONS, settings, engineId: 'first', sink })
  expect(first.owned()).toEqual([0, 1, 2, 3])
  await publish(0, 60)
  await until('every partition is consuming', () => first.stats().partitions.every((p) => p.state === 'running' && p.lastSeq > 0), 10_000)
  expect(first.pool.threads).toBe(1)

  // A move: the pool grows, partition 1 goes to the new thread by checkpoint and replay.
  const thread = (await first.pool.grow()) as number
  first.pool.emit('move', 1, thread)
  await publish(60, 100)
  await until('partition 1 runs in the new thread', () => first.stats().partitions.find((p) => p.partition === 1)?.threadId === thread, 10_000)

  // A worker thread dies: its partitions rebuild in a live one.
  const victim = first.stats().partitions.find((p) => p.partition === 2)?.threadId as number
  const held = first.pool.stats().pins[victim] ?? []
  await first.pool.workerThreads().find((w) => w.threadId === victim)?.terminate()
  await publish(100, 140)
  await until('the dead thread’s partitions run again', () => first.stats().partitions.filter((p) => held.includes(p.partition)).every((p) => p.state === 'running' && p.rebuilds > 0 && p.threadId !== victim), 10_000)

  // The engine stops as a crash would (nothing released, no last checkpoint); a new one takes over after the lease TTL.
  await publish(140, 170)
  await first.halt()
  const publishing = publish(170, 240)
  const second = await StreamRuntime.start({ nc: rig.nc, partitions: PARTITIONS, settings, engineId: 'second', sink })
  try {
    await publishing
    await until('the new engine owns every partition', () => second.owned().length === PARTITIONS, 10_000)
    await until('every window is emitted', () => second.stats().partitions.length === PARTITIONS && second.stats().partitions.every((p) => p.watermark >= ALL_CLOSED && p.backlog === 0), 20_000)
  } finally {
    await second.stop()
  }

  const expected = new Map<string, StreamOutput>()
  for (let p = 0; p < PARTITIONS; p++) for (const o of await fromTheLog(p)) expected.set(o.id, o)
  expect(expected.size).toBeGreaterThan(500)
  const union = new Map<string, StreamOutput>()
  for (const o of emitted) {
    const earlier = union.get(o.id)
    if (earlier) expect(o, `re-emission of ${o.id}`).toEqual(earlier)
    else union.set(o.id, o)
  }
  expect([...union.keys()].sort()).toEqual([...expected.keys()].sort())
  for (const [id, o] of expected) expect(union.get(id), id).toEqual(o)
}, 60_000)
