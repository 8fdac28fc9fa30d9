// The incremental rule evaluator: Prometheus' alerting semantics on an
// event-time grid, one small state per (group, series).
//
// Feed each series' samples in event-time order (push), then say how far event
// time has surely progressed (advance(watermark): every sample at or before it
// has been pushed). Each group is evaluated at t = k × interval (from the epoch;
// Prometheus itself offsets a group's grid by a hash of its name, promtool
// starts at 0 as we do), and the evaluation at t sees exactly the samples
// stamped ≤ t, whenever it actually runs:
//   - an instant selector takes the newest sample in [t - 5m, t], none if that
//     sample is a stale marker;
//   - <fn>_over_time(sel[r]) takes the samples in [t - r, t] (both ends, as
//     Prometheus 2.x does), stale markers dropped;
//   - an alert is pending from the first true evaluation (activeAt) and fires
//     at the first evaluation with t - activeAt >= for, so a `for` off the grid
//     rounds up; one false evaluation while pending drops it;
//   - a firing alert whose condition turns false keeps firing while
//     t - (first false evaluation) < keep_firing_for, and the clock restarts
//     when the condition is true again.
// Series are independent (the subset has no cross-series operator), so a
// series' evaluations run only when it has samples in its window or an active
// alert; an idle one costs nothing. Parity with promtool is tested in
// test/integration/promtool-parity.test.ts.
import { seriesKey as canonicalSeriesKey } from '../model/sample.ts'
import type { CompareOp } from './promql-subset.ts'
import type { AlertRule, RuleGroup } from './rule-file.ts'
import type { TemplateData } from './template.ts'
import { overTime, type SampleWindow } from './window-functions.ts'

/** Prometheus' default query lookback (--query.lookback-delta). */
export const LOOKBACK_DELTA_MS = 5 * 60_000

export type AlertStateName = 'pending' | 'firing'
/** pending: became true; firing: held for `for`; resolved: a firing alert ended; inactive: a pending alert was reset. */
export type TransitionState = 'pending' | 'firing' | 'resolved' | 'inactive'

export interface AlertTransition {
  group: string
  alert: string
  state: TransitionState
  /** Series tags (no __name__) + the rule's labels + alertname. */
  labels: Record<string, string>
  annotations: Record<string, string>
  /** The expression's value at the last true evaluation. */
  value: number
  /** When the alert became pending (epoch ms). */
  activeAt: number
  /** The evaluation time of this transition (epoch ms). */
  at: number
}

export interface ActiveAlert {
  group: string
  alert: string
  state: AlertStateName
  labels: Record<string, string>
  annotations: Record<string, string>
  value: number
  activeAt: number
  /** When it started firing; undefined while pending. */
  firedAt?: number
}

export interface EvaluatorOptions {
  /** $externalLabels in templates. */
  externalLabels?: Readonly<Record<string, string>>
  /** $externalURL in templates. */
  externalUrl?: string
  lookbackMs?: number
}

const PENDING = 1
const FIRING = 2

interface AlertSlot {
  state: typeof PENDING | typeof FIRING
  activeAt: number
  value: number
  /** First false evaluation while firing with keep_firing_for; NaN when none. */
  keepFiringSince: number
  firedAt: number
}

/** The serializable state of one (group, series); plain arrays and numbers (msgpack or structuredClone; NaN and Inf are values). */
export interface SeriesEvaluatorState {
  metric: string
  tags: Record<string, string> | null
  /** Next grid time to evaluate, or null before the first sample. */
  nextEval: number | null
  lastEval: number | null
  ts: number[]
  values: number[]
  /** Indexes into ts/values of stale markers. */
  stale: number[]
  /** Per matching rule, by position in the group: [alert name, state, activeAt, value, keepFiringSince, firedAt] or null. */
  alerts: ([name: string, state: number, activeAt: number, value: number, keepFiringSince: number, firedAt: number] | null)[]
}

function compare(v: number, op: CompareOp, threshold: number): boolean {
  switch (op) {
    case '>':
      return v > threshold
    case '<':
      return v < threshold
    case '>=':
      return v >= threshold
    case '<=':
      return v <= threshold
    case '==':
      return v === threshold
    case '!=':
      return v !== threshold
  }
}

