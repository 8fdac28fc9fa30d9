// What the storage tests share: one nats-server of their own, the chDB store of
// this test process, and any number of StorageConsumers, each on its own NATS
// connection as separate engine processes would be (chDB allows one process per
// data directory, so "two engines" here are two consumers in one process sharing
// the store). Samples are published straight to tm.beacons.<p>, so a test knows
// exactly what JetStream holds and can compare ClickHouse with it for equality.
import { setTimeout as sleep } from 'node:timers/promises'
import { jetstream, jetstreamManager, type ConsumerInfo, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { encodeBatch } from '../../engine/model/beacon-batch.ts'
import { openClickHouse, type ClickHouseStore } from '../../engine/clickhouse/clickhouse-store.ts'
import { BUCKETS, openBucket, setupJetStream } from '../../engine/nats/jetstream-setup.ts'
import { applySchema } from '../../engine/runtime.ts'
import type { Sample } from '../../engine/model/sample.ts'
import { StorageConsumer, type StorageConsumerOptions } from '../../engine/storage/storage-consumer.ts'
import { beaconSubject, BEACONS_STREAM, STORAGE_CONSUMER } from '../../engine/nats/subjects.ts'
import { connectAs, processChdbPath, startNats } from '../helpers/stack.ts'
import type { SupervisedNatsServer } from '../../engine/nats/nats-endpoint.ts'

export interface StorageRig {
  nats: SupervisedNatsServer
  nc: NatsConnection
  js: JetStreamClient
  jsm: JetStreamManager
  store: ClickHouseStore
  /** A consumer on a connection of its own ("an engine process"); `nc` is that connection, for tests that kill it. */
  consumer(options?: Partial<StorageConsumerOptions>): Promise<{ storage: StorageConsumer; nc: NatsConnection }>
  /** Publishes one batch message; returns its stream sequence. */
  publish(samples: Sample[], partition?: number): Promise<number>
  publishRaw(data: Uint8Array, partition?: number): Promise<number>
  /** Raw rows and rollup counts of a tenant. */
  counts(tenant: string): Promise<{ samples: number; rollup1m: number; rollup1h: number }>
  info(): Promise<ConsumerInfo>
  /** Keys of the intents in KV. */
  intentKeys(): Promise<string[]>
  /** Until JetStream holds nothing for storage: nothing undelivered, nothing unacknowledged. */
  settled(timeoutMs?: number): Promise<ConsumerInfo>
  close(): Promise<void>
}

let sampleTs = Date.UTC(2024, 0, 1)

/** `count` samples of `tenant`, one minute apart so the rollups see several buckets. */
export function samplesOf(tenant: string, count: number, metric = 'page_views'): Sample[] {
  return Array.from({ length: count }, (_, i) => [tenant, metric, (sampleTs += 1000), i + 1, null, Date.now()] as Sample)
}

export async function openStorageRig(options: { ackWaitMs: number }): Promise<StorageRig> {
  const nats = await startNats()
  const nc = await connectAs(nats)
  await setupJetStream(nc, { replicas: 1, partitions: 16, storageAckWaitMs: options.ackWaitMs })
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)
  const store = await openClickHouse({ chdbPath: processChdbPath(), database: 'tidemark' })
  await applySchema(store)
  const opened: Array<{ storage: StorageConsumer; nc: NatsConnection }> = []
  const publishRaw = async (data: Uint8Array, partition = 0): Promise<number> => (await js.publish(beaconSubject(partition), data)).seq
  const info = (): Promise<ConsumerInfo> => jsm.consumers.info(BEACONS_STREAM, STORAGE_CONSUMER)
  const count = async (sql: string, tenant: string): Promise<number> => {
    const [row] = await store.rows<{ n: string }>(sql, { t: tenant })
    return Number(row?.n ?? 0)
  }
  return {
    nats,
    nc,
    js,
    jsm,
    store,
    async consumer(overrides = {}) {
      const own = await connectAs(nats, 'engine')
      const storage = new StorageConsumer({
        js: jetstream(own),
        store,
        state: await openBucket(own, BUCKETS.storageState),
        batchRows: 10_000,
        lingerMs: 50,
        ...overrides,
      })
      opened.push({ storage, nc: own })
      await storage.start()
      return { storage, nc: own }
    },
    publish: (samples, partition) => publishRaw(encodeBatch(samples), partition),
    publishRaw,
    async counts(tenant) {
      return {
        samples: await count('SELECT count() AS n FROM tidemark.samples WHERE tenant = {t:String}', tenant),
        rollup1m: await count('SELECT sum(count) AS n FROM tidemark.samples_1m WHERE tenant = {t:String}', tenant),
        rollup1h: await count('SELECT sum(count) AS n FROM tidemark.samples_1h WHERE tenant = {t:String}', tenant),
      }
    },
    info,
    async intentKeys() {
      const kv = await openBucket(nc, BUCKETS.storageState)
      const keys: string[] = []
      for await (const key of await kv.keys()) keys.push(key)
      return keys
    },
    async settled(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const i = await info()
        if (i.num_pending === 0 && i.num_ack_pending === 0) return i
        if (Date.now() > deadline) throw new Error(`storage did not settle: ${i.num_pending} pending, ${i.num_ack_pending} unacknowledged`)
        await sleep(100)
      }
    },
    async close() {
      for (const { storage, nc: own } of opened) {
        await storage.stop().catch(() => {})
        if (!own.isClosed()) await own.close()
      }
      await nc.close()
      await store.close()
      await nats.stop()
    },
  }
}
