// Mergeable quantiles: DDSketch (@datadog/sketches-js) keeps every value within
// a relative error of its true rank's value, and two sketches merge into one
// with the same guarantee, which is what lets a sliding window be the merge of
// its panes. The sketch also keeps count, sum, min and max exactly.
import { DDSketch } from '@datadog/sketches-js'

export type QuantileSketch = DDSketch

export function newSketch(relativeAccuracy: number): QuantileSketch {
  return new DDSketch({ relativeAccuracy })
}

/** Whether this sketches-js merges negative values itself (2.1.1 does not; checked once, so a fixed release is not merged twice). */
export const LIBRARY_MERGES_NEGATIVES = (() => {
  const a = new DDSketch()
  a.accept(1)
  const b = new DDSketch()
  b.accept(-1)
  a.merge(b)
  return a.negativeStore.count === 1
})()

/**
 * Merges source into target. sketches-js 2.1.1 merges only the positive store
 * (DataDog/sketches-js#22, open): values below zero were counted but lost their
 * bins, so quantiles of a merged sketch with negative values were wrong.
 * This merges the negative store too, unless the library does.
 */
export function mergeSketchInto(target: QuantileSketch, source: QuantileSketch): void {
  if (source.count === 0) return
  // An empty target copies the whole source, negative store included: the bug is not on this path.
  const copies = target.count === 0
  target.merge(source)
  if (!copies && !LIBRARY_MERGES_NEGATIVES) target.negativeStore.merge(source.negativeStore)
}

/** The value at quantile q, clamped to the exact min and max (a bin's midpoint may lie just outside them). */
export function quantileOf(sketch: QuantileSketch, q: number): number {
  const v = sketch.getValueAtQuantile(q)
  return v < sketch.min ? sketch.min : v > sketch.max ? sketch.max : v
}
