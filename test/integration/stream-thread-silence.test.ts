// A partition whose tasks go to a thread that can never apply them: the thread
// waits for the generation's open, which went to another thread. Seen for real
// when a lost lease's reader unpinned the partition after a new reader had opened
// it; the reader then waited forever for the answers, and so did every stop
// behind it. Here the pin is moved by hand, on a real pool against a real
// nats-server: the generation must give up after the thread's silence, replay in
// the thread the pin names, emit what the log says, and a stop must end.
import { setTimeout as sleep } from 'node:timers/promises'
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

const PARTITIONS = 2
const SILENCE_MS = 1_500
const settings = loadStreamSettings(
  {},
  {
    windows: [{ name: '10s', sizeMs: 10_000, hopMs: 10_000 }],
    allowedLatenessMs: 2_000,
    idleTimeoutMs: 1_000,
    checkpointIntervalMs: 200,
    coldStartLookbackMs: 3_600_000,
    threadSilenceMs: SILENCE_MS,
    minThreads: 2,
    maxThreads: 2,
    lagMessages: 1_000_000,
  }
)
const START_TS = Date.now() - 3_600_000
const input = syntheticBatches({ seed: 11, tenants: 1, seriesPerTenant: 20, batches: 90, samplesPerBatch: 40, startTs: START_TS, stepMs: 1_000, jitterMs: 1_000 })

const rig = streamNats(PARTITIONS)

function publish(from: number, to: number): Promise<void> {
  return publishBatches(rig.nc, input, { partitions: PARTITIONS, from, to, idPrefix: 'silence' })
}

async function lastSeqOf(partition: number): Promise<number> {
  const jsm = await jetstreamManager(rig.nc)
  const m = await jsm.streams.getMessage(BEACONS_STREAM, { last_by_subj: beaconSubject(partition) })
  return m?.seq ?? 0
}

/** What one pipeline computes from the partition's log as it is now. */
async function fromTheLog(partition: number): Promise<Map<string, StreamOutput>> {
  const last = await lastSeqOf(partition)
  const consumer = await jetstream(rig.nc).consumers.get(BEACONS_STREAM, { filter_subjects: beaconSubject(partition), deliver_policy: DeliverPolicy.All })
  const pipeline = new PartitionPipeline(partition, pipelineSettings(settings))
  const out: StreamOutput[] = []
  const messages = await consumer.consume()
  for await (const m of messages) {
    const watermark = tickOf(m)
    pipeline.apply(watermark === undefined ? { kind: 'batch', seq: m.seq, samples: decodeBatch(m.data) } : { kind: 'watermark', seq: m.seq, watermark }, out)
    if (m.seq >= last) break
  }
  return new Map(out.map((o) => [o.id, o]))
}

it('gives up on a thread that never answers, replays where the pin says, and a stop still ends', async () => {
  const emitted: { partition: number; output: StreamOutput }[] = []
  const sink = { publish: async (partition: number, _e: number, outputs: StreamOutput[]) => void emitted.push(...outputs.map((output) => ({ partition, output }))) }
  const runtime = await StreamRuntime.start({ nc: rig.nc, partitions: PARTITIONS, settings, engineId: 'silence', sink })
  let stopped = false
  try {
    await publish(0, 30)
    await until('both partitions consume', () => runtime.stats().partitions.length === PARTITIONS && runtime.stats().partitions.every((p) => p.state === 'running' && p.lastSeq > 0), 15_000)
    const victim = runtime.stats().partitions[0] as { partition: number; threadId: number }
    const other = runtime.pool.workerThreads().map((w) => w.threadId).find((t) => t !== victim.threadId)
    expect(other).toBeDefined()

    // The victim's next tasks go to a thread where its generation never opened: they wait there for an open.
    runtime.pool.pin(victim.partition, other as number)
    await publish(30, 60)
    const failedAt = Date.now()
    await until('the generation gives up on the silent thread', () => /answered none of \d+ tasks/.test(runtime.stats().partitions.find((p) => p.partition === victim.partition)?.lastError ?? ''), 15_000)
    // Not before the silence: a slow thread is not a lost one.
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(SILENCE_MS - 300)
    const last = await lastSeqOf(victim.partition)
    await until('the victim replays in the thread its pin names and reads its log to the end', () => {
      const p = runtime.stats().partitions.find((s) => s.partition === victim.partition)
      return p?.state === 'running' && p.threadId === other && p.lastSeq >= last
    }, 15_000)

    // Once more, and stop while its tasks wait: the stop ends within the silence, not never.
    const back = victim.threadId
    runtime.pool.pin(victim.partition, back)
    await publish(60, 90)
    await sleep(100)
    const stopStart = Date.now()
    await runtime.stop()
    stopped = true
    expect(Date.now() - stopStart).toBeLessThan(SILENCE_MS + 8_000)
  } finally {
    if (!stopped) await runtime.stop()
  }

  // Whatever came out is what the log says: the abandoned generation's late answers changed nothing.
  for (let p = 0; p < PARTITIONS; p++) {
    const expected = await fromTheLog(p)
    for (const { output } of emitted.filter((e) => e.partition === p)) expect(output).toEqual(expected.get(output.id))
  }
  expect(emitted.length).toBeGreaterThan(20)
}, 90_000)
