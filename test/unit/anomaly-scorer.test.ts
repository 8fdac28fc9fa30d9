// The online anomaly scorer's promises: scores in [0, 1]; no look-ahead (a
// point's score never depends on later points); a restored scorer continues
// with identical scores; fixed-size state; bad input refused without harm; and
// it does its job on planted anomalies (spike, level shift, variance change)
// while staying quiet on steady and smoothly seasonal series. Synthetic series
// come from a seeded generator, so every run sees the same numbers.
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { readCorpus } from '../../bench/nab/corpus.ts'
import { DEFAULT_THRESHOLD, DEFAULT_WARMUP, STATE_BYTES, createScorer, restoreScorer, type AnomalyScorer } from '../../engine/anomaly/index.ts'

const STEP = 300_000 // 5 minutes
const DAY = 86_400_000
const T0 = Date.UTC(2024, 0, 1)
const POINTS = 2880 // ten days
const PLANT = 2400 // the anomaly starts on day nine

/** mulberry32: a small seeded generator, so the synthetic series are the same on every run. */
function random(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = Math.imul(s ^ (s >>> 15), s | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r())
}

type Series = (i: number, noise: number) => number
const daily = (i: number): number => 50 + 10 * Math.sin((2 * Math.PI * i * STEP) / DAY)
const SERIES: Record<string, Series> = {
  constant: () => 45,
  ramp: (i) => 10 + i * 0.01,
  smoothSeasonal: (i) => daily(i),
  noisySeasonal: (i, e) => daily(i) + e,
  spike: (i, e) => daily(i) + e + (i === PLANT ? 15 : 0),
  levelShift: (i, e) => daily(i) + e + (i >= PLANT ? 8 : 0),
  varianceChange: (i, e) => daily(i) + e * (i >= PLANT ? 5 : 1),
}

function run(series: Series, seed: number, scorer: AnomalyScorer = createScorer(), from = 0, to = POINTS): number[] {
  const r = random(seed)
  const noise = Array.from({ length: POINTS }, () => normal(r))
  const out: number[] = []
  for (let i = from; i < to; i++) out.push(scorer.score(T0 + i * STEP, series(i, noise[i] as number)))
  return out
}
const max = (xs: number[]): number => xs.reduce((m, x) => (x > m ? x : m), 0)

describe('scores', () => {
  it('are in [0, 1] and 0 during the warm-up, on every NAB file of the subset', () => {
    const files = readCorpus(fileURLToPath(new URL('../../bench/nab/', import.meta.url)))
    for (const f of files) {
      const scorer = createScorer()
      for (let i = 0; i < f.values.length; i++) {
        const s = scorer.score(f.timestamps[i] as number, f.values[i] as number)
        if (!(s >= 0 && s <= 1) || (i < DEFAULT_WARMUP && s !== 0)) throw new Error(`${f.name} row ${i}: score ${s}`)
      }
    }
  })

  it("never look ahead: a point's score is the same whatever follows it", () => {
    const base = run(SERIES.noisySeasonal as Series, 7)
    // The same points up to PLANT, then something else entirely after it.
    const altered = run((i, e) => (i < PLANT ? (SERIES.noisySeasonal as Series)(i, e) : 1e6 - i * 37), 7)
    expect(altered.slice(0, PLANT)).toEqual(base.slice(0, PLANT))
    expect(altered.slice(PLANT)).not.toEqual(base.slice(PLANT))
    // Scoring a prefix gives that prefix's scores.
    expect(run(SERIES.noisySeasonal as Series, 7, createScorer(), 0, 1000)).toEqual(base.slice(0, 1000))
  })
})

