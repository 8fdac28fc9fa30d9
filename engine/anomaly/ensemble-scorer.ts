// The online anomaly scorer of one series: four cheap detectors, each turned
// into evidence by an HTM-style anomaly likelihood, each judged against its own
// recent record, the strongest one mapped to [0, 1]. docs/anomaly.md says why
// each piece is there and what it scored on the Numenta Anomaly Benchmark.
//
// Per point, in order (nothing looks ahead: point i's score uses points <= i):
// 1. Four raw scores in [0, 1], from the state before this point:
//    - range: how far the value lands outside the range seen so far;
//    - season: distance from the time-of-day profile (half-hour bins);
//    - spike: distance from the fast level, in units of the usual deviation;
//    - transition: surprise of moving from the previous level to this one
//      (8 levels of the range, counts of level-to-level moves).
// 2. Per channel, the anomaly likelihood: the average of its last 10 raw scores
//    against the running mean and variance of that average; evidence = -ln of
//    the normal tail probability (HTM's likelihood, as NAB's numenta detector).
// 3. Per channel, the evidence above its own recent record (the record decays
//    by 0.1 % a point): a channel that fires every day at the same strength
//    learns to stay quiet; a clean channel speaks at its first surprise.
// 4. The strongest channel's evidence E (nats) gives score = 1 - 2^(-E / 2.5).
// Then the state learns the point. The first `warmup` points only learn.
import { normalTailNats } from './normal-tail.ts'
import * as layout from './state-layout.ts'

// The layout's offsets as module constants: read through the import on every
// point they cost a getter call each (tsx's ESM interop), 40 % of the time measured.
const { AVERAGE_POINTS, CHANNEL_STRIDE, CHANNELS, LEVELS, SEASON_BINS, STATE_LENGTH } = layout
const { RING, RING_POS, RING_SUM, AVG_MEAN, AVG_VAR, RECORD } = layout.ChannelSlot
const { PERIOD_MS, WARMUP, COUNT, MIN, MAX, FAST, SCALE, CENTRE, PREV_LEVEL, CHANNELS: CHANNEL_BASE, SEASON_MEAN, SEASON_COUNT, TRANSITIONS, TRANSITION_ROWS } =
  layout.Slot

/** Weight of each new average in the likelihood's running mean and variance: about 2,000 points of memory (a week at 5 min). */
const LIKELIHOOD_WEIGHT = 1 / 2000
/** A channel's record loses 0.1 % a point: half of it is gone after 693 points (2.4 days at 5 min). */
const RECORD_DECAY = 0.999
/** Evidence (nats above the record) that scores 0.5; each further 2.5 nats halves the distance to 1. */
const EVIDENCE_AT_HALF = 2.5
/**
 * Least variance of a channel's average raw score: a rare-event channel (the range,
 * mostly 0) would otherwise call any small bump certain. Its square root, 0.032, is
 * the smallest move of the average that can count as unusual.
 */
const AVERAGE_VARIANCE_FLOOR = 1e-3
/** Range channel: an excess of this share of the old range saturates its raw score. */
const RANGE_EXCESS = 0.2
/** Range contraction towards the slow mean per point: one outlier stops blinding the scorer after ~14k points (half-life). */
const RANGE_CONTRACTION = 5e-5
/** Season channel: a distance of this share of the range from the profile saturates. */
const SEASON_DISTANCE = 0.4
/** Season profile: each bin is an EWMA of its visits, weight 1/10 once it has 10. */
const SEASON_WEIGHT = 0.1
/** Spike channel: this many mean absolute deviations from the fast level saturate. */
const SPIKE_DEVIATIONS = 4
/** Weight of the fast level (the last value counts half) and of its mean absolute deviation (~100 points). */
const FAST_WEIGHT = 0.5
const SCALE_WEIGHT = 0.01
/** Slow mean (~500 points), the centre the range contracts towards. */
const CENTRE_WEIGHT = 0.002
/** Transition channel: pseudo-count per move and the row total past which a row's counts halve (forgetting). */
const TRANSITION_PRIOR = 0.1
const TRANSITION_HALVING = 1000
const TRANSITION_SURPRISE_MAX = Math.log(10 * LEVELS)

export const DEFAULT_PERIOD_MS = 86_400_000
/** One day of 5-minute points, HTM's learning period: enough for the likelihoods' first estimates. */
export const DEFAULT_WARMUP = 300

/** Scratch for one point's raw scores, shared by every scorer of the thread: score() never re-enters. */
const raw = new Float64Array(CHANNELS)

export class EnsembleScorer {
  /** Every bit of the scorer's state; serialising it is copying it. */
  readonly state: Float64Array
  /** Each channel's evidence (nats above its record) at the last point, for inspection. */
  readonly evidence = new Float64Array(CHANNELS)

  constructor(state: Float64Array) {
    if (state.length !== STATE_LENGTH) throw new RangeError(`scorer state must hold ${STATE_LENGTH} values`)
    this.state = state
  }

  static fresh(periodMs: number, warmup: number): EnsembleScorer {
    const s = new Float64Array(STATE_LENGTH)
    s[PERIOD_MS] = periodMs
    s[WARMUP] = warmup
    s[MIN] = Number.POSITIVE_INFINITY
    s[MAX] = Number.NEGATIVE_INFINITY
    s[PREV_LEVEL] = -1
    return new EnsembleScorer(s)
  }

  /** Points seen so far. */
  get count(): number {
    return this.state[COUNT] as number
  }

