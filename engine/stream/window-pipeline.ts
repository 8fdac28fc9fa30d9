// One partition's pipeline, inside a worker thread. The partition's log comes in
// message by message, in stream order; the partition clock keeps the watermark
// and counts late samples; an RxJS pipeline groups the on-time samples by
// series, feeds each series' evaluators (its windows, and rules beside them),
// and merges in the watermark, broadcast to every series whenever it crosses a
// pane boundary (only then can a window close). Everything here is a function of
// the log and the settings: replaying the same messages gives the same outputs.
//
// Watermark: max event time seen minus the allowed lateness, or a watermark
// tick from the log, whichever is later; it never goes back. It advances after a
// whole message is applied, so samples of one batch are never late to each
// other. A sample older than the watermark at its arrival is late: counted,
// never added to a window (storage keeps it anyway; storage reads the log too).
import { Observable, Subject, filter, groupBy, mergeMap, type GroupedObservable } from 'rxjs'
import { SampleField, seriesKey, type Sample } from '../model/sample.ts'
import type { PipelineSettings } from './stream-config.ts'
import { encodeSnapshot, type AwakeSeries, type PartitionSnapshot } from './partition-snapshot.ts'
import type { MessageContext, RestoredState, SeriesEvaluator, SeriesEvaluatorFactory, SeriesIdentity, StreamOutput } from './series-evaluator.ts'
import { gcd, SeriesWindows, WindowGrid } from './windows.ts'

/**
 * One message of a partition's log, decoded. A config marker switches the extra evaluators (the rules in
 * effect) at its place in the log: `evaluators` is the factory of its configuration, `version` names it.
 */
export type LogEntry =
  | { kind: 'batch'; seq: number; samples: Sample[] }
  | { kind: 'watermark'; seq: number; watermark: number }
  | { kind: 'config'; seq: number; version: string; evaluators: SeriesEvaluatorFactory | undefined; evaluationIntervalMs?: number }

/** The partition's state just before the message at seq: where a replay starts. */
export interface ResumePoint {
  seq: number
  /** -Infinity (null in JSON) before any sample. */
  watermark: number
  late: number
  /** The configuration (rules) version in effect just before seq; absent when the pipeline was given none. */
  config?: string
}

/** What a replay needs to rebuild a partition exactly, taken after the message at seq was applied. */
export interface PartitionCheckpoint {
  /** Outputs of every message up to this one were emitted (the checkpoint is written only after they are durable). */
  seq: number
  resume: ResumePoint
  watermark: number
  late: number
  /**
   * The evaluators' snapshot states (partition-snapshot.ts), taken with this checkpoint when asked; the
   * resume point above then reaches back only to what the snapshot does not include.
   */
  snapshot?: Uint8Array
}

export interface PipelineStart {
  /** Rebuild from here (a checkpoint's resume point); absent: an empty partition before its first message. */
  resume?: ResumePoint
  /** Outputs of messages up to this seq were emitted before: replay them without emitting (a checkpoint's seq). */
  suppressThroughSeq?: number
  /** Extra evaluators per series (rules, anomaly scores) beside the windows. */
  evaluators?: SeriesEvaluatorFactory
  /** The version of the configuration `evaluators` was made from: the one in effect at the resume point. */
  configVersion?: string
  /** Broadcast the watermark at least this often in event time (a rule evaluation interval); the window hops always count. */
  evaluationIntervalMs?: number
  /** The snapshot the checkpoint refers to: evaluators' states handed back as their series open. */
  snapshot?: PartitionSnapshot
  /**
   * Let evaluators put off bulk work at a broadcast (SeriesEvaluator.onWatermark's later), finished by
   * finishLater() over the next messages: the worker threads do, so that one partition's burst of anomaly
   * scoring at a broadcast does not hold up the other partitions' tasks in the thread.
   */
  spread?: boolean
}

/** States of series with no open group: from the snapshot the pipeline started with, or left by a group that ended. */
interface Dormant {
  throughSeq: number
  states: Map<string, Uint8Array>
}

interface Close {
  watermark: number
  emit: boolean
}

