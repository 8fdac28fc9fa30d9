// The stream engine of one process: partition leases decide which partitions it
// owns; each owned partition has a reader; the readers share one worker pool.
// Any number of processes run this against the same NATS; a dead one's
// partitions move to the others within a lease TTL and a renew period.
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { BEACONS_STREAM } from '../nats/subjects.ts'
import type { Logger } from '../runtime.ts'
import { setTimeout as sleep } from 'node:timers/promises'
import { backoffDelayMs } from '../retry.ts'
import { CheckpointStore } from './checkpoint-store.ts'
import { ConfigArchive } from './config-markers.ts'
import { JetStreamOutputSink, type OutputSink } from './output-sink.ts'
import { newEngineId, PartitionLeases } from './partition-leases.ts'
import { PartitionReader, type EvaluatorConfig, type PartitionStats } from './partition-reader.ts'
import type { StreamSettings } from './stream-config.ts'
import { ensureStreamLayout } from './stream-layout.ts'
import { WindowWorkerPool, type PoolStats } from './worker-pool.ts'

/** How often the owner of partition 0 purges config versions nothing needs any more. */
export const CONFIG_PURGE_INTERVAL_MS = 10 * 60_000

export interface StreamRuntimeOptions {
  nc: NatsConnection
  /** TIDEMARK_PARTITIONS: must be the same as ingest's. */
  partitions: number
  settings: StreamSettings
  replicas?: number
  engineId?: string
  /** Where outputs go; by default JetStream (window results on tm.windows.<p>). */
  sink?: OutputSink
  leasesBucket?: string
  checkpointsBucket?: string
  /** A module whose default export adds evaluators per series (the rule evaluator), loaded in each worker thread. */
  evaluatorModule?: string
  /** The evaluator module's config in effect now, e.g. the rules (see configChanged). */
  evaluatorConfig?: () => EvaluatorConfig
  log?: Logger
}

export interface StreamRuntimeStats {
  engineId: string
  liveEngines: number
  owned: number[]
  partitions: PartitionStats[]
  pool: PoolStats
  /** The evaluator module's counters summed over the threads (rule evaluations, transitions). */
  evaluatorCounters?: Record<string, number>
}

export class StreamRuntime {
  readonly engineId: string
  readonly pool: WindowWorkerPool
  readonly #leases: PartitionLeases
  readonly #readers = new Map<number, PartitionReader>()
  readonly #counters: Map<number, Record<string, number>>
  readonly #configs: ConfigArchive
  readonly #evaluatorConfig: (() => EvaluatorConfig) | undefined
  readonly #nc: NatsConnection
  #purgeTimer: NodeJS.Timeout | undefined

  private constructor(
    leases: PartitionLeases,
    pool: WindowWorkerPool,
    readers: Map<number, PartitionReader>,
    counters: Map<number, Record<string, number>>,
    configs: ConfigArchive,
    evaluatorConfig: (() => EvaluatorConfig) | undefined,
    nc: NatsConnection
  ) {
    this.#nc = nc
    this.#leases = leases
    this.pool = pool
    this.#readers = readers
    this.#counters = counters
    this.#configs = configs
    this.#evaluatorConfig = evaluatorConfig
    this.engineId = leases.engineId
  }

