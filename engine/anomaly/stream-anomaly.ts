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
import { inEventTimeOrder, type MessageContext, type RestoredState, type SeriesEvaluator, type SeriesEvaluatorFactory, type SeriesIdentity, type StreamOutput } from '../stream/series-evaluator.ts'
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
  ts: number[]
  scores: number[]
}

export function isAnomalyOutput(o: StreamOutput): o is AnomalyOutput {
  return o.kind === ANOMALY_OUTPUT_KIND
}

/** The score series of a scored series: its tags plus metric=<the scored metric>. */
export function scoreTags(metric: string, tags: Readonly<Record<string, string>> | null): Record<string, string> {
  return { ...tags, [SCORED_METRIC_TAG]: metric }
}

const tally = { anomalyScores: 0 }

export function counters(): Record<string, number> {
  return { ...ruleCounters(), ...tally }
}

function encodeSeriesState(watermark: number, scorer: AnomalyScorer): Uint8Array {
  const bytes = new Uint8Array(SNAPSHOT_STATE_BYTES)
  new DataView(bytes.buffer).setFloat64(0, watermark, true)
  bytes.set(scorer.serialize(), 8)
  return bytes
}

function decodeSeriesState(bytes: Uint8Array): { watermark: number; scorer: AnomalyScorer } {
  // restoreScorer checks the length and content of the rest (TM_ENGINE_ANOMALY_STATE_INVALID).
  const watermark = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(0, true)
  return { watermark, scorer: restoreScorer(bytes.subarray(8)) }
}

const olderOf = (a: MessageContext | undefined, b: MessageContext | undefined): MessageContext | undefined =>
  a === undefined ? b : b === undefined || a.seq <= b.seq ? a : b

/** One series' scorer, and the rules on its score series. */
export class SeriesScores implements SeriesEvaluator {
  readonly stateName = ANOMALY_STATE_NAME
  /** `|<tenant>|<series>`: an output's id is `anomaly|<watermark>` and this. */
  readonly #idTail: string
  readonly #tenant: string
  readonly #tags: Record<string, string>
  readonly #children: SeriesEvaluator[]
  readonly #ordered: SeriesEvaluator
  #scorer: AnomalyScorer
  /** Samples of messages up to skipThrough stamped before skipBelow are in the restored state already. */
  readonly #skipThrough: number
  readonly #skipBelow: number
  /** The last watermark broadcast: the state holds exactly the on-time samples stamped before it. */
  #watermark = -Infinity
  #ts: number[] = []
  #scores: number[] = []
  /** The oldest message of the samples scored since the last snapshot: a replay must reach back to it. */
  #sinceSnapshot: MessageContext | undefined
  /** While rules on the score series hold state: the scorer (as snapshot bytes) from before they started, and the oldest message since. */
  #base: Uint8Array | undefined
  #sinceBase: MessageContext | undefined
  #captureBase = false

  constructor(series: SeriesIdentity, children: SeriesEvaluator[], options: ScorerOptions = {}, restored?: RestoredState) {
    this.#idTail = `|${series.tenant}|${series.series}`
    this.#tenant = series.tenant
    this.#tags = scoreTags(series.metric, series.tags)
    this.#children = children
    if (restored) {
      const r = decodeSeriesState(restored.bytes)
      this.#scorer = r.scorer
      this.#watermark = r.watermark
      this.#skipThrough = restored.throughSeq
      this.#skipBelow = r.watermark
    } else {
      this.#scorer = createScorer(options)
      this.#skipThrough = -Infinity
      this.#skipBelow = -Infinity
    }
    this.#ordered = inEventTimeOrder({
      onSample: (ts, value, ctx) => this.#score(ts, value, ctx),
      onWatermark: (watermark, emit, out) => this.#release(watermark, emit, out),
      oldestContext: () => {
        let oldest = this.#base !== undefined ? this.#sinceBase : this.#sinceSnapshot
        for (const c of this.#children) oldest = olderOf(oldest, c.oldestContext())
        return oldest
      },
      isIdle: () => this.#base === undefined && this.#childrenIdle(),
      nextDue: () => {
        let due = Infinity
        for (const c of this.#children) due = Math.min(due, c.nextDue())
        return due
      },
    })
  }

  onSample(ts: number, value: number, ctx: MessageContext): void {
    if (ctx.seq <= this.#skipThrough && ts < this.#skipBelow) return
    this.#ordered.onSample(ts, value, ctx)
  }

  onWatermark(watermark: number, emit: boolean, out: StreamOutput[]): void {
    // Rules on the score series with nothing held: if this broadcast starts them, the base is the state before it.
    this.#captureBase = this.#children.length > 0 && this.#base === undefined && this.#childrenIdle()
    this.#ordered.onWatermark(watermark, emit, out)
    this.#captureBase = false
    this.#watermark = watermark
    if (this.#base !== undefined && this.#childrenIdle()) {
      this.#base = undefined
      this.#sinceBase = undefined
    }
  }

  #score(ts: number, value: number, ctx: MessageContext): void {
    if (this.#captureBase) {
      this.#base = encodeSeriesState(this.#watermark, this.#scorer)
      this.#sinceBase = undefined
      this.#captureBase = false
    }
    const score = this.#scorer.score(ts, value)
    tally.anomalyScores++
    this.#ts.push(ts)
    this.#scores.push(score)
    if (this.#sinceSnapshot === undefined || ctx.seq < this.#sinceSnapshot.seq) this.#sinceSnapshot = ctx
    if (this.#base !== undefined && (this.#sinceBase === undefined || ctx.seq < this.#sinceBase.seq)) this.#sinceBase = ctx
    for (const c of this.#children) c.onSample(ts, score, ctx)
  }

  #release(watermark: number, emit: boolean, out: StreamOutput[]): void {
    if (this.#ts.length > 0) {
      if (emit) {
        const output: AnomalyOutput = {
          id: ANOMALY_OUTPUT_KIND + '|' + watermark + this.#idTail,
          kind: ANOMALY_OUTPUT_KIND,
          tenant: this.#tenant,
          tags: this.#tags,
          watermark,
          ts: this.#ts,
          scores: this.#scores,
        }
        out.push(output)
        this.#ts = []
        this.#scores = []
      } else {
        this.#ts.length = 0
        this.#scores.length = 0
      }
    }
    for (const c of this.#children) c.onWatermark(watermark, emit, out)
  }

  #childrenIdle(): boolean {
    for (const c of this.#children) if (!c.isIdle()) return false
    return true
  }

  oldestContext(): MessageContext | undefined {
    return this.#ordered.oldestContext()
  }

  nextDue(): number {
    return this.#ordered.nextDue()
  }

  isIdle(): boolean {
    return this.#ordered.isIdle()
  }

  snapshot(): Uint8Array {
    if (this.#base !== undefined) return this.#base
    this.#sinceSnapshot = undefined
    return encodeSeriesState(this.#watermark, this.#scorer)
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