interface SeriesState {
  identity: SeriesIdentity
  /** The windows first, then the extra evaluators. */
  evaluators: SeriesEvaluator[]
  /**
   * The per-sample path calls the windows on their own call site, which stays monomorphic (inlined), and the
   * extra evaluators on another: measured, one loop over all three kinds (windows, rules, scorers) made the
   * windows' onSample a megamorphic call and cost the pipeline more than the scorers themselves.
   */
  windows: SeriesWindows
  extra: SeriesEvaluator[]
}

const KEY_SEPARATOR = '\u0000'

function seriesOf(sample: Sample): string {
  return sample[SampleField.Tenant] + KEY_SEPARATOR + seriesKey(sample[SampleField.Metric], sample[SampleField.Tags])
}

export class PartitionPipeline {
  readonly partition: number
  readonly #settings: PipelineSettings
  readonly #grid: WindowGrid
  /**
   * The grid rule evaluations are decided on: the panes at the start, finer when a config marker brings a
   * shorter evaluation interval (the panes, which hold window state, stay as they are).
   */
  #evalMs: number
  #extra: SeriesEvaluatorFactory | undefined
  /** The configuration version at the start, then each config marker applied: what a checkpoint's resume point names. */
  readonly #configs: { seq: number; version: string | undefined }[]
  readonly #suppressThrough: number
  readonly #samples = new Subject<Sample>()
  readonly #closes = new Subject<Close>()
  readonly #series = new Map<string, SeriesState>()
  readonly #dormant = new Map<string, Dormant>()
  #out: StreamOutput[] = []
  /** Evaluators that put work off at the last broadcast, by group (spread). */
  readonly #later = new Map<number, SeriesEvaluator[]>()
  readonly #putOff: ((evaluator: SeriesEvaluator, group: number) => void) | undefined
  #ctx: MessageContext
  #watermark: number
  #late: number
  #lastSeq: number
  /** Earliest pane boundary at which something is due, as of the last broadcast. */
  #dueAtBroadcast = Infinity
  /** Oldest on-time sample since the last broadcast. */
  #minTsSinceBroadcast = Infinity
  #onTime = 0
  /** The pipeline started from a snapshot or took one: its checkpoints name one from then on. */
  #hadSnapshot: boolean

  constructor(partition: number, settings: PipelineSettings, start: PipelineStart = {}) {
    this.partition = partition
    this.#settings = settings
    this.#grid = new WindowGrid(settings.windows, start.evaluationIntervalMs)
    this.#evalMs = this.#grid.paneMs
    this.#extra = start.evaluators
    this.#configs = [{ seq: -Infinity, version: start.configVersion }]
    this.#suppressThrough = start.suppressThroughSeq ?? 0
    this.#putOff = start.spread
      ? (evaluator, group) => {
          let waiting = this.#later.get(group)
          if (!waiting) this.#later.set(group, (waiting = []))
          waiting.push(evaluator)
        }
      : undefined
    const resume = start.resume ?? { seq: 1, watermark: -Infinity, late: 0 }
    this.#watermark = resume.watermark
    this.#late = resume.late
    this.#lastSeq = resume.seq - 1
    this.#ctx = { seq: this.#lastSeq, watermarkBefore: this.#watermark, lateBefore: this.#late }
    this.#hadSnapshot = start.snapshot !== undefined
    if (start.snapshot) for (const [key, states] of start.snapshot.states) this.#dormant.set(key, { throughSeq: start.snapshot.seq, states })
    this.#samples
      .pipe(
        groupBy(seriesOf, {
          // A series whose evaluators hold nothing ends its group; a later sample starts a fresh one.
          duration: (group) => this.#closes.pipe(filter(() => this.#idle(group.key))),
        }),
        mergeMap((group) => this.#seriesPipeline(group))
      )
      .subscribe((output) => this.#out.push(output))
    // Series whose state had work due at the snapshot open now, before any replayed message: a firing alert
    // must still resolve, a ladder still step, if the series sends nothing more (an open-only sample, NaN time).
    if (start.snapshot) {
      for (const a of start.snapshot.awake.values()) this.#samples.next([a.tenant, a.metric, NaN, NaN, a.tags, 0] as Sample)
      // Their work is due from now (nextDue): an idle partition is ticked only up to it, and with nothing left to
      // replay no broadcast would ever say so (a ladder stepping down stayed up until data came).
      if (start.snapshot.awake.size > 0) this.#recomputeDue()
    }
  }

  /**
   * Windows and evaluators of one series, with the watermark merged in. One
   * observable subscribing to both, rather than tap/ignoreElements/merge: on the
   * per-sample path that removed three operator layers (measured: the RxJS
   * layers were a third of the pipeline's time, window-bench.ts).
   */
  #seriesPipeline(group: GroupedObservable<string, Sample>): Observable<StreamOutput> {
    return new Observable<StreamOutput>((subscriber) => {
      let state: SeriesState | undefined
      const closes = this.#closes.subscribe((close) => {
        if (!state) return
        const out: StreamOutput[] = []
        for (const e of state.evaluators) e.onWatermark(close.watermark, close.emit, out, this.#putOff)
        for (const o of out) subscriber.next(o)
      })
      const samples = group.subscribe({
        next: (s) => {
          state ??= this.#open(group.key, s)
          const ts = s[SampleField.Ts]
          // An open-only sample (a series awake in the snapshot): nothing to add.
          if (ts !== ts) return
          const value = s[SampleField.Value]
          const ctx = this.#ctx
          state.windows.onSample(ts, value, ctx)
          const extra = state.extra
          for (let i = 0; i < extra.length; i++) (extra[i] as SeriesEvaluator).onSample(ts, value, ctx)
        },
        complete: () => {
          closes.unsubscribe()
          if (state) this.#keepStates(group.key, state, this.#ctx.seq)
          this.#series.delete(group.key)
          subscriber.complete()
        },
      })
      return () => {
        samples.unsubscribe()
        closes.unsubscribe()
      }
    })
  }

