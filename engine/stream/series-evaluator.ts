// The seam where per-series logic plugs into a partition's pipeline: event-time
// windows are one evaluator, and the Prometheus rule evaluator (engine/rules/)
// plugs in beside them the same way. An evaluator sees the on-time samples of one
// series in log order and every watermark advance, and returns outputs with
// deterministic ids. Its state must be a function of the partition's log alone,
// so a replay from oldestContext() rebuilds it exactly (docs/stream.md, Replay).

/** What the partition knew just before it applied one log message; shared by every sample of that message. */
export interface MessageContext {
  /** The message's stream sequence. */
  seq: number
  /** The partition's watermark before this message (-Infinity before the first sample). */
  watermarkBefore: number
  /** Late samples counted before this message. */
  lateBefore: number
}

/** Anything a partition emits: a window result, a trigger transition. */
export interface StreamOutput {
  /** Deterministic: the same log gives the same id and content, so a msgID-deduplicating downstream drops re-emissions. */
  id: string
  kind: string
}

export interface SeriesIdentity {
  partition: number
  tenant: string
  /** Canonical series key (engine/model/sample.ts seriesKey). */
  series: string
  metric: string
  tags: Record<string, string> | null
}

export interface SeriesEvaluator {
  /** An on-time sample (ts at or after the watermark), in log order. */
  onSample(ts: number, value: number, ctx: MessageContext): void
  /**
   * The watermark passed a pane boundary: emit what it closes into out. With emit
   * false (replay of messages whose outputs were already emitted) advance state only.
   *
   * later: given when the partition spreads bulk work over its next messages (the
   * worker threads do: one partition's burst at a broadcast would hold up every
   * other partition's work in the thread, a trigger decision among them). An
   * evaluator whose outputs of this broadcast may leave later calls later(this,
   * group) instead of emitting them, and emits them in finishLater(): the same
   * outputs, only later. The partition finishes a group's evaluators together
   * (never split over two messages' outputs), and everything put off before its
   * next broadcast, rule change or checkpoint.
   */
  onWatermark(watermark: number, emit: boolean, out: StreamOutput[], later?: (evaluator: SeriesEvaluator, group: number) => void): void
  /** Emits into out what onWatermark put off by calling later (once per such call). */
  finishLater?(out: StreamOutput[]): void
  /** The message of the oldest sample still held (undefined when none): replay must start there. */
  oldestContext(): MessageContext | undefined
  /** Smallest watermark at which this evaluator would emit something (Infinity when nothing is pending). */
  nextDue(): number
  /** True when it holds nothing a replay has to rebuild: the series' group may end (a snapshot state is kept, see snapshot). */
  isIdle(): boolean
  /**
   * Optional, with stateName: state that a replay from the window horizon cannot
   * rebuild because it depends on the whole history (an anomaly scorer). The
   * partition asks for it when it takes a snapshot, and when the series' group
   * ends (it is kept and handed back when the series returns). After a snapshot,
   * oldestContext() need only reach back to what the bytes do not include. The
   * bytes say themselves which samples they include: on restore the factory gets
   * them with the snapshot's seq, and the evaluator must skip what they hold.
   * undefined: nothing to keep (the evaluator would start afresh anyway). A series
   * open and not idle at the snapshot is opened again at once on restore, before
   * any replayed message (its state may have work due without a sample of its own).
   */
  snapshot?(): Uint8Array | undefined
  /** The name snapshot() bytes are kept under, one per kind of evaluator of a series. */
  readonly stateName?: string
}

/** State an evaluator gave in snapshot(), handed back to the factory when its series is opened again. */
export interface RestoredState {
  bytes: Uint8Array
  /** The partition had applied its messages up to this seq when the bytes were taken. */
  throughSeq: number
}

/**
 * A new configuration (the rules in effect) took effect at a place in the partition's log: a config marker
 * (config-markers.ts). Everything the old configuration decides below the watermark was decided first.
 */
export interface ConfigChange {
  /** The series' extra evaluators made under the previous configuration. */
  previous: SeriesEvaluator[]
  /** The event time of the change: the partition's watermark at the marker. */
  at: number
  /** The marker's message: an evaluator restored from bytes taken after it skips the change (the bytes include it). */
  ctx: MessageContext
  /** False while a replay re-applies messages whose outputs were already emitted. */
  emit: boolean
  /** Where what the change itself decides goes (an alert whose rule was removed resolves at `at`). */
  out: StreamOutput[]
}

/**
 * Makes the extra evaluators of one series (rules, anomaly scores); windows are always there.
 * restored(name): the state an evaluator of that stateName left for this series, if any (when the series opens).
 * With `change`, it answers the series' evaluators under its configuration from those of the previous one:
 * carrying state over, ending what the change ends, and returning an evaluator of the previous list it does
 * not own as it is.
 */
export type SeriesEvaluatorFactory = (series: SeriesIdentity, restored?: (stateName: string) => RestoredState | undefined, change?: ConfigChange) => SeriesEvaluator[]

/** An evaluator that wants each series' samples strictly in event-time order (the rule evaluator does). */
export interface OrderedSampleEvaluator {
  /** ctx: the message the sample came in, for the evaluator's own oldestContext. */
  onSample(ts: number, value: number, ctx: MessageContext): void
  onWatermark(watermark: number, emit: boolean, out: StreamOutput[]): void
  isIdle(): boolean
  nextDue(): number
}

