// Coalesces samples from many requests into msgpack batches per partition and
// publishes them to JetStream. A request's promise settles only when every
// batch holding one of its samples was acknowledged or given up on, and says
// exactly which of its samples are durable: that is what lets the route answer
// 2xx only for durable data, and a 503 say what a retry must resend.
//
// Group commit, not a timer: a partition with no coalesced publish in flight
// publishes what it has at the end of this turn of the event loop (setImmediate:
// the requests read in the same turn share the batch, and every partition ready
// goes in one socket write), so a lone beacon waits only for its own round trip;
// while one is in flight, the next batch fills behind it and goes when that one
// settles (again at the end of that turn), or as soon as it reaches the batch
// limit (samples or bytes), so a busy partition still sends full batches. The
// round trip itself sets the batch size: the slower JetStream answers, the
// bigger the batches.
//
// Batches are bounded by samples and by bytes (under the server's max_payload),
// so no batch is refused for its size and one tenant's large samples never fail
// another tenant's that share a batch with them. Each batch has a message id; a
// failed publish is retried with the same id, and JetStream's duplicate window
// drops the copy if an earlier attempt did land.
import { randomBytes } from 'node:crypto'
import type { JetStreamClient } from '@nats-io/jetstream'
import { beaconSubject, encodeBatch, retryWithBackoff, seriesPartition, seriesTagsKey, sha256Hex, SampleField, tenantHashSeed, type Sample } from '../engine/index.ts'
import { BATCH_ENVELOPE_BYTES, batchByteLimit, sampleBytesBound } from './batch-bytes.ts'
import { IngestErrors } from './errors.ts'
import type { IdempotencyStore } from './idempotency.ts'
import type { TenantRateLimiter } from './rate-limiter.ts'
import type { IngestUsage } from './usage.ts'

export interface BatchPublisherOptions {
  js: JetStreamClient
  partitions: number
  /** Samples per message at most. */
  maxSamples: number
  /**
   * Coalesced publishes a partition may have in flight before its open batch waits for one of them to settle
   * (group commit's depth). 1 makes every request that finds its partition busy wait for that publish's ack and
   * then its own; more lets it go after the current turn, at the price of smaller batches when traffic is light.
   */
  maxInFlight?: number
  /** Samples waiting for JetStream beyond which requests are refused with 503 (backpressure). */
  maxPendingSamples?: number
  /** Total time to keep retrying one batch before its requests get 503. */
  retryBudgetMs?: number
  /** The server's max_payload in bytes, asked at each request (a reconnect may reach another server). */
  maxPayload?: () => number | undefined
  /** The Idempotency-Key records of this publisher's requests; drain() waits for their writes too. */
  idempotency: IdempotencyStore
  /** The per-tenant rate limits the routes apply before publishing; none: no limit. */
  limiter?: TenantRateLimiter
  /** Each tenant's usage the routes count, published into the tenant's own series every usageIntervalMs and at drain(). */
  usage?: IngestUsage
  usageIntervalMs?: number
}

export interface PublishOutcome {
  /** How many of the samples JetStream holds. */
  durable: number
  /** notDurable[i] is 1 when sample i is not in JetStream; null when every sample is. */
  notDurable: Uint8Array | null
  /** The first publish failure, for the log (never shown to a client). */
  error?: Error
}

export interface PublisherStats {
  batches: number
  /** Clients' samples JetStream acknowledged (usage samples apart: what storage must hold for the tenants). */
  samples: number
  /** The system tenant's usage samples JetStream acknowledged. */
  usageSamples: number
  retries: number
  failures: number
  /** Publishes JetStream answered as duplicates: an earlier attempt with the same message id had landed. */
  duplicates: number
  pendingSamples: number
}

interface Batch {
  partition: number
  /** Filled while open; emptied once encoded, so the samples are garbage while JetStream answers (count keeps their number). */
  samples: Sample[]
  count: number
  /** Upper bound of the encoded size. */
  bytes: number
  /** Fixed for the batches of a keyed request (publishExact); numbered at send for coalesced ones. */
  msgID: string | undefined
  ok: boolean
  error: Error | undefined
  /** The last publish() call that put a sample in it. */
  call: number
  /** Set once the batch is durable or given up on; until then, what waits for that (outcomeOf, #send, drain) is in `joins`. */
  done: boolean
  joins: (() => void)[]
}

