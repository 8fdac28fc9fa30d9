// Event-time windows of one series: pure logic, no I/O, no clocks.
//
// Windows are aligned to the epoch. A tumbling window of size S covers
// [k·S, (k+1)·S); a sliding window of size S and hop H covers [k·H, k·H + S)
// (S a multiple of H). Samples go into panes of the grid every window shares
// (the gcd of the hops), so a sliding window is the merge of its panes and a
// sample is added once however many windows hold it. A window is emitted once,
// when the watermark reaches its end, if it holds at least one sample.
//
// Aggregates: count, sum, avg, min, max (exact); rate = sum / window seconds,
// the per-second rate of what the samples report (beacons carry increments:
// page_views 150 means 150 more views, so rate is views per second; for a gauge
// it is the mean per second of window, rarely useful); p50/p95/p99 from DDSketch,
// within the configured relative accuracy of the true value, clamped to min/max.
import type { WindowSpec } from './stream-config.ts'
import { mergeSketchInto, newSketch, quantileOf, type QuantileSketch } from './quantile-sketch.ts'
import type { MessageContext, SeriesEvaluator, SeriesIdentity, StreamOutput } from './series-evaluator.ts'

export interface WindowAggregate {
  count: number
  sum: number
  avg: number
  min: number
  max: number
  /** sum per second of window. */
  rate: number
  p50: number
  p95: number
  p99: number
}

export interface WindowResult extends StreamOutput, WindowAggregate {
  kind: 'window'
  partition: number
  tenant: string
  series: string
  metric: string
  tags: Record<string, string> | null
  /** The window spec's name. */
  window: string
  /** Epoch ms, inclusive. */
  start: number
  /** Epoch ms, exclusive. */
  end: number
}

/** The id a window result has in every run over the same log: spec, start, tenant, then the series (free text last). */
export function windowResultId(window: string, start: number, tenant: string, series: string): string {
  return `${window}|${start}|${tenant}|${series}`
}

export function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b]
  return a
}

/** The window layout every series of a partition shares. */
export class WindowGrid {
  readonly specs: readonly WindowSpec[]
  /** Pane width: every window boundary is a multiple of it. */
  readonly paneMs: number

  constructor(specs: readonly WindowSpec[], extraIntervalMs?: number) {
    this.specs = specs
    let pane = specs.reduce((g, s) => gcd(g, s.hopMs), 0)
    if (extraIntervalMs !== undefined) pane = gcd(pane, extraIntervalMs)
    this.paneMs = pane
  }

  paneStart(ts: number): number {
    return Math.floor(ts / this.paneMs) * this.paneMs
  }

  /** The end of the earliest window (of any spec) holding ts: the watermark that closes the first window a sample at ts joins. */
  earliestEnd(ts: number): number {
    let end = Infinity
    for (const spec of this.specs) {
      const e = firstStartHolding(ts, spec) + spec.sizeMs
      if (e < end) end = e
    }
    return end
  }
}

/** The first window start (on the spec's hop grid) whose window holds t. */
export function firstStartHolding(t: number, spec: WindowSpec): number {
  return Math.floor((t - spec.sizeMs) / spec.hopMs) * spec.hopMs + spec.hopMs
}

interface Pane {
  start: number
  sketch: QuantileSketch
  /** The message that created the pane: replay must begin there to rebuild it. */
  first: MessageContext
}

/** The windows of one series. Implements the evaluator seam, so rules sit beside it. */
export class SeriesWindows implements SeriesEvaluator {
  readonly #grid: WindowGrid
  readonly #id: SeriesIdentity
  readonly #accuracy: number
  /** Sorted by start; samples mostly arrive in time order, so the last pane is checked first. */
  readonly #panes: Pane[] = []
  /** Per spec, the start of the next window not yet emitted or skipped. */
  readonly #cursors: number[]
  #oldest: MessageContext | undefined

  constructor(grid: WindowGrid, identity: SeriesIdentity, quantileAccuracy: number) {
    this.#grid = grid
    this.#id = identity
    this.#accuracy = quantileAccuracy
    this.#cursors = grid.specs.map(() => -Infinity)
  }