/** A rule's identity across a reload (and in a saved state): its name and its labels' templates. */
export function ruleIdentity(r: AlertRule): string {
  return JSON.stringify([r.name, r.labels.map((l) => [l.name, l.template.source])])
}

/** For each rule of `before` (a rule or its identity), the index of the same rule (name and labels; k-th to k-th) in `after`, or -1. */
function ruleCorrespondence(before: readonly (AlertRule | string)[], after: readonly AlertRule[]): (i: number) => number {
  const free = new Map<string, number[]>()
  after.forEach((r, j) => {
    const id = ruleIdentity(r)
    const list = free.get(id)
    if (list) list.push(j)
    else free.set(id, [j])
  })
  const map = before.map((r) => free.get(typeof r === 'string' ? r : ruleIdentity(r))?.shift() ?? -1)
  return (i) => map[i] ?? -1
}

/** The rules of one group that select one series, and that series' samples and alerts. */
export class SeriesEvaluator {
  private readonly window: SampleWindow = { ts: [], values: [], stale: [] }
  private head = 0
  private nextEval = NaN
  private lastEval = NaN
  private readonly slots: (AlertSlot | undefined)[]
  private activeCount = 0
  private readonly maxRangeMs: number
  private readonly lookbackMs: number
  private readonly hasInstant: boolean
  private readonly labelCache: (Record<string, string> | undefined)[]

  constructor(
    readonly group: RuleGroup,
    readonly rules: readonly AlertRule[],
    readonly metric: string,
    readonly tags: Readonly<Record<string, string>> | null,
    private readonly options: EvaluatorOptions = {}
  ) {
    this.lookbackMs = options.lookbackMs ?? LOOKBACK_DELTA_MS
    let maxWindow = 0
    let hasInstant = false
    for (const r of rules) {
      if (r.expr.range === undefined) hasInstant = true
      else maxWindow = Math.max(maxWindow, r.expr.range.rangeMs)
    }
    this.hasInstant = hasInstant
    this.maxRangeMs = maxWindow
    this.slots = rules.map(() => undefined)
    this.labelCache = rules.map(() => undefined)
  }

  /** Adds a sample; false (and ignored) when it is not newer than the series' newest or than the last evaluation: late. */
  push(ts: number, value: number, stale = false): boolean {
    const w = this.window
    const n = w.ts.length
    if ((n > this.head && ts <= (w.ts[n - 1] as number)) || ts <= this.lastEval) return false
    w.ts.push(ts)
    w.values.push(value)
    w.stale.push(stale)
    if (Number.isNaN(this.nextEval)) this.nextEval = this.gridAtOrAfter(ts)
    return true
  }

  /** Runs every grid evaluation at or before the watermark, appending transitions to `out`. */
  advance(watermark: number, out: AlertTransition[]): void {
    while (this.nextEval <= watermark) {
      const t = this.nextEval
      this.prune(t)
      if (this.activeCount === 0) {
        // Nothing can change before the next sample enters a window: skip ahead.
        if (this.head === this.window.ts.length) {
          this.nextEval = NaN
          this.lastEval = t
          return
        }
        const first = this.window.ts[this.head] as number
        if (first > t) {
          this.nextEval = this.gridAtOrAfter(first)
          continue
        }
      }
      this.evaluate(t, out)
      this.lastEval = t
      this.nextEval = t + this.group.intervalMs
    }
  }

  /** No samples held and no alert: the caller may drop this evaluator. */
  get idle(): boolean {
    return this.activeCount === 0 && this.head === this.window.ts.length
  }

  /** Samples currently held (for memory accounting and tests). */
  get heldSamples(): number {
    return this.window.ts.length - this.head
  }