interface InFlight {
  sentAt: number
  /** When its first publish attempt failed; 0 while none has. */
  retryingSince: number
}

/** Coalesced publishes in flight per partition by default: see BatchPublisherOptions.maxInFlight and bench/README.md. */
export const DEFAULT_IN_FLIGHT = 4

/** A failure older than this no longer makes health fail on its own: ingest with no traffic must not stay 503 forever. */
const FAILURE_MEMORY_MS = 30_000
/** A batch retrying this long makes health fail: clients are waiting on it. */
const RETRYING_UNHEALTHY_MS = 1000

/** What partitioning and the size bound need of a tags object: its series-key part, that part's UTF-8 length, and its tag count. */
interface TagsInfo {
  key: string
  keyBytes: number
  count: number
  /**
   * Kept tags only: partition + 1024 × size bound of a sample by metric, for the tenant seed and partition
   * count in memoFor (a beacon's tags meet the same few metrics again and again).
   */
  memo: Map<string, number> | null
  memoFor: string
}

const NO_TAGS: TagsInfo = { key: '', keyBytes: 0, count: 0, memo: null, memoFor: '' }
/** Metrics memoized a kept tags object at most. */
const MEMO_METRICS = 64
/**
 * Kept for frozen tags objects: the msgpack reader hands every beacon with the same tags one frozen object
 * (msgpack-beacons.ts), so the key is built once, not once a beacon (sorting names and a native byte count,
 * about a third of #measure in the ingest-batch profile). Frozen, it cannot change; a WeakMap lets it go.
 */
const tagsInfoCache = new WeakMap<object, TagsInfo>()

function tagsInfo(tags: Record<string, string> | null): TagsInfo {
  if (tags === null) return NO_TAGS
  const known = tagsInfoCache.get(tags)
  if (known !== undefined) return known
  let count = 0
  for (const _ in tags) count++
  const key = seriesTagsKey(tags)
  const kept = Object.isFrozen(tags)
  const info: TagsInfo = { key, keyBytes: Buffer.byteLength(key), count, memo: kept ? new Map() : null, memoFor: '' }
  if (kept) tagsInfoCache.set(tags, info)
  return info
}

function newBatch(partition: number, msgID?: string): Batch {
  return { partition, samples: [], count: 0, bytes: BATCH_ENVELOPE_BYTES, msgID, ok: false, error: undefined, call: 0, done: false, joins: [] }
}

/** Marks the batch settled and runs the joins waiting on it. */
function settle(batch: Batch): void {
  batch.done = true
  for (const join of batch.joins) join()
  batch.joins = []
}

/** Runs `join` once the batch is settled: at once if it is. */
function whenSettled(batch: Batch, join: () => void): void {
  if (batch.done) join()
  else batch.joins.push(join)
}

/**
 * A request's outcome once every batch holding its samples settled. A countdown on each batch's joins, not an
 * async function over Promise.all of their promises: this join ran for every request and was 4 % of the
 * single-beacon path's CPU (ingest bench profile).
 */
function outcomeOf(owners: (Batch | undefined)[], batches: Set<Batch>): Promise<PublishOutcome> {
  if (batches.size === 0) return Promise.resolve(outcomeNow(owners, batches))
  return new Promise((resolve) => {
    let left = batches.size
    // An unnamed closure a batch, not one `const settledOne = …`: tsx compiles with esbuild's keepNames, which
    // wraps every named function expression in __name(), an Object.defineProperty a request (3 % of the
    // single-beacon path's CPU in the ingest bench profile).
    for (const batch of batches) {
      whenSettled(batch, () => {
        if (--left === 0) resolve(outcomeNow(owners, batches))
      })
    }
  })
}

function outcomeNow(owners: (Batch | undefined)[], batches: Set<Batch>): PublishOutcome {
  let error: Error | undefined
  for (const batch of batches) if (!batch.ok) error ??= batch.error
  if (!error) return { durable: owners.length, notDurable: null }
  const notDurable = new Uint8Array(owners.length)
  let durable = 0
  for (let i = 0; i < owners.length; i++) {
    const owner = owners[i]
    // No owner: the sample was durable before this call (publishExact's alreadyDurable).
    if (owner === undefined || owner.ok) durable++
    else notDurable[i] = 1
  }
  return { durable, notDurable, error }
}