  #open(key: string, first: Sample): SeriesState {
    const identity: SeriesIdentity = {
      partition: this.partition,
      tenant: first[SampleField.Tenant],
      series: key.slice(key.indexOf(KEY_SEPARATOR) + 1),
      metric: first[SampleField.Metric],
      tags: first[SampleField.Tags],
    }
    const windows = new SeriesWindows(this.#grid, identity, this.#settings.quantileAccuracy)
    const extra: SeriesEvaluator[] = []
    if (this.#extra) {
      const dormant = this.#dormant.get(key)
      if (dormant) this.#dormant.delete(key)
      const restored = dormant && ((name: string): RestoredState | undefined => {
        const bytes = dormant.states.get(name)
        return bytes && { bytes, throughSeq: dormant.throughSeq }
      })
      extra.push(...this.#extra(identity, restored))
    }
    const evaluators: SeriesEvaluator[] = [windows, ...extra]
    const state: SeriesState = { identity, evaluators, windows, extra }
    this.#series.set(key, state)
    return state
  }

  /** A series' group ends: what its evaluators must carry (snapshot states) waits for the series to return. */
  #keepStates(key: string, state: SeriesState, throughSeq: number): void {
    let states: Map<string, Uint8Array> | undefined
    for (const e of state.evaluators) {
      if (e.snapshot === undefined || e.stateName === undefined) continue
      const bytes = e.snapshot()
      if (bytes === undefined) continue
      states ??= new Map()
      states.set(e.stateName, bytes)
    }
    if (states) this.#dormant.set(key, { throughSeq, states })
  }

