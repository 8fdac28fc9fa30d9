// The streams, consumer and buckets Tidemark relies on, and who may change
// them. One owner: the engine role (and `tidemark setup`) creates them and
// brings them to the configured layout; every other process (ingest, query,
// the CLI) only checks them, waits a bounded time for an engine that is not up
// yet, and refuses a layout that differs from its own configuration. Before
// this split every process rewrote replicas and ack wait from its own
// environment, so a `tidemark tenant create` without TIDEMARK_STREAM_REPLICAS=3
// shrank a cluster's stream to one replica.
import { setTimeout as sleep } from 'node:timers/promises'
import { AuthorizationError, connect, nanos, PermissionViolationError, type NatsConnection } from '@nats-io/transport-node'
import {
  AckPolicy,
  DeliverPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { Config } from '../config.ts'
import { EngineErrors } from '../errors.ts'
import { describeNatsAuth, natsAuthOptions, type NatsAuth } from './nats-auth.ts'
import { backoffDelayMs } from '../retry.ts'
import { ensureRulesBucket } from '../rules/rule-store.ts'
import { triggersStreamConfig } from '../rules/trigger-stream.ts'
import {
  BEACONS_STREAM,
  BEACONS_SUBJECTS,
  DEAD_LETTERS_STREAM,
  DEAD_LETTERS_SUBJECTS,
  HITS_STREAM,
  HITS_SUBJECTS,
  IDEMPOTENCY_BUCKET,
  IDEMPOTENCY_TTL_MS,
  STORAGE_CONSUMER,
  STORAGE_STATE_BUCKET,
  TENANTS_BUCKET,
  TRACKER_SALT_TTL_MS,
  TRACKER_SALTS_BUCKET,
} from './subjects.ts'

export interface JetStreamLayout {
  replicas: number
  /** Partitions of tm.beacons.<p>: every ingest process must hash series the same way. */
  partitions: number
  /** How long the storage consumer has to finish an insert before JetStream redelivers. */
  storageAckWaitMs: number
}

export function layoutOf(config: Config): JetStreamLayout {
  return { replicas: config.streamReplicas, partitions: config.partitions, storageAckWaitMs: config.storageAckWaitMs }
}

/** The beacon log is kept a week, so the storage consumer survives a long ClickHouse outage. */
const BEACONS_MAX_AGE_MS = 7 * 24 * 3600_000
/** Publishers retry with the same message id within this window without duplicating. */
const DUPLICATE_WINDOW_MS = 2 * 60_000
const STORAGE_MAX_ACK_PENDING = 100_000

export const BUCKETS = { tenants: TENANTS_BUCKET, storageState: STORAGE_STATE_BUCKET } as const
const bucketStream = (bucket: string): string => `KV_${bucket}`

export interface ConnectOptions {
  auth: NatsAuth | undefined
  /** Replies come to inboxes under this prefix (see inboxPrefixFor): role users may subscribe there only. */
  inboxPrefix?: string
}

export function isPermissionViolation(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e instanceof PermissionViolationError || /permissions violation/i.test(e.message)) return true
  }
  return false
}

export async function connectNats(url: string, name: string, options: ConnectOptions = { auth: undefined }): Promise<NatsConnection> {
  const authOptions = natsAuthOptions(options.auth)
  try {
    return await connect({
      servers: url,
      name,
      ...authOptions,
      ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}),
      // Keep trying forever: a supervised server restarts on the same port.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // Async stack traces cost two Error objects per request (each publish and ackAck): ~3% of ingest CPU.
      noAsyncTraces: true,
    })
  } catch (err) {
    if (err instanceof AuthorizationError || /authorization violation|authentication/i.test((err as Error).message)) {
      const how = options.auth
        ? `it did not accept ${describeNatsAuth(options.auth)}`
        : 'it requires credentials: set NATS_CREDS, NATS_USER and NATS_PASSWORD, NATS_TOKEN or NATS_NKEY'
      throw new EngineErrors.NatsAuthFailed(`${url}: ${how} (${(err as Error).message})`, { cause: err })
    }
    throw new EngineErrors.NatsUnavailable(`${url}: ${(err as Error).message}`, { cause: err })
  }
}

/** Runs one JetStream API call, translating a permission refusal into an error that says what was denied. */
async function api<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    if (isPermissionViolation(err)) throw new EngineErrors.NatsPermissionDenied(`${what}: ${(err as Error).message}`, { cause: err })
    throw err
  }
}

async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await api(`reading stream ${name}`, () => jsm.streams.info(name))
  } catch (err) {
    if (/not found/i.test((err as Error).message)) return undefined
    throw err
  }
}

function beaconsDescription(layout: JetStreamLayout): string {
  return `Tidemark beacons; partitions=${layout.partitions}`
}

/** nats-server 2.9 has no stream metadata: the partition count lives in TM_BEACONS' description. */
export function partitionsOf(info: StreamInfo): number | undefined {
  const match = /partitions=(\d+)/.exec(info.config.description ?? '')
  return match ? Number(match[1]) : undefined
}

