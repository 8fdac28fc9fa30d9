// A rule change made while no engine ran is marked in the partition's log
// before the next owner's thread opens the partition: that open can take
// seconds, and whatever reached the log meanwhile (ingest's usage samples,
// stamped now) was decided under the old rules. A real nats-server and two
// stream runtimes in turn; the second one's thread is held in its open
// (test/helpers/gated-evaluator.ts) until the test has seen the marker.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { until } from '../helpers/until.ts'
import { connectAs, startNats, tempDir } from '../helpers/stack.ts'
import { GATED_EVALUATOR_MODULE } from '../helpers/gated-evaluator.ts'
import { encodeBatch } from '../../engine/model/beacon-batch.ts'
import { setupJetStream } from '../../engine/nats/jetstream-setup.ts'
import type { SupervisedNatsServer } from '../../engine/nats/nats-endpoint.ts'
import { BEACONS_STREAM, beaconSubject } from '../../engine/nats/subjects.ts'
import { configMarkerOf } from '../../engine/stream/config-markers.ts'
import { loadStreamSettings } from '../../engine/stream/stream-config.ts'
import { StreamRuntime } from '../../engine/stream/stream-runtime.ts'
import { tickOf } from '../../engine/stream/watermark-ticks.ts'

const settings = loadStreamSettings(
  {},
  { idleTimeoutMs: 3_600_000, checkpointIntervalMs: 100, leaseTtlMs: 1_000, leaseRenewMs: 300, coldStartLookbackMs: 3_600_000, minThreads: 1, maxThreads: 1, lagMessages: 1_000_000 }
)

let nats: SupervisedNatsServer
let nc: NatsConnection

beforeAll(async () => {
  nats = await startNats()
  nc = await connectAs(nats)
  await setupJetStream(nc, { replicas: 1, partitions: 1, storageAckWaitMs: 60_000 })
})

afterAll(async () => {
  await nc?.close()
  await nats?.stop()
})

/** Partition 0's log: each message's kind (batch, tick, or the version a marker names). */
async function log(): Promise<string[]> {
  const jsm = await jetstreamManager(nc)
  const { state } = await jsm.streams.info(BEACONS_STREAM)
  const kinds: string[] = []
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(BEACONS_STREAM, { seq }).catch(() => null)
    if (!m || m.subject !== beaconSubject(0)) continue
    const message = { headers: m.header, data: m.data }
    const version = configMarkerOf(message)
    kinds.push(version !== undefined ? `marker ${version}` : tickOf(message) !== undefined ? 'tick' : 'batch')
  }
  return kinds
}

it('marks a change made while no engine ran before its thread opens the partition', async () => {
  const gate = path.join(tempDir('gate'), 'closed')
  const runtime = (version: string): Promise<StreamRuntime> =>
    StreamRuntime.start({ nc, partitions: 1, settings, evaluatorModule: GATED_EVALUATOR_MODULE, evaluatorConfig: () => ({ config: { gate, version }, version }) })

  // The first engine runs under "old" and checkpoints past a batch, then dies (no release, no last checkpoint).
  const first = await runtime('old')
  const ack = await jetstream(nc).publish(beaconSubject(0), encodeBatch([['t_a', 'cpu_usage', Date.now() - 60_000, 90, { host: 'web-1' }, Date.now()]]))
  await until('the first engine checkpoints the batch', () => (first.stats().partitions[0]?.checkpointSeq ?? 0) >= ack.seq, 15_000)
  await first.halt()

  // The rules are "new" now; the next owner's thread is held in its open (a slow one, under load).
  fs.writeFileSync(gate, '')
  const next = await runtime('new')
  try {
    await until('the next engine owns the partition', () => next.owned().includes(0), 15_000)
    // Old code: the marker waited for the thread (a generation marked only once running), so anything published
    // meanwhile went before it. Now: marked while the thread is still opening.
    await until('the change is marked', async () => (await log()).at(-1) === 'marker new', 10_000)
    expect(next.stats().partitions[0]?.state).toBe('starting')
    expect(await log()).toEqual(['batch', 'marker new'])
    fs.rmSync(gate)
    await until('the partition runs', () => next.stats().partitions[0]?.state === 'running', 15_000)
  } finally {
    fs.rmSync(gate, { force: true })
    await next.stop()
  }
}, 60_000)
