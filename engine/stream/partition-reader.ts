// Consumes one owned partition: reads tm.beacons.<p> in stream order through an
// ordered JetStream consumer, hands the messages to the partition's worker
// thread, publishes what comes back, and checkpoints.
//
// Every start (acquiring the lease, a rebuild after the worker thread died, a
// move to another thread) is a new generation: it loads the checkpoint, opens
// the partition in its thread from the checkpoint's resume point, and replays
// the log from there. Outputs of messages up to the checkpoint are not emitted
// again; later ones may be (the previous owner may have emitted them before
// dying): they are identical, and the sink drops them by id.
//
// Order of durability: outputs first, checkpoint after. A checkpoint never
// claims outputs that are not durable, so none is ever skipped.
//
// Idle partitions: when the partition has caught up, no message came for
// idleTimeoutMs, and a window is waiting, the owner publishes a watermark tick
// of wall-clock now minus the allowed lateness into the partition's subject
// (watermark-ticks.ts), so the last window of a quiet series still closes.
//
// Config changes (a tenant's rules): the owner publishes a config marker into
// the partition's subject (config-markers.ts) and the thread switches rule sets
// when the log reaches it; a checkpoint names the version in effect at its
// resume point, so a replay starts under the rules that were in effect there.
import { setTimeout as sleep } from 'node:timers/promises'
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JsMsg, type OrderedConsumerOptions } from '@nats-io/jetstream'
import { backoffDelayMs } from '../retry.ts'
import type { Logger } from '../runtime.ts'
import { BEACONS_STREAM, beaconSubject } from '../nats/subjects.ts'
import { toStored, type CheckpointStore, type SnapshotRef, type StoredCheckpoint } from './checkpoint-store.ts'
import { configMarkerMessage, configMarkerOf, type ConfigArchive } from './config-markers.ts'
import type { OutputSink } from './output-sink.ts'
import { DEFAULT_SNAPSHOT_INTERVAL_MS, DEFAULT_THREAD_SILENCE_MS, pipelineSettings, type StreamSettings } from './stream-config.ts'
import { tickMessage, tickOf } from './watermark-ticks.ts'
import type { PartitionCheckpoint } from './window-pipeline.ts'
import type { WindowWorkerPool } from './worker-pool.ts'
import type { WireMessage, WorkerReply, WorkerTask } from './worker-protocol.ts'

/** Tasks of one partition in its thread at once: enough to keep the thread busy while results are published. */
const MAX_IN_FLIGHT = 4
/** Messages per task at most: under backlog, several go together and the per-task cost is shared. */
const MAX_MESSAGES_PER_TASK = 64
/** Messages read ahead of the thread at most, and their bytes at most (a batch can be 1 MiB; most are tens of KB). */
const MAX_QUEUED = 128
const MAX_QUEUED_BYTES = 8 * 1024 * 1024
/** How long a stop or move waits for the thread's last checkpoint. */
const FINISH_TIMEOUT_MS = 5_000

export interface PartitionReaderOptions {
  partition: number
  /** The lease's epoch, sent with every output. */
  epoch: number
  engineId: string
  js: JetStreamClient
  pool: WindowWorkerPool
  sink: OutputSink
  checkpoints: CheckpointStore
  settings: StreamSettings
  /** Checked before anything leaves this process: false once the lease may be someone else's. */
  isOwner(): boolean
  log?: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>
  evaluatorModule?: string
  /** The configuration in effect now (the rules) and the evaluation grid; read at each generation's start and for markers. */
  evaluatorConfig?: () => EvaluatorConfig
  /** Configurations by version: what a checkpoint or a marker names when it is not the one in effect now. */
  configs?: ConfigArchive
  /** The evaluator module's cumulative counters of one thread, after every task (metrics). */
  onCounters?: (threadId: number, counters: Record<string, number>) => void
  stream?: string
}

export interface EvaluatorConfig {
  config: unknown
  /** Names config (a digest): config markers and checkpoints carry it. Without one, rule changes are not marked in the log. */
  version?: string
  evaluationIntervalMs?: number
}

