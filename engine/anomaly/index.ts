// The anomaly room's public door: one online scorer per series.
//
//   const scorer = createScorer()            // or restoreScorer(savedBytes)
//   const s = scorer.score(ts, value)        // in [0, 1]; s >= DEFAULT_THRESHOLD is an anomaly
//   const saved = scorer.serialize()         // STATE_BYTES bytes, restores to the same scores
//
// How it works and what it scores on NAB: docs/anomaly.md.
import { EngineErrors } from '../errors.ts'
import { DEFAULT_PERIOD_MS, DEFAULT_WARMUP, EnsembleScorer } from './ensemble-scorer.ts'
import { STATE_BYTES, decodeState, encodeState } from './state-codec.ts'
import { CHANNELS, Channel } from './state-layout.ts'

export { STATE_BYTES, Channel, CHANNELS, DEFAULT_PERIOD_MS, DEFAULT_WARMUP }

/**
 * The score at and above which a point is reported as an anomaly: 2.5 nats of
 * evidence above the strongest channel's recent record. Set from NAB's best
 * standard-profile threshold on the repository's subset (0.494); docs/anomaly.md
 * says how to move it (higher: fewer, later alerts; lower: more, earlier).
 */
export const DEFAULT_THRESHOLD = 0.5

export interface ScorerOptions {
  /** Period of the seasonal profile in ms (default one day). */
  seasonPeriodMs?: number
  /** Points that only teach the scorer before it scores (default 300: a day of 5-minute points). */
  warmup?: number
}

export interface AnomalyScorer {
  /**
   * The anomaly score of this point in [0, 1], from this point and the ones
   * before it only; then the scorer learns it. `ts` in epoch ms. 0 during the warm-up.
   */
  score(ts: number, value: number): number
  /** The whole state as bytes; restoreScorer(bytes) continues with identical scores. */
  serialize(): Uint8Array
  /** Points seen so far. */
  readonly count: number
  /** Each channel's evidence above its record at the last point, in nats (see Channel). */
  readonly evidence: Float64Array
}

class Scorer extends EnsembleScorer implements AnomalyScorer {
  override score(ts: number, value: number): number {
    // Checked here, not in the engine's worker, so that no caller can poison a series' state.
    if (!Number.isFinite(ts) || !Number.isFinite(value)) throw new EngineErrors.AnomalyInputInvalid(`timestamp and value must be finite numbers (got ${ts}, ${value})`)
    return super.score(ts, value)
  }

  serialize(): Uint8Array {
    return encodeState(this.state)
  }
}

export function createScorer(options: ScorerOptions = {}): AnomalyScorer {
  const period = options.seasonPeriodMs ?? DEFAULT_PERIOD_MS
  const warmup = options.warmup ?? DEFAULT_WARMUP
  if (!(Number.isFinite(period) && period >= 60_000)) throw new EngineErrors.AnomalyInputInvalid(`seasonPeriodMs must be at least 60000 (got ${period})`)
  if (!(Number.isInteger(warmup) && warmup >= 0 && warmup <= 1_000_000)) throw new EngineErrors.AnomalyInputInvalid(`warmup must be a whole number from 0 to 1000000 (got ${warmup})`)
  const fresh = EnsembleScorer.fresh(period, warmup)
  return new Scorer(fresh.state)
}

export function restoreScorer(bytes: Uint8Array): AnomalyScorer {
  return new Scorer(decodeState(bytes))
}

// In the stream engine: the evaluator module (scores and rules beside the windows) and where scores go.
export {
  ANOMALY_METRIC,
  ANOMALY_OUTPUT_KIND,
  SCORED_METRIC_TAG,
  SNAPSHOT_STATE_BYTES,
  STREAM_ENGINE_MODULE,
  isAnomalyOutput,
  isScoreBatchOutput,
  packScores,
  scoreBatches,
  scoreBatchesId,
  scoreTags,
  type AnomalyOutput,
  type ScoreBatchOutput,
  type StreamEngineConfig,
} from './stream-anomaly.ts'
export { ScoreOutputSink, type ScoreSinkStats } from './score-sink.ts'
