// Connects to NATS and makes sure the streams, consumers and buckets Tidemark
// relies on exist with the settings it expects. Idempotent: every process of a
// scaled-out deployment runs it at start.
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node'
import { AckPolicy, DeliverPolicy, jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import { EngineErrors } from './errors.ts'
import { BEACONS_STREAM, BEACONS_SUBJECTS, DEAD_LETTERS_STREAM, DEAD_LETTERS_SUBJECTS, STORAGE_CONSUMER, STORAGE_STATE_BUCKET, TENANTS_BUCKET } from './subjects.ts'

export interface JetStreamLayout {
  replicas: number
  /** How long the storage consumer has to finish an insert before JetStream redelivers. */
  storageAckWaitMs: number
}

/** The beacon log is kept a week, so the storage consumer survives a long ClickHouse outage. */
const BEACONS_MAX_AGE_MS = 7 * 24 * 3600_000
/** Publishers retry with the same message id within this window without duplicating. */
const DUPLICATE_WINDOW_MS = 2 * 60_000

export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  try {
    return await connect({
      servers: url,
      name,
      // Keep trying forever: a supervised server restarts on the same port.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // Async stack traces cost two Error objects per request (each publish and ackAck): ~3% of ingest CPU.
      noAsyncTraces: true,
    })
  } catch (err) {
    throw new EngineErrors.NatsUnavailable(`${url}: ${(err as Error).message}`, { cause: err })
  }
}

async function upsertStream(jsm: JetStreamManager, config: Parameters<JetStreamManager['streams']['add']>[0] & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name)
    await jsm.streams.update(config.name, config)
  } catch (err) {
    if (!/not found/i.test((err as Error).message)) throw err
    await jsm.streams.add(config)
  }
}

export async function ensureJetStream(nc: NatsConnection, layout: JetStreamLayout): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc)
  await upsertStream(jsm, {
    name: BEACONS_STREAM,
    subjects: [BEACONS_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: layout.replicas,
    max_age: nanos(BEACONS_MAX_AGE_MS),
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  })
  await upsertStream(jsm, {
    name: DEAD_LETTERS_STREAM,
    subjects: [DEAD_LETTERS_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: layout.replicas,
    max_age: nanos(BEACONS_MAX_AGE_MS * 4),
  })
  const storage = {
    durable_name: STORAGE_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(layout.storageAckWaitMs),
    max_ack_pending: 100_000,
    max_deliver: -1,
  }
  try {
    await jsm.consumers.info(BEACONS_STREAM, STORAGE_CONSUMER)
    await jsm.consumers.update(BEACONS_STREAM, STORAGE_CONSUMER, { ack_wait: storage.ack_wait, max_ack_pending: storage.max_ack_pending })
  } catch (err) {
    if (!/not found/i.test((err as Error).message)) throw err
    await jsm.consumers.add(BEACONS_STREAM, storage)
  }
  return jsm
}

export async function openBucket(nc: NatsConnection, name: string, replicas: number): Promise<KV> {
  return new Kvm(nc).create(name, { history: 1, replicas })
}

export const BUCKETS = { tenants: TENANTS_BUCKET, storageState: STORAGE_STATE_BUCKET } as const