export interface PartitionStats {
  partition: number
  epoch: number
  generation: number
  threadId: number | undefined
  state: 'starting' | 'running' | 'stopping' | 'stopped'
  /** Last stream sequence applied. */
  lastSeq: number
  watermark: number
  /** Late samples of this partition, counted over its whole log (the same on every owner). */
  late: number
  /** On-time samples applied by this process. */
  samples: number
  messages: number
  outputs: number
  ticksPublished: number
  /** Config markers this owner published (the rules changed). */
  markersPublished: number
  undecodable: number
  /** Messages not yet applied: stream pending plus those read ahead. */
  backlog: number
  checkpointSeq: number
  /**
   * Messages read again to rebuild state (at or before the checkpoint a generation opened from), over this
   * reader's generations: what a restart costs. Bounded by the checkpoint interval and the windows' horizon,
   * and by the snapshot interval for state a snapshot keeps (rules, anomaly scorers).
   */
  replayed: number
  /** Where the current generation's replay started (the checkpoint's resume point); 0 before the first. */
  resumeSeq: number
  /** Snapshots of the evaluators' states written by this reader, and the size of the last one. */
  snapshots: number
  snapshotBytes: number
  /** Generations after the first (worker lost, move, failure). */
  rebuilds: number
  lastError: string | null
}

/**
 * The lease's validity lapsed (a renewal is late). Nothing more leaves this
 * process; the generation ends and retries after a backoff. If the lease is
 * really gone the runtime aborts this reader; if the late renewal went through,
 * the retry carries on from the checkpoint.
 */
class LeaseLapsed extends Error {}

/**
 * Generations are numbered across every reader of the process: a partition lost
 * and acquired again gets a new reader, whose generations must still be newer
 * than the old one's in the thread that may hold its state.
 */
let generations = 0

export class PartitionReader {
  readonly stats: PartitionStats
  readonly #o: PartitionReaderOptions
  #generation = 0
  #n = 0
  #queue: WireMessage[] = []
  #queuedBytes = 0
  #inFlight = 0
  #results: Promise<void> = Promise.resolve()
  /** When the thread last answered a task of this generation (or, with none in flight, when one was sent). */
  #lastAnswerAt = 0
  #genError: Error | undefined
  #messages: ConsumerMessages | undefined
  #stopping = false
  #moveTo: number | undefined
  #loop: Promise<void> | undefined
  #revision = 0
  #lastCheckpointAt = 0
  #lastSnapshotAt = 0
  /** The snapshot the partition's checkpoint names: carried by every checkpoint until a newer one replaces it. */
  #snapshot: SnapshotRef | undefined
  /** Stream time (ms) of the last message read, or of the last tick this owner published. */
  #lastMessageAt = 0
  #streamPending = 0
  #nextDue = Infinity
  #tickTimer: NodeJS.Timeout | undefined
  #tickInFlight = false
  #spaceWaiters: Array<() => void> = []
  /** The config version in effect after the last message read (the checkpoint's, then each marker's). */
  #logVersion: string | undefined
  /** The version of the last marker this reader published, and whether one is being published. */
  #markedVersion: string | undefined
  #markInFlight = false
  #lastReadSeq = 0
  /** The current generation's checkpoint seq: messages up to it are a replay. */
  #replayThrough = 0

  constructor(options: PartitionReaderOptions) {
    this.#o = options
    this.stats = {
      partition: options.partition,
      epoch: options.epoch,
      generation: 0,
      threadId: undefined,
      state: 'starting',
      lastSeq: 0,
      watermark: -Infinity,
      late: 0,
      samples: 0,
      messages: 0,
      outputs: 0,
      ticksPublished: 0,
      markersPublished: 0,
      undecodable: 0,
      backlog: 0,
      checkpointSeq: 0,
      replayed: 0,
      resumeSeq: 0,
      snapshots: 0,
      snapshotBytes: 0,
      rebuilds: 0,
      lastError: null,
    }
  }