interface Setting {
  field: keyof StreamConfig | keyof ConsumerConfig
  label: string
  /** The variable that sets it, named in every change. */
  variable: string
  show: (value: unknown) => string
}

const ms = (value: unknown): string => `${Math.round(Number(value) / 1e6)} ms`
const plain = (value: unknown): string => String(value)

function differences(current: Record<string, unknown>, desired: Record<string, unknown>, settings: Setting[]): string[] {
  return settings
    .filter((s) => current[s.field] !== desired[s.field])
    .map((s) => `${s.label} ${s.show(current[s.field])} → ${s.show(desired[s.field])} (${s.variable})`)
}

async function upsertStream(jsm: JetStreamManager, desired: Partial<StreamConfig> & { name: string }, settings: Setting[], changes: string[]): Promise<void> {
  const info = await streamInfo(jsm, desired.name)
  if (!info) {
    await api(`creating stream ${desired.name}`, () => jsm.streams.add(desired))
    changes.push(`created stream ${desired.name}`)
    return
  }
  const changed = differences(info.config as unknown as Record<string, unknown>, desired, settings)
  if (changed.length === 0) return
  await api(`updating stream ${desired.name}`, () => jsm.streams.update(desired.name, { ...info.config, ...desired }))
  changes.push(`${desired.name}: ${changed.join(', ')}`)
}

const replicasSetting: Setting = { field: 'num_replicas', label: 'replicas', variable: 'TIDEMARK_STREAM_REPLICAS', show: plain }

async function upsertBucket(nc: NatsConnection, jsm: JetStreamManager, bucket: string, replicas: number, changes: string[], ttlMs?: number): Promise<void> {
  const name = bucketStream(bucket)
  const info = await streamInfo(jsm, name)
  if (!info) {
    await api(`creating bucket ${bucket}`, () => new Kvm(nc).create(bucket, { history: 1, replicas, ...(ttlMs ? { ttl: ttlMs } : {}) }))
    changes.push(`created bucket ${bucket}`)
    return
  }
  const changed = differences(info.config as unknown as Record<string, unknown>, { num_replicas: replicas }, [replicasSetting])
  if (changed.length === 0) return
  await api(`updating bucket ${bucket}`, () => jsm.streams.update(name, { ...info.config, num_replicas: replicas }))
  changes.push(`${name}: ${changed.join(', ')}`)
}

/**
 * The owner's half (engine role, `tidemark setup`): creates what is missing
 * and changes what differs from the layout. Returns what it changed, each
 * naming the variable that asked for it.
 */
