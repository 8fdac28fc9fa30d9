// Anomaly scores inside the stream engine's worker threads: the evaluator
// module a Tidemark engine runs (StreamRuntime's evaluatorModule). Beside the
// windows, every series gets the rules that select it (engine/rules/
// stream-rules.ts, unchanged) and one online scorer (createScorer). Each
// on-time point is scored from that point and the ones the engine received
// before it (the partition's log order), in a burst per series at the next
// watermark broadcast; the scores leave as outputs of the derived series
// `anomaly_score{metric="<scored metric>", <the series' tags>}`, and the rules
// that select that derived series run here too, on the scores, as on any
// series (`max_over_time(anomaly_score{metric="cpu_usage"}[5m]) > 0.5`).
//
// Restarts: a scorer's state depends on the series' whole history, so a replay
// from the window horizon cannot rebuild it. Each scorer gives the partition's
// snapshot (SeriesEvaluator.snapshot, window-pipeline.ts) its state as of the
// last broadcast that emitted everything it had scored, with the last message
// that state includes. Restored, it skips the series' samples of messages up
// to that one and scores the rest again, identically. While rules on the
// derived series hold state (a pending `for:`, samples in their range), the
// snapshot keeps the scorer as it was before they started (the base), so that
// a replay rebuilds their state from the same scores; this is how far back the
// rule evaluator's own replay reaches on any series. docs/anomaly.md, "In the
// engine".
import { fileURLToPath } from 'node:url'
import { SCORED_METRIC_TAG } from '../model/beacon-schema.ts'
import { encodeBatch } from '../model/beacon-batch.ts'
import { fnv1a, seriesKey, type Sample } from '../model/sample.ts'
import { counters as ruleCounters, withConfig as rulesWithConfig, type StreamRulesConfig } from '../rules/stream-rules.ts'
import { type MessageContext, type RestoredState, type SeriesEvaluator, type SeriesEvaluatorFactory, type SeriesIdentity, type StreamOutput } from '../stream/series-evaluator.ts'
import { createScorer, restoreScorer, STATE_BYTES, type AnomalyScorer, type ScorerOptions } from './index.ts'

export const STREAM_ENGINE_MODULE = fileURLToPath(import.meta.url)

/** The metric scores are stored and selected as. */
export const ANOMALY_METRIC = 'anomaly_score'
/** The tag naming the scored metric on a score series; reserved on ingest (beacon-schema.ts). */
export { SCORED_METRIC_TAG }
export const ANOMALY_OUTPUT_KIND = 'anomaly'
/** The name a scorer's state has in a partition snapshot. */
export const ANOMALY_STATE_NAME = 'anomaly'
/**
 * Groups a partition's scoring is put off in (series by a hash of their id): a group's outputs of one broadcast
 * leave together in one task's outputs, and the sink cuts batches per group. Eight: a group is an eighth of a
 * partition's burst (about a millisecond at 100k samples/s over 16 partitions), the per-task budget's size.
 */
export const SCORE_GROUPS = 8

/** Bytes a series' scorer takes in a snapshot: the watermark it reached (float64), then the scorer's state. */
export const SNAPSHOT_STATE_BYTES = 8 + STATE_BYTES

/** What the main thread sends with each partition generation. */
export interface StreamEngineConfig {
  /** The rules in effect (stream-rules-config.ts); absent: no rules. */
  rules?: StreamRulesConfig
  /** Score every series (default true); false runs the windows and rules only (the bench's comparison). */
  anomaly?: boolean
  scorer?: ScorerOptions
}