  activeAlerts(): ActiveAlert[] {
    const out: ActiveAlert[] = []
    this.slots.forEach((slot, i) => {
      if (slot === undefined) return
      const rule = this.rules[i] as AlertRule
      out.push({
        group: this.group.name,
        alert: rule.name,
        state: slot.state === FIRING ? 'firing' : 'pending',
        labels: this.alertLabels(i),
        annotations: this.annotations(i, slot.value),
        value: slot.value,
        activeAt: slot.activeAt,
        ...(slot.state === FIRING ? { firedAt: slot.firedAt } : {}),
      })
    })
    return out
  }

  snapshot(): SeriesEvaluatorState {
    const w = this.window
    const stale: number[] = []
    for (let i = this.head; i < w.ts.length; i++) if (w.stale[i]) stale.push(i - this.head)
    return {
      metric: this.metric,
      tags: this.tags === null ? null : { ...this.tags },
      nextEval: Number.isNaN(this.nextEval) ? null : this.nextEval,
      lastEval: Number.isNaN(this.lastEval) ? null : this.lastEval,
      ts: w.ts.slice(this.head),
      values: w.values.slice(this.head),
      stale,
      alerts: this.slots.map((s, i) => (s === undefined ? null : [(this.rules[i] as AlertRule).name, s.state, s.activeAt, s.value, s.keepFiringSince, s.firedAt])),
    }
  }

  /**
   * Rebuilds from a snapshot. Under the same rules, every alert comes back. Under changed rules (the state of
   * `previousRules`), an alert comes back for the rule of the same name and the same labels, as Prometheus
   * carries state across a reload (rules matched by name and labels; the k-th rule of a name to the k-th);
   * the alerts of rules removed or relabelled are not restored. A saved state names its rules by ruleIdentity.
   */
  static restore(group: RuleGroup, rules: readonly AlertRule[], state: SeriesEvaluatorState, options: EvaluatorOptions = {}, previousRules?: readonly (AlertRule | string)[]): SeriesEvaluator {
    const e = new SeriesEvaluator(group, rules, state.metric, state.tags, options)
    e.nextEval = state.nextEval ?? NaN
    e.lastEval = state.lastEval ?? NaN
    e.window.ts = state.ts.slice()
    e.window.values = state.values.slice()
    e.window.stale = state.ts.map(() => false)
    for (const i of state.stale) e.window.stale[i] = true
    const target = previousRules === undefined ? (i: number) => (rules[i]?.name === state.alerts[i]?.[0] ? i : -1) : ruleCorrespondence(previousRules, rules)
    state.alerts.forEach((a, i) => {
      const j = a === null ? -1 : target(i)
      if (a === null || j < 0) return
      e.slots[j] = { state: a[1] === FIRING ? FIRING : PENDING, activeAt: a[2], value: a[3], keepFiringSince: a[4], firedAt: a[5] }
      e.activeCount++
    })
    return e
  }

  private gridAtOrAfter(ts: number): number {
    const interval = this.group.intervalMs
    return Math.ceil(ts / interval) * interval
  }

  /**
   * Drops samples no evaluation at or after t can see: older than every range
   * ([t - range, t]) and not the newest sample at or before t within the
   * lookback (all an instant selector reads). A rule set of instant selectors
   * thus holds one or two samples per series, not five minutes of them.
   */
  private prune(t: number): void {
    const w = this.window
    const n = w.ts.length
    const rangeHorizon = this.maxRangeMs > 0 ? t - this.maxRangeMs : Infinity
    const lookbackHorizon = t - this.lookbackMs
    let h = this.head
    while (h < n) {
      const ts = w.ts[h] as number
      if (ts >= rangeHorizon) break
      if (this.hasInstant && ts >= lookbackHorizon && (h + 1 === n || (w.ts[h + 1] as number) > t)) break
      h++
    }
    if (h === n) {
      w.ts.length = 0
      w.values.length = 0
      w.stale.length = 0
      this.head = 0
      return
    }
    this.head = h
    if (h > 1024 && h * 2 > n) {
      w.ts.splice(0, h)
      w.values.splice(0, h)
      w.stale.splice(0, h)
      this.head = 0
    }
  }