  static async start(o: StreamRuntimeOptions): Promise<StreamRuntime> {
    const s = o.settings
    const layout = await ensureStreamLayout(o.nc, { replicas: o.replicas ?? 1, leaseTtlMs: s.leaseTtlMs, leasesBucket: o.leasesBucket, checkpointsBucket: o.checkpointsBucket })
    const js = jetstream(o.nc)
    const checkpoints = new CheckpointStore(layout.checkpoints)
    const configs = new ConfigArchive(layout.checkpoints)
    // Stored before any checkpoint or marker can name it.
    const initial = o.evaluatorConfig?.()
    if (initial?.version !== undefined) await configs.put(initial.version, initial.config)
    const sink = o.sink ?? new JetStreamOutputSink(js)
    const pool = new WindowWorkerPool({ minThreads: s.minThreads, maxThreads: s.maxThreads, lagMessages: s.lagMessages })
    const readers = new Map<number, PartitionReader>()
    const engineId = o.engineId ?? newEngineId()
    // Per worker thread, the latest cumulative counters it reported.
    const counters = new Map<number, Record<string, number>>()
    const stopReader = async (partition: number, how: 'stop' | 'abort'): Promise<void> => {
      const reader = readers.get(partition)
      if (!reader) return
      readers.delete(partition)
      await (how === 'stop' ? reader.stop() : reader.abort())
      // Unless the partition came back meanwhile (a lease lost in an outage and claimed again): its new reader
      // opened in the pinned thread, and unpinned, its next tasks went to another thread, which waited forever
      // for an open (seen: nats-outage's shutdown hung on a reader awaiting the reply of its first apply).
      if (!readers.has(partition)) pool.unpin(partition)
    }
    const leases: PartitionLeases = new PartitionLeases({
      kv: layout.leases,
      partitions: o.partitions,
      engineId,
      ttlMs: s.leaseTtlMs,
      renewMs: s.leaseRenewMs,
      log: o.log,
      onAcquired: (partition, epoch) => {
        const reader = new PartitionReader({
          partition,
          epoch,
          engineId,
          js,
          pool,
          sink,
          checkpoints,
          settings: s,
          isOwner: () => leases.isOwner(partition),
          log: o.log,
          evaluatorModule: o.evaluatorModule,
          evaluatorConfig: o.evaluatorConfig,
          configs,
          onCounters: (threadId, c) => counters.set(threadId, c),
        })
        readers.set(partition, reader)
        reader.start()
      },
      onLost: (partition) => void stopReader(partition, 'abort'),
      onRelease: (partition) => stopReader(partition, 'stop'),
    })
    pool.on('partition-lost', (partition) => readers.get(partition)?.rebuild(`worker thread of partition ${partition} died`))
    pool.on('move', (partition, threadId) => readers.get(partition)?.moveTo(threadId))
    const runtime = new StreamRuntime(leases, pool, readers, counters, configs, o.evaluatorConfig, o.nc)
    runtime.#purgeTimer = setInterval(() => runtime.#purgeDue(o.log), CONFIG_PURGE_INTERVAL_MS)
    runtime.#purgeTimer.unref()
    await leases.start()
    return runtime
  }

  owned(): number[] {
    return this.#leases.owned()
  }

  stats(): StreamRuntimeStats {
    return {
      engineId: this.engineId,
      liveEngines: this.#leases.liveEngines,
      owned: this.owned(),
      partitions: [...this.#readers.values()].map((r) => ({ ...r.stats })).sort((a, b) => a.partition - b.partition),
      pool: this.pool.stats(),
      evaluatorCounters: this.#summedCounters(),
    }
  }

  #summedCounters(): Record<string, number> {
    const sum: Record<string, number> = {}
    for (const c of this.#counters.values()) for (const [k, v] of Object.entries(c)) sum[k] = (sum[k] ?? 0) + v
    return sum
  }

  /**
   * The evaluator config changed (a tenant's rules): store it under its version, then every owned partition
   * marks the change in its log (config-markers.ts); each thread switches configs when the log reaches the
   * marker, so what follows is a function of the log on every replay (docs/triggers.md, Rule changes).
   */
  async configChanged(): Promise<void> {
    const current = this.#evaluatorConfig?.()
    if (current?.version === undefined) return
    // Readers mark only stored versions (a checkpoint must never name one a replay cannot find): retry the store.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#configs.put(current.version, current.config)
        break
      } catch (err) {
        if (attempt >= 20) throw err
        await sleep(backoffDelayMs(attempt, { baseMs: 100, maxMs: 5000 }))
      }
    }
    for (const reader of this.#readers.values()) reader.configChanged()
  }

  /**
   * Purges the stored config versions nothing can need any more (ConfigArchive.purgeUnneeded): named by no
   * checkpoint, by no marker still in the beacons stream, not current. Run by the owner of partition 0 every
   * CONFIG_PURGE_INTERVAL_MS; answers the versions purged.
   */
  async purgeConfigVersions(graceMs?: number): Promise<string[]> {
    const info = await (await jetstreamManager(this.#nc)).streams.info(BEACONS_STREAM)
    return this.#configs.purgeUnneeded({ firstSeq: info.state.first_seq, lastSeq: info.state.last_seq, current: this.#evaluatorConfig?.().version, ...(graceMs === undefined ? {} : { graceMs }) })
  }

  #purgeDue(log: Logger | undefined): void {
    if (!this.#leases.isOwner(0)) return
    this.purgeConfigVersions().then(
      (purged) => {
        if (purged.length > 0) log?.info({ purged }, 'stream: config versions nothing needs any more purged')
      },
      (err: unknown) => log?.warn({ err }, 'stream: config version purge failed; next period retries')
    )
  }

  /** Hands every partition over (readers finish and checkpoint, leases are deleted), then ends the threads. */
  async stop(): Promise<void> {
    clearInterval(this.#purgeTimer)
    await this.#leases.stop()
    await this.pool.close()
  }

  /** Stops as abruptly as a kill would, but in-process: nothing is released or checkpointed (tests). */
  async halt(): Promise<void> {
    clearInterval(this.#purgeTimer)
    this.#leases.halt()
    await Promise.all([...this.#readers.values()].map((r) => r.abort().catch(() => {})))
    this.#readers.clear()
    await this.pool.close()
  }
}
