// A stream engine test's rig: a nats-server of the file's own with Tidemark's
// streams, and synthetic batches put into tm.beacons.<p> as ingest puts them
// there (each batch's samples split by partition, one message a partition, with
// message ids of the caller's prefix: publishing the same range again adds nothing).
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll } from 'vitest'
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstream } from '@nats-io/jetstream'
import { encodeBatch } from '../../engine/model/beacon-batch.ts'
import { partitionOf, seriesKey, type Sample } from '../../engine/model/sample.ts'
import { beaconSubject } from '../../engine/nats/subjects.ts'
import { setupJetStream } from '../../engine/nats/jetstream-setup.ts'
import type { SupervisedNatsServer } from '../../engine/nats/nats-endpoint.ts'
import { connectAs, startNats } from './stack.ts'

export interface StreamNats {
  /** The admin connection, once the file's beforeAll ran. */
  readonly nc: NatsConnection
}

/** Starts the server and makes the streams in the calling file's beforeAll; stops it in its afterAll. */
export function streamNats(partitions: number): StreamNats {
  let nats: SupervisedNatsServer | undefined
  let nc: NatsConnection | undefined
  beforeAll(async () => {
    nats = await startNats()
    nc = await connectAs(nats)
    await setupJetStream(nc, { replicas: 1, partitions, storageAckWaitMs: 60_000 })
  })
  afterAll(async () => {
    await nc?.close()
    await nats?.stop()
  })
  return {
    get nc(): NatsConnection {
      if (nc === undefined) throw new Error('streamNats: the connection is made in beforeAll')
      return nc
    },
  }
}

export interface PublishRange {
  partitions: number
  /** Batches [from, to) of the input. */
  from: number
  to: number
  idPrefix: string
  /** Pause 30 ms after every this many batches, so readers see the log grow (0: never). */
  pauseEvery?: number
}

/** A batch's samples by the partition of their series, as ingest splits them. */
export function samplesByPartition(samples: Sample[], partitions: number): Map<number, Sample[]> {
  const parts = new Map<number, Sample[]>()
  for (const s of samples) {
    const p = partitionOf(s[0], seriesKey(s[1], s[4]), partitions)
    parts.set(p, [...(parts.get(p) ?? []), s])
  }
  return parts
}

export async function publishBatches(nc: NatsConnection, input: Sample[][], range: PublishRange): Promise<void> {
  const js = jetstream(nc)
  for (let i = range.from; i < range.to; i++) {
    const parts = samplesByPartition(input[i] as Sample[], range.partitions)
    await Promise.all([...parts].map(([p, samples]) => js.publish(beaconSubject(p), encodeBatch(samples), { msgID: `${range.idPrefix}-${i}-${p}` })))
    if (range.pauseEvery && i % range.pauseEvery === range.pauseEvery - 1) await sleep(30)
  }
}
