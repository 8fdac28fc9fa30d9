// What makes a retry with the same Idempotency-Key exact. Per tenant and key
// (the key hashed), a record in a NATS KV bucket, so every ingest process sees
// it: the body's digest, the receive time the samples were stamped with, and
// which samples are durable. kv.create is the lock: one request per key works
// at a time, under a lease; a retry of a finished request is answered as the
// first was, a retry of a partial one publishes only what is not yet durable.
//
// The batches of a keyed request carry message ids made from the key and the
// samples' positions (BatchPublisher.publishExact): should the record not be
// written (NATS gone at that moment, the process killed), a retry within
// JetStream's duplicate window (2 min) resends the same batches with the same
// ids, and JetStream drops the ones that had landed.
import type { KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { IDEMPOTENCY_BUCKET, openBucket, retryWithBackoff, sha256Hex, type Logger } from '../engine/index.ts'

export interface IdempotencyRecord {
  v: 1
  state: 'in-progress' | 'partial' | 'done'
  /** SHA-256 of the request body: the same key with another body is refused. */
  digest: string
  /** The first attempt's receive time: beacons without ts get it again, so a retry makes the same samples. */
  receivedAt: number
  /** While in-progress: after this, another request may take the key over (its holder died or lost NATS). */
  leaseUntil: number
  samples: number
  beacons: number
  /** Base64 of a bitset: bit i set when sample i is durable ('' when none is, or all are and state is done). */
  durable: string
}

export interface ClaimHandle {
  kvKey: string
  revision: number
  record: IdempotencyRecord
}

export type Claim =
  | { kind: 'claimed'; handle: ClaimHandle }
  | { kind: 'done'; record: IdempotencyRecord }
  | { kind: 'in-progress' }
  | { kind: 'mismatch' }

/** How long a request's answer waits for its record to be written before leaving it to the background. */
const SETTLE_FIRST_TIMEOUT_MS = 1000

/** Printable ASCII, as the IETF Idempotency-Key draft has it. */
const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/

export function isValidIdempotencyKey(key: string): boolean {
  return KEY_PATTERN.test(key) && key.trim().length > 0
}

/** One flag byte per sample (1 = durable) to a base64 bitset, and back. */
export function encodeDurable(flags: Uint8Array): string {
  const bits = new Uint8Array(Math.ceil(flags.length / 8))
  for (let i = 0; i < flags.length; i++) if (flags[i]) bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7))
  return Buffer.from(bits).toString('base64')
}

export function decodeDurable(encoded: string, samples: number): Uint8Array {
  const bits = Buffer.from(encoded, 'base64')
  const flags = new Uint8Array(samples)
  for (let i = 0; i < samples; i++) flags[i] = ((bits[i >> 3] ?? 0) >> (i & 7)) & 1
  return flags
}

function isWrongLastSequence(err: unknown): boolean {
  return /wrong last sequence/i.test((err as Error).message)
}

export class IdempotencyStore {
  readonly #nc: NatsConnection
  readonly #log: Logger | undefined
  #kv: Promise<KV> | undefined
  readonly #writes = new Set<Promise<void>>()

  constructor(nc: NatsConnection, options: { log?: Logger } = {}) {
    this.#nc = nc
    this.#log = options.log
  }

  /** Opens the bucket the engine's setup created (ingest may not create it). A failure is retried on the next call. */
  bucket(): Promise<KV> {
    this.#kv ??= openBucket(this.#nc, IDEMPOTENCY_BUCKET).catch((err) => {
      this.#kv = undefined
      throw err
    })
    return this.#kv
  }

  /** Takes the key for this request, or says why not. Throws when NATS does not answer. */
  async claim(tenant: string, key: string, fresh: Omit<IdempotencyRecord, 'v' | 'state' | 'leaseUntil' | 'durable'>, leaseMs: number): Promise<Claim> {
    const kv = await this.bucket()
    const kvKey = `${tenant}.${sha256Hex(key)}`
    // Three rounds: a record may expire between the failed create and the read.
    for (let round = 0; round < 3; round++) {
      const now = Date.now()
      const record: IdempotencyRecord = { v: 1, state: 'in-progress', leaseUntil: now + leaseMs, durable: '', ...fresh }
      try {
        const revision = await kv.create(kvKey, JSON.stringify(record))
        return { kind: 'claimed', handle: { kvKey, revision, record } }
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err
      }
      const entry = await kv.get(kvKey)
      if (!entry || entry.operation !== 'PUT') continue
      const existing = entry.json<IdempotencyRecord>()
      if (existing.digest !== fresh.digest) return { kind: 'mismatch' }
      if (existing.state === 'done') return { kind: 'done', record: existing }
      if (existing.state === 'in-progress' && existing.leaseUntil > now) return { kind: 'in-progress' }
      // A partial record, or a lease its holder let lapse: take it over, unless another request just did.
      const resumed: IdempotencyRecord = { ...existing, state: 'in-progress', leaseUntil: now + leaseMs }
      try {
        const revision = await kv.update(kvKey, JSON.stringify(resumed), entry.revision)
        return { kind: 'claimed', handle: { kvKey, revision, record: resumed } }
      } catch (err) {
        if (isWrongLastSequence(err)) return { kind: 'in-progress' }
        throw err
      }
    }
    return { kind: 'in-progress' }
  }

  /**
   * Writes the outcome (compare-and-set on the claim's revision). When NATS does not take it
   * now, it is retried in the background until the lease ends; meanwhile a retry of the key is
   * told "in progress", and after it, the same message ids keep the resend exact.
   */
  async settle(handle: ClaimHandle, outcome: Pick<IdempotencyRecord, 'state' | 'durable'>): Promise<void> {
    const record: IdempotencyRecord = { ...handle.record, ...outcome, leaseUntil: 0 }
    const kv = await this.bucket().catch(() => undefined)
    const write = async (timeoutMs?: number): Promise<void> => {
      await (kv ?? (await this.bucket())).update(handle.kvKey, JSON.stringify(record), handle.revision, timeoutMs)
    }
    try {
      // The answer waits for this first attempt only briefly: a NATS that does not answer gets the background retries.
      await write(SETTLE_FIRST_TIMEOUT_MS)
      return
    } catch (err) {
      if (isWrongLastSequence(err)) return // the lease lapsed and another request took the key over: its record stands
      this.#log?.warn({ err: (err as Error).message, key: handle.kvKey }, 'idempotency record not written yet; retrying in the background')
    }
    const background = retryWithBackoff(() => write(), {
      baseMs: 200,
      maxMs: 2000,
      deadline: handle.record.leaseUntil,
      giveUp: isWrongLastSequence,
    }).catch((err: Error) => this.#log?.error({ err: err.message, key: handle.kvKey }, 'idempotency record lost; a retry within the duplicate window stays exact'))
    this.#writes.add(background)
    void background.finally(() => this.#writes.delete(background))
  }

  /** Waits for background record writes (each ends by its lease). */
  async drain(): Promise<void> {
    while (this.#writes.size > 0) await Promise.all([...this.#writes])
  }
}
