// The NATS names the stream engine adds, and the idempotent setup of its
// buckets and output stream. Kept here rather than in engine/nats/subjects.ts and
// engine/nats/jetstream-setup.ts until the engine role is wired (docs/stream.md).
import { nanos, type NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'

/** Leases (`partitions.<p>`) and engine liveness keys (`engines.<id>`); the bucket's max age is the lease TTL. */
export const PARTITION_LEASES_BUCKET = 'tm_partition_leases'
/** One replay checkpoint per partition (`p<partition>`), written by its owner. */
export const STREAM_CHECKPOINTS_BUCKET = 'tm_stream_checkpoints'
/** Window results, one subject per partition, deduplicated by the result's id. */
export const WINDOWS_STREAM = 'TM_WINDOWS'
export const WINDOWS_SUBJECT_PREFIX = 'tm.windows.'
export const WINDOWS_SUBJECTS = `${WINDOWS_SUBJECT_PREFIX}>`
/** Header naming what a message on tm.beacons.<p> is when it is not a beacon batch. */
export const KIND_HEADER = 'Tm-Kind'
/** Value of KIND_HEADER on a watermark tick (the storage consumer acks these without inserting). */
export const WATERMARK_KIND = 'watermark'
/** Value of KIND_HEADER on a config marker: the rules in effect change at this place in the log (config-markers.ts). */
export const CONFIG_KIND = 'config'
/** Header carrying the emitting owner's lease epoch on every output. */
export const EPOCH_HEADER = 'Tm-Epoch'

export function windowsSubject(partition: number): string {
  return WINDOWS_SUBJECT_PREFIX + partition
}

/**
 * A re-emission after a replay must land within this window to be dropped as a
 * duplicate; replays re-emit at most one checkpoint interval plus a lease TTL
 * of results, so two minutes leaves a wide margin.
 */
export const WINDOWS_DUPLICATE_WINDOW_MS = 2 * 60_000
const WINDOWS_MAX_AGE_MS = 7 * 24 * 3600_000

export interface StreamLayout {
  leases: KV
  checkpoints: KV
}

export interface StreamLayoutOptions {
  replicas: number
  leaseTtlMs: number
  leasesBucket?: string
  checkpointsBucket?: string
}

/** Creates (or opens) the lease and checkpoint buckets and the windows stream. Idempotent. */
export async function ensureStreamLayout(nc: NatsConnection, options: StreamLayoutOptions): Promise<StreamLayout> {
  const kvm = new Kvm(nc)
  // ttl is the bucket's max age: a key not written again within it disappears, which is what frees a dead engine's leases.
  const leases = await kvm.create(options.leasesBucket ?? PARTITION_LEASES_BUCKET, { history: 1, replicas: options.replicas, ttl: options.leaseTtlMs })
  const checkpoints = await kvm.create(options.checkpointsBucket ?? STREAM_CHECKPOINTS_BUCKET, { history: 1, replicas: options.replicas })
  const jsm = await jetstreamManager(nc)
  const config = {
    name: WINDOWS_STREAM,
    subjects: [WINDOWS_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: options.replicas,
    max_age: nanos(WINDOWS_MAX_AGE_MS),
    duplicate_window: nanos(WINDOWS_DUPLICATE_WINDOW_MS),
  }
  try {
    await jsm.streams.info(WINDOWS_STREAM)
    await jsm.streams.update(WINDOWS_STREAM, config)
  } catch (err) {
    if (!/not found/i.test((err as Error).message)) throw err
    await jsm.streams.add(config)
  }
  return { leases, checkpoints }
}
