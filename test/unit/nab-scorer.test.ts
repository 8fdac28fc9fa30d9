// The bench's NAB scorer gives NAB's own figures: two published detectors'
// outputs for the repository's subset (bench/nab/reference-results/, as NAB
// released them) score exactly what NAB's scorer gives them, and the rules it is
// built from (window weights, probation, best threshold, normalisation) hold on
// small cases worked by hand.
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { readCorpus, readResultScores } from '../../bench/nab/corpus.ts'
import { PROFILES, bestThreshold, nullScore, probationaryRows, scoreAtThreshold, scoreCorpus, sweepCorpus, type ScoredFile } from '../../bench/nab/nab-scorer.ts'

const folder = fileURLToPath(new URL('../../bench/nab/', import.meta.url))
const corpus = readCorpus(folder)
const detectorFiles = (detector: string): ScoredFile[] =>
  corpus.map((f) => ({ name: f.name, timestamps: f.timestamps, windows: f.windows, scores: readResultScores(`${folder}reference-results`, detector, f.name) }))

describe('published figures (bench/nab/reference-results/README.md)', () => {
  it('numenta: 72.30 / 69.12 / 75.98 at thresholds 0.5555 / 0.6489 / 0.5555', () => {
    const r = scoreCorpus(detectorFiles('numenta'))
    expect(r.standard.score.toFixed(2)).toBe('72.30')
    expect(r.rewardLowFP.score.toFixed(2)).toBe('69.12')
    expect(r.rewardLowFN.score.toFixed(2)).toBe('75.98')
    expect(r.standard.threshold.toFixed(4)).toBe('0.5555')
    expect(r.rewardLowFP.threshold.toFixed(4)).toBe('0.6489')
    expect(r.rewardLowFN.threshold.toFixed(4)).toBe('0.5555')
  })

  it('windowedGaussian: 26.52 / 2.24 / 37.12 at threshold 1.0', () => {
    const r = scoreCorpus(detectorFiles('windowedGaussian'))
    expect(r.standard.score.toFixed(2)).toBe('26.52')
    expect(r.rewardLowFP.score.toFixed(2)).toBe('2.24')
    expect(r.rewardLowFN.score.toFixed(2)).toBe('37.12')
    for (const p of [r.standard, r.rewardLowFP, r.rewardLowFN]) expect(p.threshold.toFixed(4)).toBe('1.0000')
  })

  it('the sweep and scoring at one threshold agree', () => {
    const files = detectorFiles('numenta')
    for (const cost of Object.values(PROFILES)) {
      const best = bestThreshold(files, cost)
      expect(scoreAtThreshold(files, cost, best.threshold)).toBeCloseTo(best.score, 6)
      for (const row of sweepCorpus(files, cost).filter((_, i) => i % 997 === 0)) expect(scoreAtThreshold(files, cost, row.threshold)).toBeCloseTo(row.score, 6)
    }
  })
})

describe("NAB's rules on small cases", () => {
  // 2,000 rows a minute apart: probation is 300 rows; one window over rows 1000..1099.
  const t = Float64Array.from({ length: 2000 }, (_, i) => i * 60_000)
  const file = (hits: number[]): ScoredFile => {
    const scores = new Float64Array(t.length)
    for (const i of hits) scores[i] = 1
    return { name: 'x/y.csv', timestamps: t, windows: [[t[1000] as number, t[1099] as number]], scores }
  }
  const standard = PROFILES.standard

  it('probation is 15 % of the rows, at most 750', () => {
    expect(probationaryRows(2000)).toBe(300)
    expect(probationaryRows(4032)).toBe(604)
    expect(probationaryRows(10_000)).toBe(750)
  })

  it('a detection at the left edge is worth tpWeight, later ones less, and only the best counts', () => {
    expect(scoreAtThreshold([file([1000])], standard, 0.5)).toBeCloseTo(1, 12)
    const middle = scoreAtThreshold([file([1050])], standard, 0.5)
    expect(middle).toBeLessThan(1)
    expect(middle).toBeGreaterThan(0.8)
    expect(scoreAtThreshold([file([1000, 1050, 1099])], standard, 0.5)).toBeCloseTo(1, 12)
  })

  it('a missed window costs fnWeight; probation and unwindowed rows before any window cost fpWeight only after probation', () => {
    expect(scoreAtThreshold([file([])], standard, 0.5)).toBe(-1)
    expect(scoreAtThreshold([file([10])], standard, 0.5)).toBe(-1) // in probation: ignored
    expect(scoreAtThreshold([file([500])], standard, 0.5)).toBeCloseTo(-1 - 0.11, 12)
    // Just after the window the false positive is cheap; three window widths later it costs the full weight.
    expect(scoreAtThreshold([file([1100])], standard, 0.5)).toBeGreaterThan(-1 - 0.01)
    expect(scoreAtThreshold([file([1500])], standard, 0.5)).toBeCloseTo(-1 - 0.11, 12)
  })

  it('the null detector scores -fnWeight per window and normalises to 0, the perfect one to 100', () => {
    expect(nullScore([file([])], standard)).toBe(-1)
    expect(scoreCorpus([file([1000])]).standard.score).toBeCloseTo(100, 9)
    expect(scoreCorpus([file([])]).standard.score).toBeCloseTo(0, 9)
  })
})
