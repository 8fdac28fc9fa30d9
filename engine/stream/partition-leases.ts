// Which engine process owns which partition, through leases in a NATS KV
// bucket, so any number of engines share the partitions with no consensus of
// Tidemark's own.
//
// nats-server 2.9 has no per-key TTL, but a bucket's max age applies to every
// key: a key not written again within it disappears. The leases bucket's max
// age is the lease TTL, so:
// - a lease is `partitions.<p>` = {owner, epoch}; it is taken with kv.create
//   (fails if the key exists) and renewed with kv.update at its revision
//   (compare-and-set: fails if anyone else wrote it since);
// - an engine's liveness key `engines.<id>` is rewritten every renewal; the
//   live engines are the keys present;
// - a dead engine stops renewing, its keys vanish one TTL after its last
//   renewal (measured here: 3.0 s for a 3 s TTL), and the others claim the
//   partitions on their next pass.
// Balance: each engine aims at ceil(P / live engines); one above it releases
// extras (its work stops and checkpoints first, then the key is deleted), and
// one below it claims free keys, so a newcomer gets its share.
// Fencing: an owner treats its lease as valid only until one renew period
// before the TTL runs out, counted from when it sent its last successful
// renewal; the server can free the key no earlier than a TTL after receiving
// it. A paused process therefore stops emitting before anyone else can start.
// The epoch is the KV revision of the claim: it only grows.
import os from 'node:os'
import { randomBytes } from 'node:crypto'
import type { KV } from '@nats-io/kv'
import { fnv1a } from '../model/sample.ts'
import { within } from '../retry.ts'
import type { Logger } from '../runtime.ts'

const PARTITION_KEY_PREFIX = 'partitions.'
const ENGINE_KEY_PREFIX = 'engines.'

export function leaseKey(partition: number): string {
  return PARTITION_KEY_PREFIX + partition
}