  private evaluate(t: number, out: AlertTransition[]): void {
    const w = this.window
    // Samples pushed ahead of the watermark may sit after t: the evaluation at t never sees them.
    let last = w.ts.length - 1
    while (last >= this.head && (w.ts[last] as number) > t) last--
    let instant: number | undefined
    if (this.hasInstant && last >= this.head && (w.ts[last] as number) >= t - this.lookbackMs && !w.stale[last]) {
      instant = w.values[last] as number
    }
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i] as AlertRule
      const range = rule.expr.range
      let value: number | undefined
      if (range === undefined) {
        value = instant
      } else if (last >= this.head) {
        const from = this.firstAtOrAfter(t - range.rangeMs, last + 1)
        value = from > last ? undefined : overTime(range.fn, w, from, last + 1, range.quantile)
      }
      const holds = value !== undefined && compare(value, rule.expr.op, rule.expr.threshold)
      this.step(i, rule, t, holds, value as number, out)
    }
  }

  /** Index of the first held sample with ts >= from (binary search; ts ascending). */
  private firstAtOrAfter(from: number, end: number): number {
    let lo = this.head
    let hi = end
    const ts = this.window.ts
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((ts[mid] as number) < from) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Prometheus' AlertingRule.Eval for one alert (rules/alerting.go). */
  private step(i: number, rule: AlertRule, t: number, holds: boolean, value: number, out: AlertTransition[]): void {
    let slot = this.slots[i]
    if (holds) {
      if (slot === undefined) {
        slot = { state: PENDING, activeAt: t, value, keepFiringSince: NaN, firedAt: NaN }
        this.slots[i] = slot
        this.activeCount++
        if (rule.forMs > 0) this.emit(i, slot, 'pending', t, out)
      } else {
        slot.value = value
        slot.keepFiringSince = NaN
      }
      if (slot.state === PENDING && t - slot.activeAt >= rule.forMs) {
        slot.state = FIRING
        slot.firedAt = t
        this.emit(i, slot, 'firing', t, out)
      }
      return
    }
    if (slot === undefined) return
    if (slot.state === FIRING && rule.keepFiringForMs > 0) {
      if (Number.isNaN(slot.keepFiringSince)) slot.keepFiringSince = t
      if (t - slot.keepFiringSince < rule.keepFiringForMs) return
    }
    this.slots[i] = undefined
    this.activeCount--
    this.emit(i, slot, slot.state === FIRING ? 'resolved' : 'inactive', t, out)
  }

  private emit(i: number, slot: AlertSlot, state: TransitionState, at: number, out: AlertTransition[]): void {
    const rule = this.rules[i] as AlertRule
    out.push({
      group: this.group.name,
      alert: rule.name,
      state,
      labels: this.alertLabels(i),
      annotations: this.annotations(i, slot.value),
      value: slot.value,
      activeAt: slot.activeAt,
      at,
    })
  }

  /** The labels templates see: the series' tags, plus __name__ for an instant selector (functions drop it). */
  private templateLabels(rule: AlertRule): Record<string, string> {
    const labels: Record<string, string> = { ...this.tags }
    if (rule.expr.range === undefined) labels.__name__ = this.metric
    return labels
  }

  private templateData(rule: AlertRule, value: number): TemplateData {
    return { labels: this.templateLabels(rule), value, externalLabels: this.options.externalLabels ?? {}, externalUrl: this.options.externalUrl ?? '' }
  }

  /** Tags, then the rule's labels (an empty one removes the label), then alertname; fixed per rule and series. */
  private alertLabels(i: number): Record<string, string> {
    const cached = this.labelCache[i]
    if (cached !== undefined) return { ...cached }
    const rule = this.rules[i] as AlertRule
    const labels: Record<string, string> = { ...this.tags }
    const data = this.templateData(rule, 0)
    for (const { name, template } of rule.labels) {
      const text = template.render(data)
      if (text === '') delete labels[name]
      else labels[name] = text
    }
    labels.alertname = rule.name
    for (const name of Object.keys(labels)) if (labels[name] === '') delete labels[name]
    this.labelCache[i] = labels
    return { ...labels }
  }

  private annotations(i: number, value: number): Record<string, string> {
    const rule = this.rules[i] as AlertRule
    const out: Record<string, string> = {}
    if (rule.annotations.length === 0) return out
    const data = this.templateData(rule, value)
    for (const { name, template } of rule.annotations) out[name] = template.render(data)
    return out
  }
}