  start(): void {
    this.#loop = this.#supervise()
    const { idleTimeoutMs, checkpointIntervalMs } = this.#o.settings
    const every = Math.max(50, Math.min(Math.floor(idleTimeoutMs / 4), checkpointIntervalMs))
    this.#tickTimer = setInterval(() => {
      this.#checkThreadSilence()
      this.#maybeCheckpoint()
      void this.#maybeTick()
      void this.#maybeMark()
    }, every)
  }

  /** Graceful: stop reading, finish what is in the thread, publish it, write a last checkpoint, free the thread's state. */
  async stop(): Promise<void> {
    await this.#halt()
    if (this.#genError === undefined) await this.#finish(true).catch((err: Error) => this.#o.log?.warn({ err, partition: this.#o.partition }, 'stream: last checkpoint failed'))
    this.stats.state = 'stopped'
  }

  /** The lease is gone: stop at once; no checkpoint (someone else may be writing them now). */
  async abort(): Promise<void> {
    await this.#halt()
    await this.#finish(false).catch(() => {})
    this.stats.state = 'stopped'
  }

  /** The thread holding the state died: start a new generation, which replays from the checkpoint in a live thread. */
  rebuild(reason: string): void {
    this.#o.log?.warn({ partition: this.#o.partition, reason }, 'stream: rebuilding partition by replay')
    this.#fail(new Error(reason))
  }

  /** The configuration in effect changed (evaluatorConfig answers the new one): mark it in the log now. */
  configChanged(): void {
    void this.#maybeMark()
  }

  /** Moves the partition to another thread: checkpoint here, then replay there. */
  moveTo(threadId: number): void {
    this.#moveTo = threadId
    void this.#messages?.close()
  }

  async #halt(): Promise<void> {
    this.#stopping = true
    this.stats.state = 'stopping'
    clearInterval(this.#tickTimer)
    // The loop drains the iterator and ends; awaiting close() itself could hang before the loop starts (see above).
    void this.#messages?.close()
    await this.#loop
  }

  async #supervise(): Promise<void> {
    for (let failures = 0; !this.#stopping; ) {
      try {
        await this.#runGeneration()
        failures = 0
      } catch (err) {
        if (this.#stopping) break
        this.stats.lastError = (err as Error).message
        if (!(err instanceof LeaseLapsed)) this.#o.log?.warn({ err, partition: this.#o.partition }, 'stream: partition generation failed; replaying from the checkpoint')
        await sleep(backoffDelayMs(failures++, { baseMs: 100, maxMs: 5000 }))
      }
      if (this.#stopping) break
      const target = this.#moveTo
      if (target !== undefined) {
        this.#moveTo = undefined
        if (this.#genError === undefined) await this.#finish(true).catch(() => {})
        this.#o.pool.pin(this.#o.partition, target)
      }
      this.stats.rebuilds++
    }
  }

  /** One generation: open the partition in its thread from the checkpoint and consume until told to stop or something fails. */
  async #runGeneration(): Promise<void> {
    const o = this.#o
    const generation = (this.#generation = ++generations)
    this.stats.generation = generation
    // No tick or lone checkpoint while the generation opens.
    if (!this.#stopping) this.stats.state = 'starting'
    this.#n = 0
    this.#queue = []
    this.#queuedBytes = 0
    this.#inFlight = 0
    this.#results = Promise.resolve()
    this.#genError = undefined
    this.#nextDue = Infinity

    const { checkpoint, revision } = await o.checkpoints.loadOrAnchor(o.partition, () => this.#anchor())
    this.#revision = revision
    this.#snapshot = checkpoint.snapshot
    // The evaluators' states the checkpoint's resume point relies on; a missing chunk fails the generation.
    const snapshot = checkpoint.snapshot && (await o.checkpoints.loadSnapshot(checkpoint.snapshot))
    // Each partition's checkpoints and snapshots at its own phase of the period: in step, every partition's
    // thread work and KV writes for them came in the same few milliseconds each second.
    this.#lastSnapshotAt = Date.now() - Math.random() * (o.settings.snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS)
    this.#lastCheckpointAt = Date.now() - Math.random() * o.settings.checkpointIntervalMs
    this.stats.checkpointSeq = checkpoint.seq
    this.#replayThrough = checkpoint.seq
    this.stats.resumeSeq = checkpoint.resume.seq ?? 0
    const windows = o.settings.windows.map((w) => w.name).join(',')
    if (checkpoint.windows !== windows && checkpoint.seq > 0) {
      o.log?.warn({ partition: o.partition, was: checkpoint.windows, now: windows }, 'stream: window settings changed since the checkpoint; the first windows after it may be partial')
    }
    // The rules in effect at the resume point: the checkpoint names them (none before this was recorded: the current ones).
    const current = o.evaluatorConfig?.()
    const atResume = current === undefined || checkpoint.resume.config === undefined ? current : await this.#configOf(checkpoint.resume.config, current)
    this.#logVersion = atResume?.version
    // A change made while no one owned the partition, or while this generation loaded its checkpoint, is marked
    // now, before the thread opens: an open can take seconds (a worker loading the evaluator module, a snapshot),
    // and whatever reached the log meanwhile (another engine's data, ingest's usage samples stamped now) would be
    // decided under the old rules. Marking early is safe: a marker a later one already names changes nothing.
    await this.#maybeMark(true)
    const opened = await o.pool.run(o.partition, {
      op: 'open',
      partition: o.partition,
      generation,
      n: 0,
      settings: pipelineSettings(o.settings),
      resume: { seq: checkpoint.resume.seq ?? 1, watermark: checkpoint.resume.watermark, late: checkpoint.resume.late },
      suppressThroughSeq: checkpoint.seq,
      evaluatorModule: o.evaluatorModule,
      ...(atResume === undefined
        ? {}
        : { evaluatorConfig: atResume.config, evaluatorConfigVersion: atResume.version, evaluationIntervalMs: current?.evaluationIntervalMs }),
      ...(snapshot ? { snapshot } : {}),
    }, snapshot ? [snapshot.buffer as ArrayBuffer] : undefined)
    this.#absorb(opened)

    const start: Partial<OrderedConsumerOptions> =
      checkpoint.resume.seq !== undefined
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: checkpoint.resume.seq }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: checkpoint.resume.startTime }
    const consumer = await o.js.consumers.get(o.stream ?? BEACONS_STREAM, { filter_subjects: beaconSubject(o.partition), ...start })
    const messages = await consumer.consume({ max_messages: MAX_QUEUED })
    this.#messages = messages
    // A stop, move or rebuild that came while this generation was opening (an idle partition would otherwise
    // wait for its next message). Never await close() of messages nobody iterates: nats.js resolves it only
    // once the iterator is drained (measured: it hung forever).
    if (this.#stopping || this.#moveTo !== undefined || this.#genError) void messages.close()
    if (!this.#stopping) this.stats.state = 'running'
    try {
      for await (const m of messages) {
        if (this.#genError) break
        const version = configMarkerOf(m)
        if (version === undefined) this.#read(m)
        else this.#read(m, await this.#markerWire(m.seq, version))
        this.#pump(generation)
        while ((this.#queue.length >= MAX_QUEUED || this.#queuedBytes >= MAX_QUEUED_BYTES) && !this.#genError) await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve))
      }
    } finally {
      void messages.close()
    }
    await this.#answers()
    if (this.#genError) throw this.#genError
  }

  get #threadSilenceMs(): number {
    return this.#o.settings.threadSilenceMs ?? DEFAULT_THREAD_SILENCE_MS
  }

  /**
   * Waits for the answers to the generation's tasks, but not past the thread's silence: a task its thread can
   * never apply (sent where the partition has no open, as when a lost lease's reader unpinned it) once held this
   * await, and every stop behind it, forever. Its answer, if it ever comes, is ignored (#send).
   */
  async #answers(): Promise<void> {
    for (;;) {
      if (this.#inFlight === 0) return await this.#results
      const left = this.#threadSilenceMs - (Date.now() - this.#lastAnswerAt)
      if (left <= 0) {
        this.#fail(this.#silenceError())
        return
      }
      const timer = new AbortController()
      await Promise.race([this.#results, sleep(left, undefined, { signal: timer.signal }).catch(() => {})])
      timer.abort()
    }
  }

  /** Mid-generation: tasks in the thread and no answer for the silence: replay from the checkpoint (supervise). */
  #checkThreadSilence(): void {
    if (this.#inFlight === 0 || this.#genError || Date.now() - this.#lastAnswerAt < this.#threadSilenceMs) return
    this.#fail(this.#silenceError())
  }

  #silenceError(): Error {
    return new Error(`partition ${this.#o.partition}: its thread answered none of ${this.#inFlight} tasks for ${Date.now() - this.#lastAnswerAt} ms`)
  }

  #anchor(): StoredCheckpoint {
    const o = this.#o
    return {
      v: 1,
      seq: 0,
      resume: { startTime: new Date(Date.now() - o.settings.coldStartLookbackMs).toISOString(), watermark: -Infinity, late: 0 },
      watermark: -Infinity,
      late: 0,
      windows: o.settings.windows.map((w) => w.name).join(','),
      owner: o.engineId,
      epoch: o.epoch,
      at: Date.now(),
    }
  }

  /**
   * The configuration a marker names, for the thread. Not the current one and not stored (a store lost): the
   * current one, logged, so the partition goes on under rules that exist.
   */
  async #markerWire(seq: number, version: string): Promise<WireMessage> {
    const current = this.#o.evaluatorConfig?.()
    this.#logVersion = version
    if (current === undefined) return { seq, configVersion: version, config: undefined }
    const resolved = await this.#configOf(version, current)
    this.#logVersion = resolved.version
    // The grid only decides when evaluations are broadcast, never what they decide: the current one will do.
    return { seq, configVersion: resolved.version ?? version, config: resolved.config, evaluationIntervalMs: current.evaluationIntervalMs }
  }

  async #configOf(version: string, current: EvaluatorConfig): Promise<EvaluatorConfig> {
    if (version === current.version) return current
    const stored = await this.#o.configs?.get(version)
    if (stored !== undefined) return { ...current, version, config: stored }
    this.#o.log?.warn({ partition: this.#o.partition, version }, 'stream: the configuration a checkpoint or marker names is not stored; going on under the current one')
    return current
  }

  #read(m: JsMsg, control?: WireMessage): void {
    this.stats.messages++
    if (m.seq <= this.#replayThrough) this.stats.replayed++
    this.#lastReadSeq = m.seq
    const watermark = control === undefined ? tickOf(m) : undefined
    // m.data is a view into the connection's read buffer (and Buffer#slice would be one too): copy the bytes
    // into a buffer of their own, which can then be transferred to the thread without detaching anything else.
    this.#queue.push(control ?? (watermark === undefined ? { seq: m.seq, data: new Uint8Array(m.data) } : { seq: m.seq, watermark }))
    if (control === undefined && watermark === undefined) this.#queuedBytes += m.data.length
    this.#lastMessageAt = Number(m.timestampNanos / 1_000_000n)
    this.#streamPending = m.info.pending
    this.#reportBacklog()
  }

  #reportBacklog(): void {
    this.stats.backlog = this.#streamPending + this.#queue.length
    this.#o.pool.reportBacklog(this.#o.partition, this.stats.backlog)
  }

  #pump(generation: number): void {
    while (this.#inFlight < MAX_IN_FLIGHT && this.#queue.length > 0 && generation === this.#generation && !this.#genError) {
      const messages = this.#queue.splice(0, MAX_MESSAGES_PER_TASK)
      for (const m of messages) if ('data' in m) this.#queuedBytes -= m.data.length
      const checkpoint = this.#checkpointDue()
      const snapshot = checkpoint && this.#snapshotDue()
      const transfer: ArrayBuffer[] = []
      for (const m of messages) if ('data' in m) transfer.push(m.data.buffer as ArrayBuffer)
      this.#send({ op: 'apply', partition: this.#o.partition, generation, n: ++this.#n, messages, checkpoint, snapshot }, transfer, generation)
    }
  }

  #checkpointDue(): boolean {
    const now = Date.now()
    if (now - this.#lastCheckpointAt < this.#o.settings.checkpointIntervalMs) return false
    this.#lastCheckpointAt = now
    return true
  }

  #snapshotDue(): boolean {
    const now = Date.now()
    if (now - this.#lastSnapshotAt < (this.#o.settings.snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS)) return false
    this.#lastSnapshotAt = now
    return true
  }

  /** Sends a task to the partition's thread; its reply is handled after every earlier one, in order. */
  #send(task: WorkerTask, transfer: ArrayBuffer[], generation: number): void {
    if (this.#inFlight === 0) this.#lastAnswerAt = Date.now()
    this.#inFlight++
    const reply = this.#o.pool.run(this.#o.partition, task, transfer)
    // Handled in order below; this keeps an early rejection from counting as unhandled meanwhile.
    reply.catch(() => {})
    this.#results = this.#results.then(async () => {
      // A generation given up on for its thread's silence (#answers) may be answered after the next one began:
      // nothing of it may touch the new one's counts.
      if (generation !== this.#generation) return
      try {
        if (!this.#genError) await this.#handle(await reply, generation, task)
      } catch (err) {
        if (generation === this.#generation) this.#fail(err as Error)
      } finally {
        if (generation === this.#generation) {
          this.#lastAnswerAt = Date.now()
          this.#inFlight--
          this.#reportBacklog()
          for (const wake of this.#spaceWaiters.splice(0)) wake()
          this.#pump(generation)
        }
      }
    })
  }

  #fail(err: Error): void {
    this.#genError ??= err
    for (const wake of this.#spaceWaiters.splice(0)) wake()
    void this.#messages?.close()
  }

  async #handle(reply: WorkerReply, generation: number, task: WorkerTask): Promise<void> {
    const o = this.#o
    if (generation !== this.#generation) return
    if (reply.stale) throw new Error(`thread ${reply.threadId} answered stale for generation ${generation}`)
    if (!o.isOwner()) throw new LeaseLapsed(`partition ${o.partition}: lease not valid now`)
    if (reply.outputs.length > 0) {
      await o.sink.publish(o.partition, o.epoch, reply.outputs)
      this.stats.outputs += reply.outputs.length
    }
    this.#absorb(reply)
    this.stats.samples += reply.samples
    this.stats.undecodable += reply.undecodable
    if (reply.checkpoint) await this.#save(reply.checkpoint)
    else if (task.op === 'apply' && task.checkpoint) {
      // The thread put the checkpoint off (work a broadcast put off is still being spread): ask with the next task.
      this.#lastCheckpointAt = 0
      if (task.snapshot) this.#lastSnapshotAt = 0
    }
  }

  #absorb(reply: WorkerReply): void {
    this.stats.threadId = reply.threadId
    this.stats.lastSeq = reply.lastSeq
    this.stats.watermark = reply.watermark
    this.stats.late = reply.late
    this.#nextDue = reply.nextDue
    if (reply.evaluatorCounters) this.#o.onCounters?.(reply.threadId, reply.evaluatorCounters)
  }

  async #save(checkpoint: PartitionCheckpoint): Promise<void> {
    const o = this.#o
    // A checkpoint with a snapshot is written even at the same seq: the thread's evaluators now reckon their
    // replay points from that snapshot, so the next checkpoints must name it.
    if (checkpoint.seq <= this.stats.checkpointSeq && checkpoint.snapshot === undefined) return
    if (!o.isOwner()) throw new LeaseLapsed(`partition ${o.partition}: lease not valid now`)
    const fresh = checkpoint.snapshot && (await o.checkpoints.saveSnapshot(o.partition, o.epoch, checkpoint.seq, checkpoint.snapshot))
    const snapshot = fresh ?? this.#snapshot
    const stored = toStored(checkpoint, { windows: o.settings.windows.map((w) => w.name).join(','), owner: o.engineId, epoch: o.epoch, snapshot })
    // A fresh snapshot is purged by save() only if this checkpoint surely was not written (see there).
    const revision = await o.checkpoints.save(o.partition, stored, this.#revision, fresh)
    // Someone wrote a newer one: our state is behind; rebuild from theirs.
    if (revision === undefined) throw new Error(`partition ${o.partition}: a newer checkpoint was written elsewhere`)
    const replaced = this.#snapshot
    this.#revision = revision
    this.#snapshot = snapshot
    this.stats.checkpointSeq = Math.max(this.stats.checkpointSeq, checkpoint.seq)
    if (fresh) {
      this.stats.snapshots++
      this.stats.snapshotBytes = fresh.bytes
      if (replaced) void o.checkpoints.dropSnapshot(replaced)
    }
  }

  /**
   * Ends the generation's work in its thread: optionally a last checkpoint, then
   * the thread drops the state. Bounded in time: if the thread died meanwhile,
   * the partition's next tasks wait in a new thread for an open that never comes.
   */
  async #finish(checkpoint: boolean): Promise<void> {
    const timer = new AbortController()
    const timeout = sleep(FINISH_TIMEOUT_MS, undefined, { signal: timer.signal }).then(() => {
      throw new Error(`partition ${this.#o.partition}: its thread did not answer within ${FINISH_TIMEOUT_MS} ms`)
    })
    // Aborted below once the work is done, or lost the race: either way nobody needs this rejection.
    timeout.catch(() => {})
    try {
      await Promise.race([this.#finishInThread(checkpoint), timeout])
    } finally {
      timer.abort()
    }
  }

  async #finishInThread(checkpoint: boolean): Promise<void> {
    const o = this.#o
    const generation = this.#generation
    if (generation === 0) return
    if (checkpoint && o.isOwner()) {
      const reply = await o.pool.run(o.partition, { op: 'checkpoint', partition: o.partition, generation, n: ++this.#n, snapshot: true })
      // Outputs a broadcast put off come with the checkpoint that covers them: durable first, as always.
      if (!reply.stale && reply.outputs.length > 0 && o.isOwner()) await o.sink.publish(o.partition, o.epoch, reply.outputs)
      if (!reply.stale && reply.checkpoint) await this.#save(reply.checkpoint)
    }
    await o.pool.run(o.partition, { op: 'close', partition: o.partition, generation, n: ++this.#n })
  }

  /** Nothing in flight, so no apply task carries a checkpoint: take one on its own once the interval has passed. */
  #maybeCheckpoint(): void {
    if (this.stats.state !== 'running' || this.#inFlight > 0 || this.#genError) return
    if (this.stats.lastSeq <= this.stats.checkpointSeq || !this.#checkpointDue()) return
    const generation = this.#generation
    this.#send({ op: 'checkpoint', partition: this.#o.partition, generation, n: ++this.#n, snapshot: this.#snapshotDue() }, [], generation)
  }

  /**
   * Publishes a config marker when the configuration in effect differs from the one the log is at: when told
   * of a change, and on every period (a new owner, a change made while no one owned the partition or while
   * this generation was opening; a generation also checks before its thread opens). Not waiting to catch up,
   * which a busy partition rarely is: a reader behind its log may mark a version a marker further on already
   * names, which changes nothing. Only the owner publishes.
   */
  async #maybeMark(opening = false): Promise<void> {
    const o = this.#o
    const version = o.evaluatorConfig?.().version
    const state = this.stats.state
    if (version === undefined || !(state === 'running' || (opening && state === 'starting')) || this.#markInFlight || !this.#markDue() || !o.isOwner()) return
    this.#markInFlight = true
    try {
      const marker = configMarkerMessage(o.partition, version, o.epoch, this.#lastReadSeq)
      // Recorded before and after: a version is kept while a marker naming it is still in the stream.
      await o.configs?.noteMarker(version, o.partition)
      const ack = await o.js.publish(beaconSubject(o.partition), marker.data, { headers: marker.headers, msgID: marker.msgID })
      await o.configs?.noteMarker(version, o.partition, ack.seq)
      this.#markedVersion = version
      this.stats.markersPublished++
      o.log?.info({ partition: o.partition, version, afterSeq: this.#lastReadSeq }, 'stream: config change marked in the partition')
    } catch (err) {
      o.log?.warn({ err, partition: o.partition }, 'stream: config marker not published; next period retries')
    } finally {
      this.#markInFlight = false
    }
  }

  /**
   * A config marker is due and not yet published: it goes into the log before any tick (the rules in effect
   * now apply from now). Only for a stored version: a checkpoint must never name one a replay cannot find.
   */
  #markDue(): boolean {
    const o = this.#o
    const version = o.evaluatorConfig?.().version
    return this.#markPending() && (o.configs === undefined || o.configs.has(version as string))
  }

  /**
   * The configuration in effect is not the one the log is at, marked or not yet (its version may still be on its
   * way into the archive): no tick may go before its marker, or the tick's watermark would decide under the old
   * rules what the new ones decide (seen: a removed rule's alert resolved at a tick 5 minutes after the change).
   */
  #markPending(): boolean {
    const version = this.#o.evaluatorConfig?.().version
    return version !== undefined && version !== this.#logVersion && version !== this.#markedVersion
  }

  async #maybeTick(): Promise<void> {
    const o = this.#o
    if (this.stats.state !== 'running' || this.#tickInFlight || this.#markPending()) return
    if (this.#queue.length > 0 || this.#inFlight > 0 || this.#streamPending > 0) return
    const now = Date.now()
    if (now - this.#lastMessageAt < o.settings.idleTimeoutMs || this.#nextDue === Infinity) return
    const watermark = now - o.settings.allowedLatenessMs
    if (watermark < this.#nextDue || watermark <= this.stats.watermark || !o.isOwner()) return
    this.#tickInFlight = true
    try {
      const tick = tickMessage(o.partition, watermark)
      await o.js.publish(beaconSubject(o.partition), tick.data, { headers: tick.headers, msgID: tick.msgID })
      this.stats.ticksPublished++
      // The next tick waits a full idle period again, even before this one comes back through the log.
      this.#lastMessageAt = now
    } catch (err) {
      o.log?.warn({ err, partition: o.partition }, 'stream: watermark tick not published; next period retries')
    } finally {
      this.#tickInFlight = false
    }
  }
}