export class BatchPublisher {
  readonly stats: PublisherStats = { batches: 0, samples: 0, usageSamples: 0, retries: 0, failures: 0, duplicates: 0, pendingSamples: 0 }
  readonly #o: Required<Omit<BatchPublisherOptions, 'limiter' | 'usage'>> & Pick<BatchPublisherOptions, 'limiter' | 'usage'>
  #usageTimer: NodeJS.Timeout | undefined
  readonly #open: (Batch | undefined)[]
  readonly #inFlight = new Map<Batch, InFlight>()
  /** Coalesced batches in flight per partition: the open batch of a busy partition waits for them (group commit). */
  readonly #busy: Uint32Array
  readonly #idPrefix = randomBytes(8).toString('hex')
  #sequence = 0
  /** Numbers publish() calls, for Batch.call. */
  #calls = 0
  readonly #metricLengths = new Map<string, number>()
  /** Partitions whose open batch goes at the end of this turn (#sendSoon). */
  readonly #ready = new Set<number>()
  #readyScheduled = false
  #lastSuccessAt = 0
  #lastFailureAt = 0
  #lastError = ''
  #failuresSinceSuccess = 0

  constructor(options: BatchPublisherOptions) {
    // maxInFlight after the spread: an option given as undefined takes the default too.
    this.#o = { maxPendingSamples: 500_000, retryBudgetMs: 10_000, maxPayload: () => undefined, usageIntervalMs: 10_000, ...options, maxInFlight: options.maxInFlight ?? DEFAULT_IN_FLIGHT }
    if (this.#o.usage) {
      this.#usageTimer = setInterval(() => this.#publishUsage(), this.#o.usageIntervalMs)
      // The interval keeps no process alive: drain() publishes the rest.
      this.#usageTimer.unref()
    }
    this.#open = new Array(options.partitions).fill(undefined)
    this.#busy = new Uint32Array(options.partitions)
  }

  get idempotency(): IdempotencyStore {
    return this.#o.idempotency
  }

  get limiter(): TenantRateLimiter | undefined {
    return this.#o.limiter
  }

  get usage(): IngestUsage | undefined {
    return this.#o.usage
  }