  onSample(ts: number, value: number, ctx: MessageContext): void {
    const start = this.#grid.paneStart(ts)
    const panes = this.#panes
    const last = panes[panes.length - 1]
    let pane: Pane | undefined
    if (last !== undefined && last.start === start) pane = last
    else if (last === undefined || last.start < start) {
      pane = { start, sketch: newSketch(this.#accuracy), first: ctx }
      panes.push(pane)
    } else {
      let lo = 0
      let hi = panes.length
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if ((panes[mid] as Pane).start < start) lo = mid + 1
        else hi = mid
      }
      pane = panes[lo]
      if (pane === undefined || pane.start !== start) {
        pane = { start, sketch: newSketch(this.#accuracy), first: ctx }
        panes.splice(lo, 0, pane)
      }
    }
    if (pane.first === ctx && (this.#oldest === undefined || ctx.seq < this.#oldest.seq)) this.#oldest = ctx
    pane.sketch.accept(value)
  }

  onWatermark(watermark: number, emit: boolean, out: StreamOutput[]): void {
    const panes = this.#panes
    const specs = this.#grid.specs
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i] as WindowSpec
      let s = this.#cursors[i] as number
      let j = this.#firstPaneAtOrAfter(s)
      while (j < panes.length) {
        const earliest = firstStartHolding((panes[j] as Pane).start, spec)
        if (s < earliest) s = earliest
        const end = s + spec.sizeMs
        if (end > watermark) break
        if (emit) out.push(this.#result(spec, s, end, j))
        s += spec.hopMs
        while (j < panes.length && (panes[j] as Pane).start < s) j++
      }
      // Every later on-time sample is at or after the watermark, so no window starting before this one can receive one.
      const firstOpen = firstStartHolding(watermark, spec)
      this.#cursors[i] = s > firstOpen ? s : firstOpen
    }
    this.#prune()
  }

  oldestContext(): MessageContext | undefined {
    return this.#oldest
  }

  nextDue(): number {
    const panes = this.#panes
    const specs = this.#grid.specs
    let due = Infinity
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i] as WindowSpec
      const cursor = this.#cursors[i] as number
      const pane = panes[this.#firstPaneAtOrAfter(cursor)]
      if (pane === undefined) continue
      const earliest = firstStartHolding(pane.start, spec)
      const end = (cursor > earliest ? cursor : earliest) + spec.sizeMs
      if (end < due) due = end
    }
    return due
  }

  isIdle(): boolean {
    return this.#panes.length === 0
  }

  #firstPaneAtOrAfter(t: number): number {
    const panes = this.#panes
    let lo = 0
    let hi = panes.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((panes[mid] as Pane).start < t) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Drops panes before every spec's cursor: no window still to come holds them. */
  #prune(): void {
    let keepFrom = Infinity
    for (const c of this.#cursors) if (c < keepFrom) keepFrom = c
    const drop = this.#firstPaneAtOrAfter(keepFrom)
    if (drop === 0) return
    this.#panes.splice(0, drop)
    let oldest: MessageContext | undefined
    for (const p of this.#panes) if (oldest === undefined || p.first.seq < oldest.seq) oldest = p.first
    this.#oldest = oldest
  }

  #result(spec: WindowSpec, start: number, end: number, fromPane: number): WindowResult {
    const panes = this.#panes
    let sketch: QuantileSketch
    const only = panes[fromPane] as Pane
    const next = panes[fromPane + 1]
    if (next === undefined || next.start >= end) sketch = only.sketch
    else {
      sketch = newSketch(this.#accuracy)
      for (let k = fromPane; k < panes.length && (panes[k] as Pane).start < end; k++) mergeSketchInto(sketch, (panes[k] as Pane).sketch)
    }
    const id = this.#id
    return {
      kind: 'window',
      id: windowResultId(spec.name, start, id.tenant, id.series),
      partition: id.partition,
      tenant: id.tenant,
      series: id.series,
      metric: id.metric,
      tags: id.tags,
      window: spec.name,
      start,
      end,
      count: sketch.count,
      sum: sketch.sum,
      avg: sketch.sum / sketch.count,
      min: sketch.min,
      max: sketch.max,
      rate: sketch.sum / (spec.sizeMs / 1000),
      p50: quantileOf(sketch, 0.5),
      p95: quantileOf(sketch, 0.95),
      p99: quantileOf(sketch, 0.99),
    }
  }
}