/** The scores of one series released by one watermark broadcast. */
export interface AnomalyOutput extends StreamOutput {
  kind: typeof ANOMALY_OUTPUT_KIND
  tenant: string
  /** The score series' tags: the scored series' own and metric=<its metric>. */
  tags: Record<string, string>
  /** The broadcast that released these points: with the partition (and group), it names the batch they are stored in. */
  watermark: number
  /**
   * Scored after the broadcast (the worker spreads scoring over the next messages): the series' group, whose
   * outputs of one broadcast leave together, so their batches are the same on every replay. Absent: scored at
   * the broadcast, with every other such output of it.
   */
  group?: number
  /** Typed arrays: one allocation each per broadcast, cloned to the main thread without boxing. */
  ts: Float64Array
  scores: Float64Array
}

export function isAnomalyOutput(o: StreamOutput): o is AnomalyOutput {
  return o.kind === ANOMALY_OUTPUT_KIND
}

/** A batch stays under this many bytes (NATS' default max_payload is 1 MiB). */
const MAX_BATCH_BYTES = 768 * 1024
const MAX_BATCH_SAMPLES = 5000

/** The batches of one set of scores (scoreBatchesId), in a deterministic order and cut: the same outputs give the same bytes. */
export function scoreBatches(outputs: AnomalyOutput[]): Uint8Array[] {
  const sorted = [...outputs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const samples: Sample[] = []
  for (const o of sorted) {
    // received_at is the watermark that released the score: a function of the log, like the rest of the row.
    for (let i = 0; i < o.ts.length; i++) samples.push([o.tenant, ANOMALY_METRIC, o.ts[i] as number, o.scores[i] as number, o.tags, o.watermark])
  }
  const batches: Uint8Array[] = []
  const cut = (part: Sample[]): void => {
    const bytes = encodeBatch(part)
    if (bytes.length <= MAX_BATCH_BYTES || part.length === 1) {
      batches.push(bytes)
      return
    }
    const half = Math.ceil(part.length / 2)
    cut(part.slice(0, half))
    cut(part.slice(half))
  }
  for (let i = 0; i < samples.length; i += MAX_BATCH_SAMPLES) cut(samples.slice(i, i + MAX_BATCH_SAMPLES))
  return batches
}

/** What names the batches of an output's set: `anomaly-<p>-<watermark>`, and `-g<group>` when scored after the broadcast. */
export function scoreBatchesId(partition: number, o: AnomalyOutput): string {
  return o.group === undefined ? `anomaly-${partition}-${o.watermark}` : `anomaly-${partition}-${o.watermark}-g${o.group}`
}

export const SCORE_BATCH_OUTPUT_KIND = 'anomaly-batch'

/** A batch of scores ready for `tm.beacons.scores.<p>`: the bytes, and its msgID as the id. */
export interface ScoreBatchOutput extends StreamOutput {
  kind: typeof SCORE_BATCH_OUTPUT_KIND
  data: Uint8Array
  /** Scores in it. */
  scores: number
}

export function isScoreBatchOutput(o: StreamOutput): o is ScoreBatchOutput {
  return o.kind === SCORE_BATCH_OUTPUT_KIND
}

/**
 * One task's outputs with its scores packed into batches: each set (a broadcast's scores, or one group's of a
 * broadcast when scoring was spread) arrives whole in one task, so its batches, and their msgIDs
 * `<set id>-<k>`, are the same on every replay. Run in the worker thread (the evaluator module's
 * packOutputs): encoding 100k scores a second on the main thread was a burst there after every broadcast.
 */
export function packScores(partition: number, outputs: StreamOutput[]): StreamOutput[] {
  const sets = new Map<string, AnomalyOutput[]>()
  const packed: StreamOutput[] = []
  for (const o of outputs) {
    if (!isAnomalyOutput(o)) {
      packed.push(o)
      continue
    }
    const id = scoreBatchesId(partition, o)
    let set = sets.get(id)
    if (!set) sets.set(id, (set = []))
    set.push(o)
  }
  for (const [id, set] of sets) {
    const scores = set.reduce((n, o) => n + o.ts.length, 0)
    const batches = scoreBatches(set)
    // The count goes with the first batch of the set (the sink counts scores of batches taken as new).
    batches.forEach((data, k) => {
      const batch: ScoreBatchOutput = { id: `${id}-${k}`, kind: SCORE_BATCH_OUTPUT_KIND, data, scores: k === 0 ? scores : 0 }
      packed.push(batch)
    })
  }
  return packed
}

/** The worker thread's hook (window-worker.ts): a task's outputs as they leave the thread. */
export const packOutputs = packScores

/** The score series of a scored series: its tags plus metric=<the scored metric>. */
export function scoreTags(metric: string, tags: Readonly<Record<string, string>> | null): Record<string, string> {
  return { ...tags, [SCORED_METRIC_TAG]: metric }
}

/** Cumulative per thread: points scored, and the time spent scoring them in bursts (ms; for the bench's breakdown). */
const tally = { anomalyScores: 0, anomalyScoringMs: 0 }

export function counters(): Record<string, number> {
  return { ...ruleCounters(), anomalyScores: tally.anomalyScores }
}

/** Time this thread spent scoring (ms), for the engine bench. */
export function scoringMs(): number {
  return tally.anomalyScoringMs
}

function encodeSeriesState(throughSeq: number, scorer: AnomalyScorer): Uint8Array {
  const bytes = new Uint8Array(SNAPSHOT_STATE_BYTES)
  new DataView(bytes.buffer).setFloat64(0, throughSeq, true)
  bytes.set(scorer.serialize(), 8)
  return bytes
}

function decodeSeriesState(bytes: Uint8Array): { throughSeq: number; scorer: AnomalyScorer } {
  // restoreScorer checks the length and content of the rest (TM_ENGINE_ANOMALY_STATE_INVALID).
  const throughSeq = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(0, true)
  return { throughSeq, scorer: restoreScorer(bytes.subarray(8)) }
}

/**
 * The points of one partition waiting for the next broadcast, in arrival order,
 * in flat arrays written one after the other. At the broadcast a stable
 * counting sort groups them by series, so each series scores its points in one
 * burst. Measured: per-series buffers (each point written into its series' own
 * array, 500 series interleaved) made the whole pipeline, windows included,
 * about a third slower through cache misses; writing in arrival order does not.
 * One per partition pipeline (withConfig makes one per factory).
 */
export class PendingPoints {
  series = new Int32Array(1024)
  ts = new Float64Array(1024)
  values = new Float64Array(1024)
  n = 0
  #seriesCount = 0
  /** After a broadcast's sort: per series index, where its points start in the sorted arrays, and how many. */
  #start = new Int32Array(64)
  #count = new Int32Array(64)
  sortedTs = new Float64Array(1024)
  sortedValues = new Float64Array(1024)
  #sortedFor = NaN

  /** A new series' index. */
  register(): number {
    const i = this.#seriesCount++
    if (i === this.#start.length) {
      const start = new Int32Array(i * 2)
      this.#start = start
      this.#count = new Int32Array(i * 2)
    }
    return i
  }

  push(series: number, ts: number, value: number): void {
    if (!Number.isNaN(this.#sortedFor)) {
      // The first point after a broadcast: everything before it was handed out.
      this.n = 0
      this.#sortedFor = NaN
    }
    const n = this.n
    if (n === this.ts.length) this.#grow()
    this.series[n] = series
    this.ts[n] = ts
    this.values[n] = value
    this.n = n + 1
  }

  #grow(): void {
    const size = this.ts.length * 2
    const series = new Int32Array(size)
    const ts = new Float64Array(size)
    const values = new Float64Array(size)
    series.set(this.series)
    ts.set(this.ts)
    values.set(this.values)
    this.series = series
    this.ts = ts
    this.values = values
    // The last broadcast's sorted points may still be read by scoring it put off (SeriesScores.finishLater).
    const sortedTs = new Float64Array(size)
    const sortedValues = new Float64Array(size)
    sortedTs.set(this.sortedTs)
    sortedValues.set(this.sortedValues)
    this.sortedTs = sortedTs
    this.sortedValues = sortedValues
  }

  /** Where the series' points of this broadcast are in sortedTs/sortedValues (sorted once per broadcast, on the first call). */
  start(series: number, watermark: number): number {
    if (this.#sortedFor !== watermark) this.#sort(watermark)
    return this.#start[series] as number
  }

  #sort(watermark: number): void {
    const count = this.#count
    const start = this.#start
    count.fill(0, 0, this.#seriesCount)
    const n = this.n
    const series = this.series
    for (let i = 0; i < n; i++) count[series[i] as number]!++
    let at = 0
    for (let k = 0; k < this.#seriesCount; k++) {
      start[k] = at
      at += count[k] as number
    }
    // Scatter in arrival order (stable), then start[] back to each series' first position.
    const ts = this.ts
    const values = this.values
    const sortedTs = this.sortedTs
    const sortedValues = this.sortedValues
    for (let i = 0; i < n; i++) {
      const k = series[i] as number
      const to = start[k]!++
      sortedTs[to] = ts[i] as number
      sortedValues[to] = values[i] as number
    }
    for (let k = 0; k < this.#seriesCount; k++) start[k]! -= count[k] as number
    this.#sortedFor = watermark
  }
}

const olderOf = (a: MessageContext | undefined, b: MessageContext | undefined): MessageContext | undefined =>
  a === undefined ? b : b === undefined || a.seq <= b.seq ? a : b

/**
 * One series' scorer, and the rules on its score series. Points are scored in
 * the order the engine received them (the partition's log order), in one burst
 * at the next watermark broadcast (PendingPoints), and their scores leave then
 * as one output. The scores also feed the rules on the score series, which put
 * them in event-time order themselves.
 *
 * Snapshot: at every broadcast that follows new points, while no rule on the
 * score series holds state, the scorer's state is copied (the base, ~1.9 KB)
 * with the last message it includes: every score it holds was emitted by then.
 * snapshot() gives the base; a restored scorer skips the samples of messages
 * up to that one, and the replay must reach back to the first message after it
 * (oldestContext). While rules on the score series hold state, the base stays
 * where it was when they started, so a replay rebuilds their state from the
 * same scores.
 */
export class SeriesScores implements SeriesEvaluator {
  readonly stateName = ANOMALY_STATE_NAME
  /** `|<tenant>|<series>`: an output's id is `anomaly|<watermark>` and this. */
  readonly #idTail: string
  readonly #tenant: string
  readonly #tags: Record<string, string>
  #children: SeriesEvaluator[]
  readonly #scorer: AnomalyScorer
  readonly #options: ScorerOptions
  /** Samples of messages up to here are in the restored state already. */
  readonly #skipThrough: number
  /** The last message scored. */
  #lastSeq = -Infinity
  /** The partition's waiting points (this series' index among them), and how many of them are this series'. */
  readonly #points: PendingPoints
  readonly #index: number
  #pending = 0
  /** Their messages, kept only for rules on the score series (their replay points). */
  #pendingCtx: MessageContext[] = []
  /** The base (see above) and the first message scored after it. */
  #base: Uint8Array | undefined
  #sinceBase: MessageContext | undefined
  /** The first message scored after the base the last snapshot() gave (or after the restored state): where a replay must start. */
  #sinceSnapshot: MessageContext | undefined
  /** Scoring the last broadcast put off (spread): its points in the sorted arrays, and the last message among them. */
  #later: { watermark: number; emit: boolean; from: number; n: number; throughSeq: number } | undefined
  /** The first message of points that came after that broadcast: the base's successor once the put-off scoring is done. */
  #sinceLater: MessageContext | undefined
  readonly #group: number

  constructor(series: SeriesIdentity, children: SeriesEvaluator[], options: ScorerOptions = {}, restored?: RestoredState, points = new PendingPoints()) {
    this.#points = points
    this.#index = points.register()
    this.#idTail = `|${series.tenant}|${series.series}`
    // The hash's top bits: its low bits are all but fixed within a partition (partitions are the same hash, mod P,
    // of nearly the same text), which put every series of a partition in two of the eight groups.
    this.#group = Math.floor((fnv1a(this.#idTail) / 2 ** 32) * SCORE_GROUPS)
    this.#tenant = series.tenant
    this.#tags = scoreTags(series.metric, series.tags)
    this.#children = children
    this.#options = options
    if (restored) {
      const r = decodeSeriesState(restored.bytes)
      this.#scorer = r.scorer
      this.#skipThrough = r.throughSeq
      this.#lastSeq = r.throughSeq
      this.#base = restored.bytes
    } else {
      this.#scorer = createScorer(options)
      this.#skipThrough = -Infinity
    }
  }

  onSample(ts: number, value: number, ctx: MessageContext): void {
    if (ctx.seq <= this.#skipThrough) return
    this.#points.push(this.#index, ts, value)
    this.#pending++
    if (this.#children.length > 0) this.#pendingCtx.push(ctx)
    this.#lastSeq = ctx.seq
    // In log order: the first one after each mark is the oldest.
    this.#sinceBase ??= ctx
    this.#sinceSnapshot ??= ctx
    if (this.#later !== undefined) this.#sinceLater ??= ctx
  }

  /** Scores the waiting points in arrival order (measured: per point, a burst per series costs a third of scoring each on arrival, interleaved with every other series). */
  #scorePending(watermark: number): { ts: Float64Array; scores: Float64Array } {
    return this.#score(this.#points.start(this.#index, watermark), this.#pending)
  }

  /** Scores n points from the partition's sorted arrays at from. */
  #score(from: number, n: number): { ts: Float64Array; scores: Float64Array } {
    const ts = this.#points.sortedTs.slice(from, from + n)
    const values = this.#points.sortedValues
    const scores = new Float64Array(n)
    const scorer = this.#scorer
    const started = performance.now()
    for (let i = 0; i < n; i++) scores[i] = scorer.score(ts[i] as number, values[from + i] as number)
    tally.anomalyScoringMs += performance.now() - started
    tally.anomalyScores += n
    if (this.#children.length > 0) {
      // Rules on the scores that came with a rule change see the points from the change on (their messages).
      const ctx = this.#pendingCtx
      const skip = n - ctx.length
      for (const c of this.#children) for (let i = skip; i < n; i++) c.onSample(ts[i] as number, scores[i] as number, ctx[i - skip] as MessageContext)
      this.#pendingCtx = []
    }
    return { ts, scores }
  }

  onWatermark(watermark: number, emit: boolean, out: StreamOutput[], later?: (evaluator: SeriesEvaluator, group: number) => void): void {
    // Put off while the partition lets it (spread) and no rule reads the scores: those rules must see them before
    // this broadcast reaches them. Sorted now, before a new point can overwrite the partition's arrays.
    if (this.#pending > 0 && later !== undefined && this.#children.length === 0) {
      this.#later = { watermark, emit, from: this.#points.start(this.#index, watermark), n: this.#pending, throughSeq: this.#lastSeq }
      this.#pending = 0
      later(this, this.#group)
      return
    }
    if (this.#pending > 0) {
      const { ts, scores } = this.#scorePending(watermark)
      if (emit) out.push(this.#output(watermark, ts, scores))
      this.#pending = 0
    }
    for (let i = 0; i < this.#children.length; i++) (this.#children[i] as SeriesEvaluator).onWatermark(watermark, emit, out)
    // Every score so far is out: the state is a base, unless rules on the scores hold state from an older one.
    if (this.#sinceBase !== undefined && this.#childrenIdle()) {
      this.#base = encodeSeriesState(this.#lastSeq, this.#scorer)
      this.#sinceBase = undefined
    }
  }

  /** The scoring onWatermark put off: the same scores and output as at the broadcast, then the base as it would have taken it. */
  finishLater(out: StreamOutput[]): void {
    const l = this.#later
    if (l === undefined) return
    this.#later = undefined
    const { ts, scores } = this.#score(l.from, l.n)
    if (l.emit) out.push(this.#output(l.watermark, ts, scores, this.#group))
    // No rules on the scores (or it would not have been put off): every score through throughSeq is out.
    this.#base = encodeSeriesState(l.throughSeq, this.#scorer)
    this.#sinceBase = this.#sinceLater
    this.#sinceLater = undefined
  }

  /** The scores of one broadcast as an output; group when they were scored after it. */
  #output(watermark: number, ts: Float64Array, scores: Float64Array, group?: number): AnomalyOutput {
    const output: AnomalyOutput = { id: ANOMALY_OUTPUT_KIND + '|' + watermark + this.#idTail, kind: ANOMALY_OUTPUT_KIND, tenant: this.#tenant, tags: this.#tags, watermark, ts, scores }
    if (group !== undefined) output.group = group
    return output
  }

  #childrenIdle(): boolean {
    for (let i = 0; i < this.#children.length; i++) if (!(this.#children[i] as SeriesEvaluator).isIdle()) return false
    return true
  }

  oldestContext(): MessageContext | undefined {
    let oldest = this.#sinceSnapshot
    for (const c of this.#children) oldest = olderOf(oldest, c.oldestContext())
    return oldest
  }

  nextDue(): number {
    let due = Infinity
    for (const c of this.#children) due = Math.min(due, c.nextDue())
    return due
  }

  isIdle(): boolean {
    return this.#sinceBase === undefined && this.#childrenIdle()
  }

  /**
   * A rule change (a config marker): the rules on the score series switch as the series' own rules do; make
   * gets the current ones and answers those under the new rules (the same objects, reconfigured, or new ones).
   */
  reconfigure(make: (children: SeriesEvaluator[]) => SeriesEvaluator[]): void {
    this.#children = make(this.#children)
  }

  snapshot(): Uint8Array {
    // Before the first broadcast of a fresh scorer there is no base yet: nothing to carry, the replay starts at its first sample.
    this.#sinceSnapshot = this.#sinceBase
    return this.#base ?? encodeSeriesState(-Infinity, createScorer(this.#options))
  }
}

/** The score series' identity, as the rules see it. */
export function scoreSeries(series: SeriesIdentity): SeriesIdentity {
  const tags = scoreTags(series.metric, series.tags)
  return { partition: series.partition, tenant: series.tenant, series: seriesKey(ANOMALY_METRIC, tags), metric: ANOMALY_METRIC, tags }
}

const NO_RULES: SeriesEvaluatorFactory = () => []

/** The evaluators of each series: its rules, its scorer and the rules on its scores. */
export function withConfig(raw: unknown): SeriesEvaluatorFactory {
  const config = (raw ?? {}) as StreamEngineConfig
  const rules = config.rules ? rulesWithConfig(config.rules) : NO_RULES
  if (config.anomaly === false) return rules
  // The worker makes one factory per partition pipeline (each open task): the partition's waiting points.
  const points = new PendingPoints()
  return (series, restored, change) => {
    if (change !== undefined) {
      // The series' rules switch (the scorer is not theirs and comes back as it is), then the rules on its scores.
      const next = rules(series, undefined, change)
      for (const e of next) if (e instanceof SeriesScores) e.reconfigure((children) => rules(scoreSeries(series), undefined, { ...change, previous: children }))
      return next
    }
    const own = rules(series, restored)
    // A score series is never scored again (ingest refuses the tag `metric`, so none arrives from outside).
    if (series.metric === ANOMALY_METRIC && series.tags !== null && SCORED_METRIC_TAG in series.tags) return own
    own.push(new SeriesScores(series, rules(scoreSeries(series)), config.scorer, restored?.(ANOMALY_STATE_NAME), points))
    return own
  }
}
