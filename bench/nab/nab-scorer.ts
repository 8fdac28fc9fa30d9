// NAB's scoring, reimplemented to give NAB's figures (checked against published
// detector outputs in test/unit/nab-scorer.test.ts): per-row weights from the
// labelled windows (scaled sigmoid, probation), the corpus score of a threshold,
// the threshold that maximises it, and the normalisation between the null and
// the perfect detector. Pure functions over arrays: the runner does the I/O.
//
// How NAB counts (nab/sweeper.py, nab/runner.py):
// - the first min(floor(0.15 n), 750) rows of a file are probationary: not scored;
// - a row inside a window is worth tpWeight * S(-(right - i + 1) / width) / S(-1),
//   width = rows in the window, S(x) = 2 sigmoid(-5x) - 1, so the left edge is worth
//   exactly tpWeight and later rows less; only a window's best (earliest) detected
//   row counts, and a window with none costs -fnWeight;
// - a row outside every window is worth fpWeight * S(|prevRight - i| / (prevWidth - 1))
//   (a negative number), S = -1 when no window precedes it or the distance is >= 3;
// - a row is detected when its anomaly score is >= the threshold; the corpus
//   score of a threshold is the sum over files, and the chosen threshold is the one
//   that maximises it;
// - normalised = 100 (S - S_null) / (S_perfect - S_null): the null detector (a
//   constant score, optimised the same way) detects nothing, the perfect one each
//   window at its left edge (tpWeight per window).

export interface CostMatrix {
  tpWeight: number
  fpWeight: number
  fnWeight: number
}

export type ProfileName = 'standard' | 'rewardLowFP' | 'rewardLowFN'

/** NAB's config/profiles.json, under this project's names. */
export const PROFILES: Record<ProfileName, CostMatrix> = {
  standard: { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 },
  rewardLowFP: { tpWeight: 1, fpWeight: 0.22, fnWeight: 1 },
  rewardLowFN: { tpWeight: 1, fpWeight: 0.11, fnWeight: 2 },
}
export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[]

/** NAB's names for the profiles, as in its result files. */
export const NAB_PROFILE_NAMES: Record<ProfileName, string> = {
  standard: 'standard',
  rewardLowFP: 'reward_low_FP_rate',
  rewardLowFN: 'reward_low_FN_rate',
}

const PROBATION_PERCENT = 0.15
const PROBATION_CAP_ROWS = 0.15 * 5000

/** One file's rows as the scorer needs them: timestamps (ms), scores, labelled windows [start, end] in ms. */
export interface ScoredFile {
  name: string
  timestamps: Float64Array
  scores: Float64Array
  windows: ReadonlyArray<readonly [number, number]>
}

export function probationaryRows(rows: number): number {
  return Math.min(Math.floor(PROBATION_PERCENT * rows), PROBATION_CAP_ROWS)
}

function scaledSigmoid(position: number): number {
  if (position >= 3) return -1
  return 2 / (1 + Math.exp(5 * position)) - 1
}
const MAX_TP = scaledSigmoid(-1)

/**
 * Each scorable row's weight and window: `window[i]` is -1 outside every window,
 * else the window's index within the file; rows of the probation are left out.
 * Window edges are matched to rows by timestamp, as NAB does; an edge that falls
 * between rows (NAB's labeller never writes one) snaps inward to the rows inside.
 */
export interface RowWeights {
  scores: Float64Array
  weights: Float64Array
  window: Int32Array
  /** Windows with at least one scorable row: the ones a detector can hit or miss. */
  scorableWindows: number
}

export function rowWeights(file: ScoredFile, cost: CostMatrix): RowWeights {
  const n = file.timestamps.length
  const bounds = windowRows(file)
  const start = probationaryRows(n)
  const count = Math.max(0, n - start)
  const scores = new Float64Array(count)
  const weights = new Float64Array(count)
  const window = new Int32Array(count)
  const seen = new Set<number>()
  let next = 0 // the next window, in row order
  let prevRight = -1
  let prevWidth = 0
  for (let i = 0; i < n; i++) {
    while (next < bounds.length && (bounds[next] as [number, number])[1] < i) {
      const [left, right] = bounds[next] as [number, number]
      prevRight = right
      prevWidth = right - left + 1
      next++
    }
    let weight: number
    let inWindow = -1
    const current = bounds[next]
    if (current && current[0] <= i && i <= current[1]) {
      const width = current[1] - current[0] + 1
      weight = (scaledSigmoid(-(current[1] - i + 1) / width) * cost.tpWeight) / MAX_TP
      inWindow = next
    } else {
      const position = prevRight < 0 ? 3 : Math.abs(prevRight - i) / (prevWidth - 1)
      weight = scaledSigmoid(position) * cost.fpWeight
    }
    if (i >= start) {
      const k = i - start
      scores[k] = file.scores[i] as number
      weights[k] = weight
      window[k] = inWindow
      if (inWindow >= 0) seen.add(inWindow)
    }
  }
  return { scores, weights, window, scorableWindows: seen.size }
}

/** Each window as [first row, last row], in order; windows holding no row are dropped. */
function windowRows(file: ScoredFile): Array<[number, number]> {
  const t = file.timestamps
  const out: Array<[number, number]> = []
  for (const [from, to] of file.windows) {
    let left = 0
    while (left < t.length && (t[left] as number) < from) left++
    let right = t.length - 1
    while (right >= 0 && (t[right] as number) > to) right--
    if (left <= right) out.push([left, right])
  }
  return out.sort((a, b) => a[0] - b[0])
}

