// The *_over_time functions, computed exactly as Prometheus 2.42 computes them,
// so that a value sitting on a threshold compares the same way: sum and avg use
// Kahan-Neumaier compensated summation (avg as an incremental mean), min/max
// let a later number replace a NaN, quantile sorts NaN first and interpolates
// between the two nearest ranks. Verified against promtool in
// test/integration/promtool-parity.test.ts (0.1+0.2+0.3 sums to 0.6, not
// 0.6000000000000001; avg of 0.1, 0.2, 0.3 is 0.19999999999999998).
import type { RangeFunction } from './promql-subset.ts'

/** Samples of one series: parallel arrays; `stale` marks Prometheus stale markers. */
export interface SampleWindow {
  ts: number[]
  values: number[]
  stale: boolean[]
}

function kahanInc(inc: number, sum: number, c: number, out: [number, number]): void {
  const t = sum + inc
  if (Math.abs(sum) >= Math.abs(inc)) c += sum - t + inc
  else c += inc - t + sum
  out[0] = t
  out[1] = c
}

const acc: [number, number] = [0, 0]
let scratch = new Float64Array(64)

/**
 * fn over the non-stale samples at indexes [from, to) of the window, or
 * undefined when there are none (the series is absent from the result).
 */
export function overTime(fn: RangeFunction, w: SampleWindow, from: number, to: number, quantile = NaN): number | undefined {
  let count = 0
  switch (fn) {
    case 'count_over_time':
      for (let i = from; i < to; i++) if (!w.stale[i]) count++
      return count === 0 ? undefined : count
    case 'sum_over_time': {
      let sum = 0
      let c = 0
      for (let i = from; i < to; i++) {
        if (w.stale[i]) continue
        count++
        kahanInc(w.values[i] as number, sum, c, acc)
        sum = acc[0]
        c = acc[1]
      }
      if (count === 0) return undefined
      return Number.isFinite(sum) || Number.isNaN(sum) ? sum + c : sum
    }
    case 'avg_over_time': {
      let mean = 0
      let c = 0
      for (let i = from; i < to; i++) {
        if (w.stale[i]) continue
        count++
        const v = w.values[i] as number
        if (mean === Infinity || mean === -Infinity) {
          // An infinite mean stays as it is unless the sample is the other infinity or NaN.
          if ((v === Infinity || v === -Infinity) && mean > 0 === v > 0) continue
          if (Number.isFinite(v)) continue
        }
        kahanInc(v / count - mean / count, mean, c, acc)
        mean = acc[0]
        c = acc[1]
      }
      if (count === 0) return undefined
      return mean === Infinity || mean === -Infinity ? mean : mean + c
    }
    case 'min_over_time':
    case 'max_over_time': {
      let best = NaN
      let seen = false
      const max = fn === 'max_over_time'
      for (let i = from; i < to; i++) {
        if (w.stale[i]) continue
        const v = w.values[i] as number
        if (!seen) {
          best = v
          seen = true
        } else if ((max ? v > best : v < best) || Number.isNaN(best)) {
          best = v
        }
      }
      return seen ? best : undefined
    }
    case 'quantile_over_time': {
      if (scratch.length < to - from) scratch = new Float64Array(Math.max(to - from, scratch.length * 2))
      for (let i = from; i < to; i++) if (!w.stale[i]) scratch[count++] = w.values[i] as number
      if (count === 0) return undefined
      return quantileOf(quantile, scratch.subarray(0, count))
    }
  }
}

/** Prometheus' quantile: NaN sorts first, linear interpolation between ranks, ±Inf outside [0, 1]. */
function quantileOf(q: number, values: Float64Array): number {
  if (q < 0) return -Infinity
  if (q > 1) return Infinity
  if (Number.isNaN(q)) return NaN
  // Float64Array sorts numerically with NaN last; Prometheus orders NaN first.
  values.sort()
  let nans = 0
  while (nans < values.length && Number.isNaN(values[values.length - 1 - nans] as number)) nans++
  const n = values.length
  const at = (i: number): number => (i < nans ? NaN : (values[i - nans] as number))
  const rank = q * (n - 1)
  const lower = Math.max(0, Math.floor(rank))
  const upper = Math.min(n - 1, lower + 1)
  const weight = rank - Math.floor(rank)
  return at(lower) * (1 - weight) + at(upper) * weight
}
