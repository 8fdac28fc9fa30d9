// Anomaly scores inside the stream engine's worker threads: the evaluator
// module a Tidemark engine runs (StreamRuntime's evaluatorModule). Beside the
// windows, every series gets the rules that select it (engine/rules/
// stream-rules.ts, unchanged) and one online scorer (createScorer). Each point
// is scored once the watermark has passed it, in event-time order, from that
// point and the ones before it; the scores leave as outputs of the derived
// series `anomaly_score{metric="<scored metric>", <the series' tags>}`, and
// the rules that select that derived series run here too, on the scores, as on
// any series (`anomaly_score{metric="cpu_usage"} > 0.9` with `for: 2m`).
//
// Restarts: a scorer's state depends on the series' whole history, so a replay
// from the window horizon cannot rebuild it. Each scorer gives its state to the
// partition's snapshot (SeriesEvaluator.snapshot, window-pipeline.ts) with the
// watermark it had reached: the state holds exactly the series' on-time
// samples stamped before that watermark. Restored, it skips those samples of
// the messages up to the snapshot's seq, and scores the rest again, identically.
// While rules on the derived series hold state (a pending `for:`, samples in
// their range), the snapshot keeps the scorer as it was before they started
// (the base), so that a replay rebuilds their state from the same scores; this
// is how far back the rule evaluator's own replay reaches on any series.
// docs/anomaly.md, "In the engine".
import { fileURLToPath } from 'node:url'
import { SCORED_METRIC_TAG } from '../model/beacon-schema.ts'
import { seriesKey } from '../model/sample.ts'
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
  /** The broadcast that released these points: with the partition, it names the batch they are stored in. */
  watermark: number
  /** Typed arrays: one allocation each per broadcast, cloned to the main thread without boxing. */
  ts: Float64Array
  scores: Float64Array
}

export function isAnomalyOutput(o: StreamOutput): o is AnomalyOutput {
  return o.kind === ANOMALY_OUTPUT_KIND
}

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

const olderOf = (a: MessageContext | undefined, b: MessageContext | undefined): MessageContext | undefined =>
  a === undefined ? b : b === undefined || a.seq <= b.seq ? a : b

/**
 * One series' scorer, and the rules on its score series. A point is scored as
 * it arrives (the partition's log order: the order the engine received the
 * series' points), and its score leaves at the next watermark broadcast, with
 * the others of that broadcast, as one output. The scores also feed the rules
 * on the score series, which put them in event-time order themselves.
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
  readonly #children: SeriesEvaluator[]
  readonly #scorer: AnomalyScorer
  readonly #options: ScorerOptions
  /** Samples of messages up to here are in the restored state already. */
  readonly #skipThrough: number
  /** The last message scored. */
  #lastSeq = -Infinity
  /** Points waiting for the next broadcast, scored then in one burst (the scorer's state stays in cache). */
  #pendingTs = new Float64Array(16)
  #pendingValues = new Float64Array(16)
  #pending = 0
  /** Their messages, kept only for rules on the score series (their replay points). */
  #pendingCtx: MessageContext[] = []
  /** The base (see above) and the first message scored after it. */
  #base: Uint8Array | undefined
  #sinceBase: MessageContext | undefined
  /** The first message scored after the base the last snapshot() gave (or after the restored state): where a replay must start. */
  #sinceSnapshot: MessageContext | undefined

  constructor(series: SeriesIdentity, children: SeriesEvaluator[], options: ScorerOptions = {}, restored?: RestoredState) {
    this.#idTail = `|${series.tenant}|${series.series}`
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
    const n = this.#pending
    if (n === this.#pendingTs.length) this.#grow()
    ;(this.#pendingTs as Float64Array)[n] = ts
    ;(this.#pendingValues as Float64Array)[n] = value
    this.#pending = n + 1
    if (this.#children.length > 0) this.#pendingCtx.push(ctx)
    this.#lastSeq = ctx.seq
    // In log order: the first one after each mark is the oldest.
    this.#sinceBase ??= ctx
    this.#sinceSnapshot ??= ctx
  }

  /** Reused between broadcasts; doubled when a series brings more points per pane than ever before. */
  #grow(): void {
    const ts = new Float64Array(this.#pendingTs.length * 2)
    const values = new Float64Array(ts.length)
    ts.set(this.#pendingTs)
    values.set(this.#pendingValues)
    this.#pendingTs = ts
    this.#pendingValues = values
  }

  /** Scores the waiting points in arrival order (measured: per point, a burst per series costs a third of scoring each on arrival, interleaved with every other series). */
  #scorePending(): Float64Array {
    const ts = this.#pendingTs
    const values = this.#pendingValues
    const n = this.#pending
    const scores = new Float64Array(n)
    const scorer = this.#scorer
    const started = performance.now()
    for (let i = 0; i < n; i++) scores[i] = scorer.score(ts[i] as number, values[i] as number)
    tally.anomalyScoringMs += performance.now() - started
    tally.anomalyScores += n
    if (this.#children.length > 0) {
      const ctx = this.#pendingCtx
      for (const c of this.#children) for (let i = 0; i < n; i++) c.onSample(ts[i] as number, scores[i] as number, ctx[i] as MessageContext)
      this.#pendingCtx = []
    }
    return scores
  }

  onWatermark(watermark: number, emit: boolean, out: StreamOutput[]): void {
    if (this.#pending > 0) {
      const scores = this.#scorePending()
      if (emit) {
        const ts = this.#pendingTs.slice(0, this.#pending)
        const output: AnomalyOutput = { id: ANOMALY_OUTPUT_KIND + '|' + watermark + this.#idTail, kind: ANOMALY_OUTPUT_KIND, tenant: this.#tenant, tags: this.#tags, watermark, ts, scores }
        out.push(output)
      }
      this.#pending = 0
    }
    for (let i = 0; i < this.#children.length; i++) (this.#children[i] as SeriesEvaluator).onWatermark(watermark, emit, out)
    // Every score so far is out: the state is a base, unless rules on the scores hold state from an older one.
    if (this.#sinceBase !== undefined && this.#childrenIdle()) {
      this.#base = encodeSeriesState(this.#lastSeq, this.#scorer)
      this.#sinceBase = undefined
    }
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
  if (config.anomaly === false) return (series) => rules(series)
  return (series, restored) => {
    const own = rules(series)
    // A score series is never scored again (ingest refuses the tag `metric`, so none arrives from outside).
    if (series.metric === ANOMALY_METRIC && series.tags !== null && SCORED_METRIC_TAG in series.tags) return own
    own.push(new SeriesScores(series, rules(scoreSeries(series)), config.scorer, restored?.(ANOMALY_STATE_NAME)))
    return own
  }
}