/** A KV-safe id for this engine process: host, pid and a random suffix (a restarted process is a new engine). */
export function newEngineId(): string {
  const host = os.hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40)
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`
}

export interface LeaseRecord {
  owner: string
  epoch: number
}

export interface PartitionLeasesOptions {
  kv: KV
  partitions: number
  engineId: string
  ttlMs: number
  renewMs: number
  /** The partition is ours from now on (epoch: the claim's KV revision). */
  onAcquired(partition: number, epoch: number): void
  /** The lease is gone without our releasing it (renewal refused, or not renewed in time): stop at once. */
  onLost(partition: number, reason: string): void
  /** Called before a lease is given up for balance or at stop: finish the partition's work; the lease is deleted after. */
  onRelease(partition: number): Promise<void>
  log?: Pick<Logger, 'info' | 'warn' | 'debug'>
}

interface Lease {
  epoch: number
  revision: number
  /** Epoch ms until which this engine may act as owner (see fencing above). */
  validUntil: number
  acquiredAt: number
  releasing: boolean
}

function isCasConflict(err: unknown): boolean {
  return /wrong last sequence|key exists/i.test((err as Error).message)
}

export class PartitionLeases {
  readonly engineId: string
  readonly #o: PartitionLeasesOptions
  readonly #leases = new Map<number, Lease>()
  #timer: NodeJS.Timeout | undefined
  /** The renewals in progress: one at a time (two updates of one key at the same revision would refuse each other). */
  #renewal: Promise<void> = Promise.resolve()
  /** The balancing in progress (listing the live engines, claims, releases). */
  #balance: Promise<void> = Promise.resolve()
  #balancing = false
  /** No new claims or balancing (stopping); renewals go on until the releases are done. */
  #stopping = false
  #halted = false
  #liveEngines = 0
  /** Partitions in the order this engine tries them: rotated by its id, so engines starting together rarely collide. */
  readonly #order: number[]

  constructor(options: PartitionLeasesOptions) {
    this.#o = options
    this.engineId = options.engineId
    const first = fnv1a(options.engineId) % options.partitions
    this.#order = Array.from({ length: options.partitions }, (_, i) => (first + i) % options.partitions)
  }

  /** Announces this engine and claims its share; resolves after the first pass. */
  async start(): Promise<void> {
    await this.#renewPass()
    await this.#balancePass()
    this.#timer = setInterval(() => {
      void this.#renewPass()
      void this.#balancePass()
    }, this.#o.renewMs)
  }

  /** Partitions this engine holds a valid lease on now. */
  owned(): number[] {
    return [...this.#leases.keys()].filter((p) => this.isOwner(p)).sort((a, b) => a - b)
  }

  isOwner(partition: number): boolean {
    const lease = this.#leases.get(partition)
    return lease !== undefined && Date.now() < lease.validUntil
  }

  epochOf(partition: number): number | undefined {
    return this.#leases.get(partition)?.epoch
  }

  get liveEngines(): number {
    return this.#liveEngines
  }

  /** Releases every lease (after onRelease) and removes the liveness key: the others take over at once. */
  async stop(): Promise<void> {
    this.#stopping = true
    // A balancing pass still listing keys may never end (a listing started as NATS went away hung the outage
    // tests' shutdown): wait for it at most one TTL; a claim it completes after this is given back at once (#claim).
    await within(this.#balance, this.#o.ttlMs)
    await Promise.all([...this.#leases.keys()].map((p) => this.#release(p)))
    this.#halted = true
    clearInterval(this.#timer)
    await this.#renewal
    await this.#o.kv.delete(ENGINE_KEY_PREFIX + this.engineId).catch(() => {})
  }

  /** Stops renewing and gives nothing back, as a killed process would: the leases expire after the TTL. */
  halt(): void {
    this.#halted = true
    clearInterval(this.#timer)
  }

  /**
   * Renews every lease and the liveness key. Apart from balancing, which lists keys and claims one by one:
   * under load those requests are slow, and a renewal queued behind them let leases expire (seen in the
   * triggers bench: every partition lost at once, and the engine rebuilt them all mid-load).
   */
  #renewPass(): Promise<void> {
    this.#renewal = this.#renewal
      .then(() => (this.#halted ? undefined : this.#renewOnce()))
      .catch((err: Error) => this.#o.log?.warn({ err }, 'stream: lease renewal pass failed'))
    return this.#renewal
  }

  async #renewOnce(): Promise<void> {
    const { kv, ttlMs, renewMs } = this.#o
    const sentAt = Date.now()
    // A failed liveness write must not keep the leases from being renewed.
    const liveness = kv.put(ENGINE_KEY_PREFIX + this.engineId, JSON.stringify({ at: sentAt })).catch((err: Error) => this.#o.log?.warn({ err }, 'stream: liveness key not written'))
    await Promise.all([liveness, ...[...this.#leases].map(([p, lease]) => this.#renew(p, lease, sentAt))])
    const now = Date.now()
    for (const [p, lease] of this.#leases) {
      if (now >= lease.validUntil) this.#lose(p, `not renewed within ${ttlMs - renewMs} ms`)
    }
  }

  /** Looks for live engines, then claims or releases to reach this engine's share; skipped while one is still running. */
  #balancePass(): Promise<void> {
    if (this.#balancing) return this.#balance
    this.#balancing = true
    this.#balance = this.#balanceOnce()
      .catch((err: Error) => this.#o.log?.warn({ err }, 'stream: lease balancing failed'))
      .finally(() => (this.#balancing = false))
    return this.#balance
  }

  async #balanceOnce(): Promise<void> {
    if (this.#stopping || this.#halted) return
    const { kv } = this.#o
    // A set: a key rewritten while the listing runs can be listed twice.
    const live = new Set<string>()
    for await (const key of await kv.keys(`${ENGINE_KEY_PREFIX}*`)) live.add(key)
    this.#liveEngines = Math.max(1, live.size)
    const target = Math.ceil(this.#o.partitions / this.#liveEngines)
    const active = [...this.#leases].filter(([, l]) => !l.releasing)
    if (active.length > target) {
      // Give up the most recently acquired: the others hold warmer state.
      active.sort((a, b) => b[1].acquiredAt - a[1].acquiredAt || b[0] - a[0])
      for (const [p] of active.slice(0, active.length - target)) void this.#release(p)
    } else if (active.length < target) {
      await this.#claim(target - active.length)
    }
  }

  async #renew(partition: number, lease: Lease, sentAt: number): Promise<void> {
    const record: LeaseRecord = { owner: this.engineId, epoch: lease.epoch }
    try {
      lease.revision = await this.#o.kv.update(leaseKey(partition), JSON.stringify(record), lease.revision)
      lease.validUntil = sentAt + this.#o.ttlMs - this.#o.renewMs
    } catch (err) {
      // Refused: the key expired or someone else holds it now. Anything else (a timeout) is retried next pass.
      if (isCasConflict(err)) this.#lose(partition, 'renewal refused: the lease expired or moved')
      else this.#o.log?.warn({ err, partition }, 'stream: lease renewal failed')
    }
  }

  async #claim(wanted: number): Promise<void> {
    const { kv } = this.#o
    for (const p of this.#order) {
      if (wanted <= 0 || this.#stopping || this.#halted) return
      if (this.#leases.has(p)) continue
      const entry = await kv.get(leaseKey(p))
      if (entry && entry.operation === 'PUT') continue
      const sentAt = Date.now()
      try {
        // The claim's revision is the epoch; the record names it once the first renewal rewrites it.
        const revision = await kv.create(leaseKey(p), JSON.stringify({ owner: this.engineId, epoch: 0 }))
        if (this.#stopping || this.#halted) {
          // Stopping began while the claim was on its way: give it back instead of starting work nobody will stop.
          await kv.delete(leaseKey(p), { previousSeq: revision }).catch(() => {})
          return
        }
        this.#leases.set(p, { epoch: revision, revision, validUntil: sentAt + this.#o.ttlMs - this.#o.renewMs, acquiredAt: sentAt, releasing: false })
        wanted--
        this.#o.log?.info({ partition: p, epoch: revision, engine: this.engineId }, 'stream: partition acquired')
        this.#o.onAcquired(p, revision)
      } catch (err) {
        if (!isCasConflict(err)) throw err
        // Someone else was faster.
      }
    }
  }

  #lose(partition: number, reason: string): void {
    if (!this.#leases.delete(partition)) return
    this.#o.log?.warn({ partition, reason, engine: this.engineId }, 'stream: partition lost')
    this.#o.onLost(partition, reason)
  }

  async #release(partition: number): Promise<void> {
    const lease = this.#leases.get(partition)
    if (!lease || lease.releasing) return
    lease.releasing = true
    try {
      await this.#o.onRelease(partition)
    } finally {
      // Still ours (renewed meanwhile): delete at the latest revision so the next claimer needs no TTL wait.
      if (this.#leases.get(partition) === lease) {
        this.#leases.delete(partition)
        await this.#o.kv.delete(leaseKey(partition), { previousSeq: lease.revision }).catch(() => {})
        this.#o.log?.info({ partition, engine: this.engineId }, 'stream: partition released')
      }
    }
  }
}