export async function setupJetStream(nc: NatsConnection, layout: JetStreamLayout): Promise<string[]> {
  const jsm = await api('the JetStream API', () => jetstreamManager(nc))
  const changes: string[] = []
  await upsertStream(
    jsm,
    {
      name: BEACONS_STREAM,
      description: beaconsDescription(layout),
      subjects: [BEACONS_SUBJECTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: layout.replicas,
      max_age: nanos(BEACONS_MAX_AGE_MS),
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    },
    [
      replicasSetting,
      { field: 'description', label: 'partitions', variable: 'TIDEMARK_PARTITIONS', show: (d) => /partitions=(\d+)/.exec(String(d ?? ''))?.[1] ?? 'unrecorded' },
      { field: 'max_age', label: 'max age', variable: 'built in', show: ms },
      { field: 'duplicate_window', label: 'duplicate window', variable: 'built in', show: ms },
    ],
    changes
  )
  await upsertStream(
    jsm,
    {
      name: DEAD_LETTERS_STREAM,
      subjects: [DEAD_LETTERS_SUBJECTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: layout.replicas,
      max_age: nanos(BEACONS_MAX_AGE_MS * 4),
    },
    [replicasSetting],
    changes
  )
  const storage = {
    durable_name: STORAGE_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(layout.storageAckWaitMs),
    max_ack_pending: STORAGE_MAX_ACK_PENDING,
    max_deliver: -1,
  }
  const consumer = await api(`reading consumer ${STORAGE_CONSUMER}`, () => jsm.consumers.info(BEACONS_STREAM, STORAGE_CONSUMER)).catch((err: Error) => {
    if (/not found/i.test(err.message)) return undefined
    throw err
  })
  if (!consumer) {
    await api(`creating consumer ${STORAGE_CONSUMER}`, () => jsm.consumers.add(BEACONS_STREAM, storage))
    changes.push(`created consumer ${STORAGE_CONSUMER}`)
  } else {
    const changed = differences(consumer.config as unknown as Record<string, unknown>, storage, [
      { field: 'ack_wait', label: 'ack wait', variable: 'TIDEMARK_STORAGE_ACK_WAIT_MS', show: ms },
      { field: 'max_ack_pending', label: 'max ack pending', variable: 'built in', show: plain },
    ])
    if (changed.length > 0) {
      await api(`updating consumer ${STORAGE_CONSUMER}`, () =>
        jsm.consumers.update(BEACONS_STREAM, STORAGE_CONSUMER, { ack_wait: storage.ack_wait, max_ack_pending: storage.max_ack_pending })
      )
      changes.push(`${STORAGE_CONSUMER}: ${changed.join(', ')}`)
    }
  }
  // Tracker hits: kept like beacons, read by the engine's hit writer (engine/tracker/hit-writer.ts).
  await upsertStream(
    jsm,
    {
      name: HITS_STREAM,
      subjects: [HITS_SUBJECTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: layout.replicas,
      max_age: nanos(BEACONS_MAX_AGE_MS),
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    },
    [replicasSetting],
    changes
  )
  await upsertStream(jsm, triggersStreamConfig(layout.replicas) as Parameters<JetStreamManager['streams']['add']>[0] & { name: string }, [replicasSetting], changes)
  // The bucket's age limit is what deletes a day's salt 48 h after it was made. Before the tenants bucket, as
  // the hits stream: an ingest process that found that bucket finds these too.
  await upsertBucket(nc, jsm, TRACKER_SALTS_BUCKET, layout.replicas, changes, TRACKER_SALT_TTL_MS)
  // Before the tenants bucket: a process that waits for that one (verifyJetStream) then finds the rules too.
  await ensureRulesBucket(nc, layout.replicas)
  await upsertBucket(nc, jsm, TENANTS_BUCKET, layout.replicas, changes)
  await upsertBucket(nc, jsm, STORAGE_STATE_BUCKET, layout.replicas, changes)
  await upsertBucket(nc, jsm, IDEMPOTENCY_BUCKET, layout.replicas, changes, IDEMPOTENCY_TTL_MS)
  return changes
}

export interface VerifyOptions {
  /** How long to wait for an engine that has not created them yet. */
  waitMs: number
  /** Told once when the wait begins. */
  onWait?: (missing: string[]) => void
}

/**
 * Everyone else's half: TM_BEACONS and the tenants bucket must exist with the
 * replicas and partitions this process is configured for. Missing ones are
 * waited for (the engine may be starting too); a different layout is refused
 * at once, naming the variable, and nothing is changed.
 */
export async function verifyJetStream(nc: NatsConnection, layout: JetStreamLayout, options: VerifyOptions): Promise<void> {
  const jsm = await jetstreamManager(nc, { checkAPI: false })
  const deadline = Date.now() + options.waitMs
  let found: { beacons: StreamInfo; tenants: StreamInfo } | undefined
  for (let attempt = 0; !found; attempt++) {
    const beacons = await streamInfo(jsm, BEACONS_STREAM)
    const tenants = await streamInfo(jsm, bucketStream(TENANTS_BUCKET))
    if (beacons && tenants) {
      found = { beacons, tenants }
      break
    }
    const missing = [...(beacons ? [] : [`stream ${BEACONS_STREAM}`]), ...(tenants ? [] : [`bucket ${TENANTS_BUCKET}`])]
    if (Date.now() >= deadline) {
      throw new EngineErrors.StreamMissing(
        `${missing.join(' and ')} ${missing.length > 1 ? 'do' : 'does'} not exist${options.waitMs > 0 ? ` after waiting ${Math.round(options.waitMs / 1000)} s` : ''}. ` +
          'The engine creates them: start `tidemark engine`, or run `tidemark setup` once'
      )
    }
    if (attempt === 0) options.onWait?.(missing)
    await sleep(Math.max(0, Math.min(backoffDelayMs(attempt, { baseMs: 100, maxMs: 2000 }), deadline - Date.now())))
  }
  const { beacons, tenants } = found
  const problems: string[] = []
  for (const [info, label] of [
    [beacons, BEACONS_STREAM],
    [tenants, bucketStream(TENANTS_BUCKET)],
  ] as const) {
    const replicas = info.config.num_replicas
    if (replicas !== layout.replicas) {
      problems.push(`${label} has ${replicas} replica${replicas === 1 ? '' : 's'}, TIDEMARK_STREAM_REPLICAS says ${layout.replicas}`)
    }
  }
  const partitions = partitionsOf(beacons)
  if (partitions === undefined) {
    problems.push(`${BEACONS_STREAM} records no partition count (an engine older than this process set it up): start this version's engine, or run \`tidemark setup\``)
  } else if (partitions !== layout.partitions) {
    problems.push(`${BEACONS_STREAM} has ${partitions} partitions, TIDEMARK_PARTITIONS says ${layout.partitions}`)
  }
  if (problems.length > 0) {
    throw new EngineErrors.StreamMismatch(
      `${problems.join('; ')}. Only the engine (or \`tidemark setup\`) changes the layout: give this process the deployment's values`
    )
  }
}

/** Opens a bucket that setupJetStream created, without creating or changing it (no API call but its info). */
export async function openBucket(nc: NatsConnection, bucket: string): Promise<KV> {
  const jsm = await jetstreamManager(nc, { checkAPI: false })
  const info = await streamInfo(jsm, bucketStream(bucket))
  if (!info) throw new EngineErrors.StreamMissing(`bucket ${bucket} does not exist. The engine creates it: start \`tidemark engine\`, or run \`tidemark setup\` once`)
  return new Kvm(nc).open(bucket, { allow_direct: info.config.allow_direct ?? false })
}