  #idle(key: string): boolean {
    const state = this.#series.get(key)
    return state === undefined || state.evaluators.every((e) => e.isIdle())
  }

  /**
   * Applies one message and appends what it emits to out. A message at or before
   * the last one applied is a redelivery and changes nothing.
   */
  apply(entry: LogEntry, out: StreamOutput[]): void {
    if (entry.seq <= this.#lastSeq) return
    this.#out = out
    const ctx: MessageContext = { seq: entry.seq, watermarkBefore: this.#watermark, lateBefore: this.#late }
    this.#ctx = ctx
    let candidate: number
    if (entry.kind === 'batch') {
      const watermark = this.#watermark
      let maxTs = -Infinity
      let minTs = this.#minTsSinceBroadcast
      for (const s of entry.samples) {
        const ts = s[SampleField.Ts]
        if (ts < watermark) {
          this.#late++
          continue
        }
        this.#onTime++
        if (ts > maxTs) maxTs = ts
        if (ts < minTs) minTs = ts
        this.#samples.next(s)
      }
      this.#minTsSinceBroadcast = minTs
      candidate = maxTs - this.#settings.allowedLatenessMs
    } else if (entry.kind === 'watermark') {
      candidate = entry.watermark
    } else {
      this.#reconfigure(entry)
      this.#lastSeq = entry.seq
      return
    }
    if (candidate > this.#watermark) {
      const pane = this.#grid.paneMs
      const every = this.#evalMs
      const previous = this.#watermark
      const before = previous === -Infinity ? -Infinity : Math.floor(previous / pane)
      this.#watermark = candidate
      // A window [s, e) is final once the watermark reaches e; a rule evaluation at grid time t reads samples
      // stamped <= t, final only once the watermark passes t (reaches t + 1). With rules beside the windows,
      // broadcast at both, or an evaluation whose watermark lands exactly on its grid time would wait a pane.
      const crossed =
        Math.floor(candidate / pane) > before || (this.#extra !== undefined && (previous === -Infinity || Math.floor((candidate - 1) / every) > Math.floor((previous - 1) / every)))
      if (crossed) this.#broadcast(entry.seq > this.#suppressThrough)
    }
    this.#lastSeq = entry.seq
  }

  /**
   * A config marker: what the old configuration decides below the watermark is decided first (a broadcast of
   * the current watermark: outputs are stamped with event time, so an extra broadcast changes when they leave,
   * not what they are), then every live series' evaluators are rebuilt under the new one at event time
   * `watermark`. A marker naming the configuration already in effect changes nothing.
   */
  #reconfigure(entry: Extract<LogEntry, { kind: 'config' }>): void {
    const current = this.#configs[this.#configs.length - 1] as { version: string | undefined }
    if (entry.version === current.version) return
    const emit = entry.seq > this.#suppressThrough
    if (this.#watermark !== -Infinity) this.#broadcast(emit)
    this.#extra = entry.evaluators
    // A shorter evaluation interval under the new rules: decide on its grid (the gcd keeps every pane boundary on it).
    if (entry.evaluationIntervalMs !== undefined) this.#evalMs = gcd(this.#grid.paneMs, entry.evaluationIntervalMs)
    // One entry per rule change in this generation: few, and a resume point may be older than many of them.
    this.#configs.push({ seq: entry.seq, version: entry.version })
    const factory = entry.evaluators
    if (factory !== undefined) {
      const change = { at: this.#watermark, emit, out: this.#out, ctx: this.#ctx }
      for (const state of this.#series.values()) {
        state.extra = factory(state.identity, undefined, { ...change, previous: state.extra })
        state.evaluators = [state.windows, ...state.extra]
      }
    }
    this.#recomputeDue()
  }

  #broadcast(emit: boolean): void {
    // What the last broadcast put off first: a group's work reads what that broadcast left (anomaly-scoring points).
    this.#finishAll()
    this.#closes.next({ watermark: this.#watermark, emit })
    this.#recomputeDue()
  }

  #recomputeDue(): void {
    let due = Infinity
    for (const state of this.#series.values()) {
      for (const e of state.evaluators) {
        const d = e.nextDue()
        if (d < due) due = d
      }
    }
    this.#dueAtBroadcast = due
    this.#minTsSinceBroadcast = Infinity
  }

  /**
   * Finishes work evaluators put off at the last broadcast (spread), a group at a time, while budgetMs lasts
   * (at least one group), into out. The worker calls it after each task's messages, with no limit before a
   * checkpoint.
   */
  finishLater(out: StreamOutput[], budgetMs: number): void {
    if (this.#later.size === 0) return
    this.#out = out
    const deadline = performance.now() + budgetMs
    for (const [group, waiting] of this.#later) {
      this.#later.delete(group)
      for (const e of waiting) e.finishLater?.(out)
      if (performance.now() >= deadline) return
    }
  }

  /** Work put off: outstanding until finishLater() has run through every group. */
  get hasLaterWork(): boolean {
    return this.#later.size > 0
  }

  #finishAll(): void {
    this.finishLater(this.#out, Infinity)
  }

  get watermark(): number {
    return this.#watermark
  }

  get late(): number {
    return this.#late
  }

  /** On-time samples applied since this pipeline was built. */
  get onTime(): number {
    return this.#onTime
  }

  get lastSeq(): number {
    return this.#lastSeq
  }

  get seriesCount(): number {
    return this.#series.size
  }

  /**
   * The smallest watermark at which something would be emitted (Infinity: nothing
   * pending). An idle partition's owner publishes a wall-clock tick only when it
   * would reach this, so quiet partitions with nothing open cost nothing.
   */
  nextDue(): number {
    const pane = this.#grid.paneMs
    let due = this.#dueAtBroadcast
    if (this.#minTsSinceBroadcast !== Infinity) {
      // Nothing happens between pane boundaries; the next boundary after the oldest new sample is a lower bound.
      const next = Math.floor(this.#minTsSinceBroadcast / pane) * pane + pane
      if (next < due) due = next
    }
    return due === Infinity ? Infinity : Math.ceil(due / pane) * pane
  }

  /**
   * Where a replay must start to rebuild this state, and the message it is taken
   * after. While a replay has not yet passed the checkpoint it started from, the
   * new one keeps that checkpoint's seq: a checkpoint never moves back, or a
   * later replay would emit windows it rebuilt only in part.
   */
  checkpoint(withSnapshot = false): PartitionCheckpoint {
    // Outputs put off by a broadcast at or before lastSeq must be out before a checkpoint says they are (the
    // replay after it suppresses them): the caller finishes them into its task's outputs first.
    if (this.#later.size > 0) throw new Error(`partition ${this.partition}: checkpoint with work put off (call finishLater first)`)
    // The snapshot first: taking it is what lets the evaluators' replay points move past what it includes.
    const snapshot = withSnapshot ? this.#snapshot() : undefined
    let oldest: MessageContext | undefined
    for (const state of this.#series.values()) {
      for (const e of state.evaluators) {
        const c = e.oldestContext()
        if (c !== undefined && (oldest === undefined || c.seq < oldest.seq)) oldest = c
      }
    }
    const resume: ResumePoint = oldest
      ? { seq: oldest.seq, watermark: oldest.watermarkBefore, late: oldest.lateBefore }
      : { seq: this.#lastSeq + 1, watermark: this.#watermark, late: this.#late }
    const config = this.#configAt(resume.seq)
    if (config !== undefined) resume.config = config
    const checkpoint: PartitionCheckpoint = { seq: Math.max(this.#lastSeq, this.#suppressThrough), resume, watermark: this.#watermark, late: this.#late }
    if (snapshot) checkpoint.snapshot = snapshot
    return checkpoint
  }

  /** Every snapshot state of the partition, open series and dormant ones; undefined when no evaluator keeps any. */
  #snapshot(): Uint8Array | undefined {
    const states = new Map<string, Map<string, Uint8Array>>()
    const awake = new Map<string, AwakeSeries>()
    for (const [key, d] of this.#dormant) states.set(key, d.states)
    for (const [key, state] of this.#series) {
      let kept = false
      for (const e of state.evaluators) {
        if (e.snapshot === undefined || e.stateName === undefined) continue
        const bytes = e.snapshot()
        if (bytes === undefined) continue
        let m = states.get(key)
        if (!m) states.set(key, (m = new Map()))
        m.set(e.stateName, bytes)
        kept = true
      }
      if (kept && !state.evaluators.every((e) => e.isIdle())) awake.set(key, { tenant: state.identity.tenant, metric: state.identity.metric, tags: state.identity.tags })
    }
    // Nothing kept now: still a snapshot (an empty one) once there was one, or the checkpoint would go on naming
    // the last, whose states are stale (a rule state taken while firing, its series idle since).
    if (states.size === 0 && !this.#hadSnapshot) return undefined
    this.#hadSnapshot = true
    const snapshot: PartitionSnapshot = { seq: this.#lastSeq, states, awake }
    return encodeSnapshot(snapshot)
  }

  /** The configuration version in effect just before the message at seq. */
  #configAt(seq: number): string | undefined {
    let version: string | undefined
    for (const c of this.#configs) if (c.seq < seq) version = c.version
    return version
  }

  /** Ends the pipeline's subscriptions (the partition moved away or its worker is closing it). */
  dispose(): void {
    this.#later.clear()
    this.#samples.complete()
    this.#closes.complete()
    this.#series.clear()
  }
}