  /** The anomaly score of (ts, value) in [0, 1], then learns it. ts in epoch ms; both finite (the caller checks). */
  score(ts: number, x: number): number {
    const s = this.state
    const n = s[COUNT] as number
    if (n === 0) {
      s[FAST] = x
      s[CENTRE] = x
    }
    const oldMin = s[MIN] as number
    const oldMax = s[MAX] as number
    const min = x < oldMin ? x : oldMin
    const max = x > oldMax ? x : oldMax
    const range = max - min + 1e-12

    // Range: outside everything seen, graded by how far.
    if (n > 0 && (x > oldMax || x < oldMin)) {
      const excess = x > oldMax ? x - oldMax : oldMin - x
      raw[0] = Math.min(1, excess / (RANGE_EXCESS * (oldMax - oldMin) + 1e-12))
    } else raw[0] = 0

    // Season: distance from this time of day's profile.
    const period = s[PERIOD_MS] as number
    const phase = ((ts % period) + period) % period
    const bin = Math.min(SEASON_BINS - 1, Math.floor((phase / period) * SEASON_BINS))
    const seasonCount = s[SEASON_COUNT + bin] as number
    const seasonMean = s[SEASON_MEAN + bin] as number
    raw[1] = seasonCount >= 1 ? Math.min(1, Math.abs(x - seasonMean) / (SEASON_DISTANCE * range)) : 0

    // Spike: distance from the fast level in mean absolute deviations.
    const r = x - (s[FAST] as number)
    const scale = s[SCALE] as number
    raw[2] = Math.min(1, Math.abs(r) / (SPIKE_DEVIATIONS * scale + 1e-9 * range + 1e-12))

    // Transition: how often the previous level moved to this one.
    let level = Math.floor(((x - min) / range) * LEVELS)
    if (level > LEVELS - 1) level = LEVELS - 1
    const prev = s[PREV_LEVEL] as number
    if (prev >= 0) {
      const cell = TRANSITIONS + prev * LEVELS + level
      const rowAt = TRANSITION_ROWS + prev
      const moves = s[cell] as number
      const row = s[rowAt] as number
      const p = (moves + TRANSITION_PRIOR) / (row + TRANSITION_PRIOR * LEVELS)
      raw[3] = Math.min(1, -Math.log(p) / TRANSITION_SURPRISE_MAX)
      s[cell] = moves + 1
      s[rowAt] = row + 1
      if (row > TRANSITION_HALVING) {
        const base = TRANSITIONS + prev * LEVELS
        for (let j = 0; j < LEVELS; j++) s[base + j] = (s[base + j] as number) * 0.5
        s[rowAt] = (s[rowAt] as number) * 0.5
      }
    } else raw[3] = 0
    s[PREV_LEVEL] = level

    // Each channel: likelihood of its recent average, evidence above its record.
    // Records start halfway through the warm-up, once the likelihoods have some history:
    // what the scorer saw while learning (a season channel waking up after a day, say)
    // then counts as seen, instead of as news at the first scored point.
    const warmup = s[WARMUP] as number
    const live = n >= warmup
    const tracking = n >= warmup / 2
    const w = n < 1 / LIKELIHOOD_WEIGHT ? 1 / (n + 1) : LIKELIHOOD_WEIGHT
    let strongest = 0
    for (let k = 0; k < CHANNELS; k++) {
      const c = CHANNEL_BASE + k * CHANNEL_STRIDE
      const pos = c + RING + (s[c + RING_POS] as number)
      const sum = (s[c + RING_SUM] as number) + (raw[k] as number) - (s[pos] as number)
      s[pos] = raw[k] as number
      s[c + RING_POS] = ((s[c + RING_POS] as number) + 1) % AVERAGE_POINTS
      s[c + RING_SUM] = sum
      const average = sum / AVERAGE_POINTS
      const mean = s[c + AVG_MEAN] as number
      const variance = s[c + AVG_VAR] as number
      let evidence = 0
      if (tracking) {
        const z = (average - mean) / Math.sqrt(variance + AVERAGE_VARIANCE_FLOOR)
        const nats = z > 0 ? normalTailNats(z) : 0
        const record = (s[c + RECORD] as number) * RECORD_DECAY
        evidence = nats > record ? nats - record : 0
        s[c + RECORD] = nats > record ? nats : record
      }
      const d = average - mean
      s[c + AVG_MEAN] = mean + w * d
      s[c + AVG_VAR] = (1 - w) * (variance + w * d * d)
      this.evidence[k] = evidence
      if (evidence > strongest) strongest = evidence
    }

    // Learn the point.
    const seasonWeight = seasonCount + 1 > 1 / SEASON_WEIGHT ? SEASON_WEIGHT : 1 / (seasonCount + 1)
    s[SEASON_MEAN + bin] = seasonMean + seasonWeight * (x - seasonMean)
    s[SEASON_COUNT + bin] = seasonCount + 1
    s[SCALE] = scale + (n < 1 / SCALE_WEIGHT ? 1 / (n + 1) : SCALE_WEIGHT) * (Math.abs(r) - scale)
    s[FAST] = (s[FAST] as number) + FAST_WEIGHT * r
    const centre = s[CENTRE] as number
    const nextCentre = centre + (n < 1 / CENTRE_WEIGHT ? 1 / (n + 1) : CENTRE_WEIGHT) * (x - centre)
    s[CENTRE] = nextCentre
    s[MAX] = max - RANGE_CONTRACTION * (max - nextCentre)
    s[MIN] = min + RANGE_CONTRACTION * (nextCentre - min)
    s[COUNT] = n + 1

    return live && strongest > 0 ? 1 - Math.pow(2, -strongest / EVIDENCE_AT_HALF) : 0
  }
}