export interface ThresholdScore {
  threshold: number
  score: number
}

/**
 * The corpus score at every distinct anomaly score, highest threshold first: one
 * pass over the scorable rows of all files sorted by score, as NAB's sweep does
 * (a window's contribution rises from -fnWeight to its best detected row's weight).
 */
export function sweepCorpus(files: ScoredFile[], cost: CostMatrix): ThresholdScore[] {
  const parts = files.map((f) => rowWeights(f, cost))
  let total = 0
  for (const p of parts) total += p.scores.length
  const scores = new Float64Array(total)
  const weights = new Float64Array(total)
  const window = new Int32Array(total) // corpus-wide window id, -1 outside
  let at = 0
  let windowBase = 0
  let windowCount = 0
  for (const p of parts) {
    let maxWindow = -1
    for (let k = 0; k < p.scores.length; k++) {
      scores[at] = p.scores[k] as number
      weights[at] = p.weights[k] as number
      const w = p.window[k] as number
      window[at] = w < 0 ? -1 : windowBase + w
      if (w > maxWindow) maxWindow = w
      at++
    }
    windowBase += maxWindow + 1
    windowCount = windowBase
  }
  const order = new Uint32Array(total)
  for (let i = 0; i < total; i++) order[i] = i
  order.sort((a, b) => (scores[b] as number) - (scores[a] as number))

  // Scorable windows start as misses; ids of windows with no scorable row are never touched.
  const best = new Float64Array(windowCount).fill(Number.NaN)
  let score = 0
  for (let i = 0; i < total; i++) {
    const w = window[i] as number
    if (w >= 0 && Number.isNaN(best[w])) {
      best[w] = -cost.fnWeight
      score -= cost.fnWeight
    }
  }
  const out: ThresholdScore[] = [{ threshold: 1.1, score }]
  for (let k = 0; k < total; k++) {
    const i = order[k] as number
    const w = window[i] as number
    const weight = weights[i] as number
    if (w < 0) score += weight
    else if (weight > (best[w] as number)) {
      score += weight - (best[w] as number)
      best[w] = weight
    }
    const next = order[k + 1]
    if (next === undefined || scores[next] !== scores[i]) out.push({ threshold: scores[i] as number, score })
  }
  return out
}

/** The corpus score when rows scoring >= threshold are detections. */
export function scoreAtThreshold(files: ScoredFile[], cost: CostMatrix, threshold: number): number {
  let score = 0
  for (const file of files) {
    const p = rowWeights(file, cost)
    // A window's best detected row; NaN while it has no scorable row, so windows of the probation count for nothing.
    const best = new Float64Array(file.windows.length).fill(Number.NaN)
    for (let k = 0; k < p.scores.length; k++) {
      const w = p.window[k] as number
      if (w >= 0 && Number.isNaN(best[w])) best[w] = -cost.fnWeight
      if ((p.scores[k] as number) < threshold) continue
      if (w < 0) score += p.weights[k] as number
      else if ((p.weights[k] as number) > (best[w] as number)) best[w] = p.weights[k] as number
    }
    for (const b of best) if (!Number.isNaN(b)) score += b
  }
  return score
}

/** The threshold with the highest corpus score (the highest such threshold on a tie). */
export function bestThreshold(files: ScoredFile[], cost: CostMatrix): ThresholdScore {
  let best: ThresholdScore = { threshold: 1.1, score: Number.NEGATIVE_INFINITY }
  for (const row of sweepCorpus(files, cost)) if (row.score > best.score) best = row
  return best
}

/** Windows in the labels of these files: the perfect detector scores tpWeight on each. */
export function windowCount(files: ScoredFile[]): number {
  return files.reduce((n, f) => n + f.windows.length, 0)
}

/** The null detector's score: a constant anomaly score, its threshold optimised like any detector's. */
export function nullScore(files: ScoredFile[], cost: CostMatrix): number {
  const constant = files.map((f) => ({ ...f, scores: new Float64Array(f.timestamps.length).fill(0.5) }))
  return bestThreshold(constant, cost).score
}

export function normalise(raw: number, nullRaw: number, files: ScoredFile[], cost: CostMatrix): number {
  const perfect = windowCount(files) * cost.tpWeight
  return (100 * (raw - nullRaw)) / (perfect - nullRaw)
}

export interface ProfileResult {
  /** Normalised score at the best threshold, 0 = null detector, 100 = perfect. */
  score: number
  threshold: number
  raw: number
  /** Normalised score at the fixed threshold passed in, when one was. */
  atThreshold?: number
}

/** Every profile: best threshold and its normalised score, and the score at a fixed threshold if given. */
export function scoreCorpus(files: ScoredFile[], fixedThreshold?: number): Record<ProfileName, ProfileResult> {
  const out = {} as Record<ProfileName, ProfileResult>
  for (const name of PROFILE_NAMES) {
    const cost = PROFILES[name]
    const best = bestThreshold(files, cost)
    const base = nullScore(files, cost)
    const result: ProfileResult = { score: normalise(best.score, base, files, cost), threshold: best.threshold, raw: best.score }
    if (fixedThreshold !== undefined) result.atThreshold = normalise(scoreAtThreshold(files, cost, fixedThreshold), base, files, cost)
    out[name] = result
  }
  return out
}