interface Held {
  ts: number
  value: number
  ctx: MessageContext
  order: number
}

/**
 * Adapts an OrderedSampleEvaluator: samples are held until the watermark passes
 * them, then released sorted by time (ties in log order). No sample older than
 * the watermark is on time, so what is released is final and in order. Its
 * replay point is the oldest sample it still holds; the inner evaluator must
 * keep no more history than the watermark allows (a `for:` duration is state
 * it carries, not samples), or say so through an oldestContext of its own.
 */
/** Samples held by inEventTimeOrder, in log order: what a snapshot must carry of them. */
export interface HeldSamples {
  ts: number[]
  values: number[]
}

/** A held sample restored from a snapshot: in the bytes, so it names no message a replay must reach back to. */
const RESTORED: MessageContext = Object.freeze({ seq: -Infinity, watermarkBefore: -Infinity, lateBefore: 0 })

/** Whether held samples, in log order, are in time order too. */
function inTimeOrder(held: readonly Held[]): boolean {
  for (let i = 1; i < held.length; i++) if ((held[i] as Held).ts < (held[i - 1] as Held).ts) return false
  return true
}

/**
 * restored: samples a snapshot of heldSamples() gave, held again (their messages are not replayed; the
 * evaluator that keeps the snapshot reckons its replay point without them).
 */
export function inEventTimeOrder(inner: OrderedSampleEvaluator & { oldestContext?(): MessageContext | undefined }, restored?: HeldSamples): SeriesEvaluator & { heldSamples(): HeldSamples } {
  // Held in log order from `head` on, so held[head] carries the oldest message; minTs says whether a watermark
  // releases anything. Measured (bench/triggers.ts profile, 1,000 series at 100k samples/s): two filters per
  // broadcast and a scan of every held sample per checkpoint were a fifth of the worker thread's time. Then
  // (the same bench, live data held for the 5 s allowed lateness): a scan of every held sample at each 1 s
  // broadcast, about 500 a series, to release the 100 that were final, was most of a broadcast's time; with
  // every partition crossing the grid at once, other partitions' tasks waited 100 ms and more behind it. In
  // log order and in time order too (`ordered`, the usual case), a release takes the final ones off the front.
  let held: Held[] = []
  let head = 0
  let ordered = true
  let minTs = Infinity
  let order = 0
  if (restored) {
    restored.ts.forEach((ts, i) => held.push({ ts, value: restored.values[i] as number, ctx: RESTORED, order: order++ }))
    for (const h of held) if (h.ts < minTs) minTs = h.ts
    ordered = inTimeOrder(held)
  }
  /** Hands the inner evaluator every held sample older than watermark, sorted (ties in log order). */
  const release = (watermark: number): void => {
    if (!(minTs < watermark)) return
    if (ordered) {
      let k = head
      while (k < held.length && (held[k] as Held).ts < watermark) {
        const h = held[k++] as Held
        inner.onSample(h.ts, h.value, h.ctx)
      }
      head = k
      if (head === held.length) {
        held = []
        head = 0
      } else if (head >= 1024 && head * 2 >= held.length) {
        held = held.slice(head)
        head = 0
      }
      minTs = head < held.length ? (held[head] as Held).ts : Infinity
      return
    }
    const ready: Held[] = []
    const keep: Held[] = []
    let sorted = true
    let nextMin = Infinity
    for (let i = head; i < held.length; i++) {
      const h = held[i] as Held
      if (h.ts < watermark) {
        if (ready.length > 0 && h.ts < (ready[ready.length - 1] as Held).ts) sorted = false
        ready.push(h)
      } else {
        keep.push(h)
        if (h.ts < nextMin) nextMin = h.ts
      }
    }
    held = keep
    head = 0
    minTs = nextMin
    ordered = inTimeOrder(keep)
    // Ties stay in log order: the sort breaks them by arrival, and an already sorted run is in arrival order.
    if (!sorted) ready.sort((a, b) => a.ts - b.ts || a.order - b.order)
    for (const h of ready) inner.onSample(h.ts, h.value, h.ctx)
  }
  return {
    heldSamples() {
      const rest = head === 0 ? held : held.slice(head)
      return { ts: rest.map((h) => h.ts), values: rest.map((h) => h.value) }
    },
    onSample(ts, value, ctx) {
      if (ordered && held.length > head && ts < (held[held.length - 1] as Held).ts) ordered = false
      held.push({ ts, value, ctx, order: order++ })
      if (ts < minTs) minTs = ts
    },
    onWatermark(watermark, emit, out) {
      release(watermark)
      inner.onWatermark(watermark, emit, out)
    },
    oldestContext() {
      const oldest = inner.oldestContext?.()
      const first = held[head]
      return first !== undefined && (oldest === undefined || first.ctx.seq < oldest.seq) ? first.ctx : oldest
    },
    nextDue() {
      // A held sample is released once the watermark is past it.
      return Math.min(inner.nextDue(), minTs + 1)
    },
    isIdle() {
      return held.length === head && inner.isIdle()
    },
  }
}