/** The serializable state of a whole rule set: per group, per series. */
export interface RulesEvaluatorState {
  groups: { name: string; series: SeriesEvaluatorState[] }[]
}

/**
 * Every group of a rule set (one tenant's rules) over every series it sees.
 * Series that no rule selects are remembered as such and cost one map lookup.
 */
export class RulesEvaluator {
  private readonly bySeries: Map<string, SeriesEvaluator | null>[]

  constructor(
    readonly groups: readonly RuleGroup[],
    private readonly options: EvaluatorOptions = {}
  ) {
    this.bySeries = groups.map(() => new Map())
  }

  /** Adds one sample of a series (in event-time order per series); returns how many groups took it. */
  push(metric: string, tags: Readonly<Record<string, string>> | null, ts: number, value: number, key = canonicalSeriesKey(metric, tags as Record<string, string> | null)): number {
    return this.add(metric, tags, ts, value, false, key)
  }

  /** Adds a Prometheus stale marker: the series ended at ts. */
  pushStale(metric: string, tags: Readonly<Record<string, string>> | null, ts: number, key = canonicalSeriesKey(metric, tags as Record<string, string> | null)): number {
    return this.add(metric, tags, ts, NaN, true, key)
  }

  /** Evaluates every group at each of its grid times up to the watermark; returns the transitions in time order per series. */
  advance(watermark: number, out: AlertTransition[] = []): AlertTransition[] {
    for (const series of this.bySeries) {
      for (const [key, evaluator] of series) {
        if (evaluator === null) continue
        evaluator.advance(watermark, out)
        if (evaluator.idle) series.delete(key)
      }
    }
    return out
  }

  activeAlerts(): ActiveAlert[] {
    const out: ActiveAlert[] = []
    for (const series of this.bySeries) for (const e of series.values()) if (e !== null) out.push(...e.activeAlerts())
    return out
  }

  /** Series with an evaluator (samples in a window or an active alert). */
  get liveSeries(): number {
    let n = 0
    for (const series of this.bySeries) for (const e of series.values()) if (e !== null) n++
    return n
  }

  snapshot(): RulesEvaluatorState {
    return {
      groups: this.groups.map((g, gi) => ({
        name: g.name,
        series: [...(this.bySeries[gi] as Map<string, SeriesEvaluator | null>).values()].filter((e): e is SeriesEvaluator => e !== null).map((e) => e.snapshot()),
      })),
    }
  }

  static restore(groups: readonly RuleGroup[], state: RulesEvaluatorState, options: EvaluatorOptions = {}): RulesEvaluator {
    const r = new RulesEvaluator(groups, options)
    groups.forEach((g, gi) => {
      const saved = state.groups.find((s) => s.name === g.name)
      if (saved === undefined) return
      for (const s of saved.series) {
        const rules = g.rules.filter((rule) => rule.matches(s.metric, s.tags))
        if (rules.length === 0) continue
        ;(r.bySeries[gi] as Map<string, SeriesEvaluator | null>).set(canonicalSeriesKey(s.metric, s.tags), SeriesEvaluator.restore(g, rules, s, options))
      }
    })
    return r
  }

  private add(metric: string, tags: Readonly<Record<string, string>> | null, ts: number, value: number, stale: boolean, key: string): number {
    let taken = 0
    for (let gi = 0; gi < this.groups.length; gi++) {
      const series = this.bySeries[gi] as Map<string, SeriesEvaluator | null>
      let evaluator = series.get(key)
      if (evaluator === undefined) {
        const group = this.groups[gi] as RuleGroup
        const rules = group.rules.filter((r) => r.matches(metric, tags))
        evaluator = rules.length === 0 ? null : new SeriesEvaluator(group, rules, metric, tags, this.options)
        series.set(key, evaluator)
      }
      if (evaluator !== null && evaluator.push(ts, value, stale)) taken++
    }
    return taken
  }
}