  /** Publishes the usage counted since the last time; what JetStream does not take is counted again for the next. */
  #publishUsage(): Promise<void> {
    const usage = this.#o.usage
    if (!usage) return Promise.resolve()
    const { samples, giveBack } = usage.take(Date.now())
    if (samples.length === 0) return Promise.resolve()
    return this.publish(samples).then(
      (outcome) => {
        // They share batches with clients' samples, which counted them: move them to their own count.
        this.stats.samples -= outcome.durable
        this.stats.usageSamples += outcome.durable
        giveBack(outcome.notDurable)
      },
      () => giveBack()
    )
  }

  /**
   * The connection to NATS was lost and is back: failures counted before belong to the old one.
   * Without this, ingest that gets no traffic (a load balancer keeps it out while health says 503)
   * could not prove it recovered until FAILURE_MEMORY_MS passed.
   */
  connectionRestored(): void {
    this.#failuresSinceSuccess = 0
  }

  /** The retry budget of one batch: how long a request may wait on JetStream. */
  get retryBudgetMs(): number {
    return this.#o.retryBudgetMs
  }

  /**
   * What /api/v2/health reports for ingest. Not ok (503), with the reason, when publishes failed
   * recently and none succeeded since, when a batch has been retrying for a while, when a batch is
   * in flight past its retry budget (stuck), or when backpressure refuses requests.
   */
  health(): { ok: boolean; reason?: string } & Record<string, unknown> {
    const now = Date.now()
    let oldestSentAt = now
    let retryingBatches = 0
    let oldestRetryingSince = now
    for (const entry of this.#inFlight.values()) {
      oldestSentAt = Math.min(oldestSentAt, entry.sentAt)
      if (entry.retryingSince > 0) {
        retryingBatches++
        oldestRetryingSince = Math.min(oldestRetryingSince, entry.retryingSince)
      }
    }
    const reasons: string[] = []
    if (this.#failuresSinceSuccess > 0 && now - this.#lastFailureAt < FAILURE_MEMORY_MS) {
      reasons.push(`publishes to JetStream are failing: ${this.#failuresSinceSuccess} batches given up since the last success (${this.#lastError})`)
    }
    if (retryingBatches > 0 && now - oldestRetryingSince >= RETRYING_UNHEALTHY_MS) {
      reasons.push(`${retryingBatches} batches are retrying, the oldest for ${Math.round((now - oldestRetryingSince) / 1000)} s (${this.#lastError})`)
    }
    if (now - oldestSentAt > this.#o.retryBudgetMs + 5000) {
      reasons.push(`a batch has waited ${Math.round((now - oldestSentAt) / 1000)} s for JetStream, past its ${this.#o.retryBudgetMs / 1000} s budget`)
    }
    if (this.stats.pendingSamples >= this.#o.maxPendingSamples * 0.9) {
      reasons.push(`${this.stats.pendingSamples} samples await JetStream, near the limit of ${this.#o.maxPendingSamples}`)
    }
    return {
      ok: reasons.length === 0,
      ...(reasons.length > 0 ? { reason: reasons.join('; ') } : {}),
      ...this.stats,
      inFlightBatches: this.#inFlight.size,
      retryingBatches,
      oldestInFlightMs: now - oldestSentAt,
      lastSuccessAt: this.#lastSuccessAt > 0 ? new Date(this.#lastSuccessAt).toISOString() : null,
      lastFailureAt: this.#lastFailureAt > 0 ? new Date(this.#lastFailureAt).toISOString() : null,
    }
  }

  /**
   * Coalesces the samples into the open batches. Resolves when each is durable or given up on;
   * rejects (before anything is queued) only with TM_INGEST_OVERLOADED or TM_INGEST_SAMPLE_TOO_LARGE.
   */
  publish(samples: Sample[]): Promise<PublishOutcome> {
    const placed = this.#measure(samples, undefined)
    if (placed instanceof Error) return Promise.reject(placed)
    const { partitions, bytes, limit } = placed
    this.stats.pendingSamples += samples.length
    const owners: Batch[] = new Array(samples.length)
    const batches = new Set<Batch>()
    const call = ++this.#calls
    const maxSamples = this.#o.maxSamples
    for (let i = 0; i < samples.length; i++) {
      const partition = partitions[i] as number
      const size = bytes[i] as number
      let batch = this.#open[partition]
      if (batch && batch.bytes + size > limit) {
        this.#send(partition)
        batch = undefined
      }
      if (!batch) {
        batch = newBatch(partition)
        this.#open[partition] = batch
      }
      batch.samples.push(samples[i] as Sample)
      batch.bytes += size
      owners[i] = batch
      // Added once a call (a Set add a sample was a tenth of publish()).
      if (batch.call !== call) {
        batch.call = call
        batches.add(batch)
      }
      if (batch.samples.length >= maxSamples) this.#send(partition)
    }
    // An idle partition publishes at the end of this turn; a busy one's open batch goes when its publish in flight settles.
    for (const batch of batches) if (this.#open[batch.partition] === batch && this.#canSend(batch.partition)) this.#sendSoon(batch.partition)
    return outcomeOf(owners, batches)
  }

  /**
   * Publishes one request's samples in batches of their own, with message ids made from
   * `idPrefix` and the positions of the samples each carries. Batches are cut from the whole
   * request whatever is skipped, so the same request sent again makes the same batches with the
   * same ids: within JetStream's duplicate window a batch that did land (its ack lost, or nobody
   * left to record it) is not stored twice. Samples marked in `alreadyDurable` are skipped and
   * count as durable.
   */
  publishExact(samples: Sample[], idPrefix: string, alreadyDurable?: Uint8Array): Promise<PublishOutcome> {
    const placed = this.#measure(samples, alreadyDurable)
    if (placed instanceof Error) return Promise.reject(placed)
    const { partitions, bytes, limit, count } = placed
    this.stats.pendingSamples += count
    const byPartition = new Map<number, number[]>()
    for (let i = 0; i < samples.length; i++) {
      const partition = partitions[i] as number
      let list = byPartition.get(partition)
      if (!list) byPartition.set(partition, (list = []))
      list.push(i)
    }
    const owners: (Batch | undefined)[] = new Array(samples.length).fill(undefined)
    const batches = new Set<Batch>()
    const dispatch = (partition: number, chunk: number[]): void => {
      const todo = alreadyDurable ? chunk.filter((i) => !alreadyDurable[i]) : chunk
      if (todo.length === 0) return
      const batch = newBatch(partition, `${idPrefix}-${partition}-${sha256Hex(todo.join(',')).slice(0, 20)}`)
      for (const i of todo) {
        batch.samples.push(samples[i] as Sample)
        owners[i] = batch
      }
      batches.add(batch)
      this.#dispatch(batch)
    }
    for (const [partition, indices] of byPartition) {
      let chunk: number[] = []
      let chunkBytes = BATCH_ENVELOPE_BYTES
      for (const i of indices) {
        const size = bytes[i] as number
        if (chunk.length > 0 && (chunkBytes + size > limit || chunk.length >= this.#o.maxSamples)) {
          dispatch(partition, chunk)
          chunk = []
          chunkBytes = BATCH_ENVELOPE_BYTES
        }
        chunk.push(i)
        chunkBytes += size
      }
      if (chunk.length > 0) dispatch(partition, chunk)
    }
    if (batches.size === 0) return Promise.resolve({ durable: samples.length, notDurable: null })
    return outcomeOf(owners, batches)
  }

  /** Publishes every open batch now. */
  flush(): void {
    for (let partition = 0; partition < this.#open.length; partition++) if (this.#open[partition]) this.#send(partition)
  }

  /** Publishes what is open and waits for every publish to settle. */
  async drain(): Promise<void> {
    clearInterval(this.#usageTimer)
    const usage = this.#publishUsage()
    this.flush()
    while (this.#inFlight.size > 0) await Promise.all(Array.from(this.#inFlight.keys(), (b) => new Promise<void>((resolve) => whenSettled(b, resolve))))
    await usage
    await this.#o.idempotency.drain()
  }

  /** Partition and size bound of each sample, checked before anything is queued: an oversize sample fails only its own request. */
  #measure(
    samples: Sample[],
    skip: Uint8Array | undefined
  ): { partitions: Uint16Array; bytes: Uint32Array; limit: number; count: number } | Error {
    let count = samples.length
    if (skip) for (let i = 0; i < samples.length; i++) if (skip[i]) count--
    if (this.stats.pendingSamples + count > this.#o.maxPendingSamples) return new IngestErrors.Overloaded(String(this.#o.maxPendingSamples))
    const limit = batchByteLimit(this.#o.maxPayload())
    const partitions = new Uint16Array(samples.length)
    const bytes = new Uint32Array(samples.length)
    let tenant = ''
    let tenantBytes = 0
    let seed = 0
    let tags: Record<string, string> | null = null
    let info = NO_TAGS
    let memo: Map<string, number> | null = null
    let memoFor = ''
    const partitionCount = this.#o.partitions
    for (let i = 0; i < samples.length; i++) {
      const sample = samples[i] as Sample
      if (sample[SampleField.Tenant] !== tenant || i === 0) {
        tenant = sample[SampleField.Tenant]
        tenantBytes = Buffer.byteLength(tenant)
        seed = tenantHashSeed(tenant)
        memoFor = `${partitionCount}:${tenant}`
        tags = null
        info = NO_TAGS
        memo = null
      }
      // A beacon's samples share one tags object: its part of the series key is built, and its tags counted, once.
      if (sample[SampleField.Tags] !== tags) {
        tags = sample[SampleField.Tags]
        info = tagsInfo(tags)
        memo = info.memo
        if (memo !== null && info.memoFor !== memoFor) {
          memo.clear()
          info.memoFor = memoFor
        }
      }
      const metric = sample[SampleField.Metric]
      const known = memo?.get(metric)
      let size: number
      if (known !== undefined) {
        partitions[i] = known % 1024
        size = (known - (known % 1024)) / 1024
      } else {
        // The series key, seriesKey(metric, tags), is never built: its partition and length come from its pieces.
        const partition = seriesPartition(seed, metric, info.key, partitionCount)
        partitions[i] = partition
        size = sampleBytesBound(tenantBytes, this.#metricBytes(metric) + info.keyBytes, info.count)
        if (memo !== null) {
          if (memo.size >= MEMO_METRICS) memo.clear()
          memo.set(metric, size * 1024 + partition)
        }
      }
      if (size + BATCH_ENVELOPE_BYTES > limit) return new IngestErrors.SampleTooLarge(String(size), String(limit))
      bytes[i] = size
    }
    return { partitions, bytes, limit, count }
  }

  /** Whether the partition's open batch may go now: fewer coalesced publishes in flight than the depth allows. */
  #canSend(partition: number): boolean {
    return (this.#busy[partition] as number) < this.#o.maxInFlight
  }

  /** Sends the partition's open batch at the end of this turn of the event loop, with every other partition ready by then. */
  #sendSoon(partition: number): void {
    this.#ready.add(partition)
    if (this.#readyScheduled) return
    this.#readyScheduled = true
    setImmediate(() => {
      this.#readyScheduled = false
      // A partition that sent a full batch meanwhile is busy again: its open batch waits for that one to settle.
      for (const ready of this.#ready) if (this.#canSend(ready)) this.#send(ready)
      this.#ready.clear()
    })
  }

  /** UTF-8 length of a metric name: a handful of names, asked for every sample. */
  #metricBytes(metric: string): number {
    let bytes = this.#metricLengths.get(metric)
    if (bytes === undefined) {
      if (this.#metricLengths.size >= 4096) this.#metricLengths.clear()
      this.#metricLengths.set(metric, (bytes = Buffer.byteLength(metric)))
    }
    return bytes
  }

  #send(partition: number): void {
    const batch = this.#open[partition]
    if (!batch) return
    this.#open[partition] = undefined
    batch.msgID = `${this.#idPrefix}-${++this.#sequence}`
    const busy = this.#busy
    busy[partition] = (busy[partition] as number) + 1
    whenSettled(batch, () => {
      busy[partition] = (busy[partition] as number) - 1
      // The next group goes when the partition has nothing coalesced in flight (full batches went on their own).
      if (this.#canSend(partition) && this.#open[partition]) this.#sendSoon(partition)
    })
    this.#dispatch(batch)
  }

  #dispatch(batch: Batch): void {
    const entry: InFlight = { sentAt: Date.now(), retryingSince: 0 }
    this.#inFlight.set(batch, entry)
    const data = encodeBatch(batch.samples)
    // From here the bytes are the batch: samples dropped now die young, not after surviving the round trip (and the
    // scavenges during it) into the old generation. In the ingest profile that promotion was the largest cost of all.
    batch.count = batch.samples.length
    batch.samples = []
    const limit = batchByteLimit(this.#o.maxPayload())
    // The size bound makes this impossible; if it ever failed, refusing the batch whole keeps the answer exact.
    const publishing =
      data.length > limit
        ? Promise.reject(new Error(`batch of ${data.length} bytes is over the ${limit} bytes allowed: the size bound is wrong`))
        : this.#publishWithRetry(beaconSubject(batch.partition), data, batch.msgID as string, entry)
    void publishing.then(
      () => {
        this.stats.batches++
        this.stats.samples += batch.count
        this.#lastSuccessAt = Date.now()
        this.#failuresSinceSuccess = 0
        batch.ok = true
      },
      (err: Error) => {
        this.stats.failures++
        this.#lastFailureAt = Date.now()
        this.#lastError = err.message
        this.#failuresSinceSuccess++
        batch.error = err
      }
    ).finally(() => {
      this.stats.pendingSamples -= batch.count
      this.#inFlight.delete(batch)
      settle(batch)
    })
  }

  #publishWithRetry(subject: string, data: Uint8Array, msgID: string, entry: InFlight): Promise<void> {
    const deadline = Date.now() + this.#o.retryBudgetMs
    return retryWithBackoff(
      async () => {
        const ack = await this.#o.js.publish(subject, data, { msgID, timeout: Math.max(100, Math.min(5000, deadline - Date.now())) })
        // A duplicate ack means an earlier attempt landed: that is success too.
        if (ack.duplicate) this.stats.duplicates++
      },
      {
        baseMs: 100,
        maxMs: 2000,
        deadline,
        onRetry: (err) => {
          this.stats.retries++
          this.#lastError = (err as Error).message
          if (entry.retryingSince === 0) entry.retryingSince = Date.now()
        },
      }
    )
  }
}