describe('state', () => {
  it('restores to identical scores after a restart, at any point', () => {
    const series = SERIES.levelShift as Series
    const straight = run(series, 3)
    for (const cut of [0, 1, 299, 300, 1234, PLANT + 1]) {
      const first = createScorer()
      const before = run(series, 3, first, 0, cut)
      const bytes = first.serialize()
      const restored = restoreScorer(bytes)
      expect(restored.count).toBe(cut)
      expect(restored.serialize()).toEqual(bytes)
      const after = run(series, 3, restored, cut, POINTS)
      expect([...before, ...after]).toEqual(straight)
    }
  })

  it('restores from a copy at an odd offset, as bytes read from a file would be', () => {
    const scorer = createScorer()
    run(SERIES.noisySeasonal as Series, 5, scorer, 0, 500)
    const padded = new Uint8Array(STATE_BYTES + 3)
    padded.set(scorer.serialize(), 3)
    const restored = restoreScorer(padded.subarray(3))
    expect(run(SERIES.noisySeasonal as Series, 5, restored, 500, 900)).toEqual(run(SERIES.noisySeasonal as Series, 5, scorer, 500, 900))
  })

  it('has a fixed size: STATE_BYTES before the first point and after 100,000', () => {
    const scorer = createScorer()
    expect(scorer.serialize().length).toBe(STATE_BYTES)
    for (let i = 0; i < 100_000; i++) scorer.score(T0 + i * STEP, Math.sin(i / 7) * 100 + (i % 97))
    expect(scorer.serialize().length).toBe(STATE_BYTES)
    expect(STATE_BYTES).toBeLessThan(2048)
  })

  it('refuses bytes it did not write, with TM_ENGINE_ANOMALY_STATE_INVALID', () => {
    const good = createScorer().serialize()
    const wrongMagic = good.slice()
    wrongMagic[0] = 0
    const wrongVersion = good.slice()
    wrongVersion[4] = 99
    const nan = good.slice()
    new DataView(nan.buffer).setFloat64(8 + 8 * 2, Number.NaN, true) // the point count
    for (const bytes of [good.subarray(0, 100), new Uint8Array(STATE_BYTES), wrongMagic, wrongVersion, nan]) {
      expect(() => restoreScorer(bytes)).toThrow(expect.objectContaining({ code: 'TM_ENGINE_ANOMALY_STATE_INVALID' }))
    }
  })

  it('refuses non-finite input and bad options with TM_ENGINE_ANOMALY_INPUT_INVALID, and the state stays as it was', () => {
    const scorer = createScorer()
    run(SERIES.noisySeasonal as Series, 1, scorer, 0, 400)
    const before = scorer.serialize()
    for (const [ts, v] of [
      [T0, Number.NaN],
      [T0, Number.POSITIVE_INFINITY],
      [Number.NaN, 1],
    ] as Array<[number, number]>) {
      expect(() => scorer.score(ts, v)).toThrow(expect.objectContaining({ code: 'TM_ENGINE_ANOMALY_INPUT_INVALID' }))
    }
    expect(scorer.serialize()).toEqual(before)
    expect(() => createScorer({ warmup: -1 })).toThrow(expect.objectContaining({ code: 'TM_ENGINE_ANOMALY_INPUT_INVALID' }))
    expect(() => createScorer({ seasonPeriodMs: 0 })).toThrow(expect.objectContaining({ code: 'TM_ENGINE_ANOMALY_INPUT_INVALID' }))
  })
})

describe('detection', () => {
  it('stays below the threshold on constant, ramping and smoothly seasonal series', () => {
    for (const name of ['constant', 'ramp', 'smoothSeasonal']) expect(max(run(SERIES[name] as Series, 1)), name).toBeLessThan(DEFAULT_THRESHOLD)
  })

  it('raises few alarms on a noisy seasonal series: under one in a thousand points', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const alarms = run(SERIES.noisySeasonal as Series, seed).filter((s) => s >= DEFAULT_THRESHOLD).length
      expect(alarms, `seed ${seed}`).toBeLessThan(POINTS / 1000)
    }
  })

  for (const [name, within] of [
    ['spike', 2],
    ['levelShift', 12],
    ['varianceChange', 12],
  ] as Array<[string, number]>) {
    it(`flags a planted ${name} within ${within} points, above everything the same noise scored before it`, () => {
      for (const seed of [1, 2, 3, 4, 5]) {
        const scores = run(SERIES[name] as Series, seed)
        const quiet = run(SERIES.noisySeasonal as Series, seed)
        const first = scores.findIndex((s, i) => i >= PLANT && s >= DEFAULT_THRESHOLD)
        expect(first - PLANT, `seed ${seed}: first alarm after the plant`).toBeGreaterThanOrEqual(0)
        expect(first - PLANT, `seed ${seed}`).toBeLessThan(within)
        // Without the plant, the same stretch stays quiet.
        expect(max(quiet.slice(PLANT, PLANT + within)), `seed ${seed}: same stretch unplanted`).toBeLessThan(DEFAULT_THRESHOLD)
        expect(max(scores.slice(PLANT, PLANT + within)), `seed ${seed}`).toBeGreaterThan(max(scores.slice(DEFAULT_WARMUP, PLANT)))
      }
    })
  }
})
