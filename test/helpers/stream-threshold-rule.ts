// Stand-in rules for tests of the evaluator seam, until engine/rules/ plugs in:
// `cpu_usage > 50 for 3 s`, and `delta > -1000 for 90 s`, which every delta
// sample meets: it goes pending at a series' first sample and fires 90 s of
// event time later, so its state reaches back further than any window, and only
// its own replay point (oldestContext) rebuilds it after a failover. Pending → firing → resolved transitions, each
// series fed in event-time order. Loaded by module path in every worker thread
// (StreamRuntime's evaluatorModule), as the rule evaluator will be.
import { fileURLToPath } from 'node:url'
import { inEventTimeOrder, type MessageContext, type SeriesEvaluatorFactory, type StreamOutput } from '../../engine/stream/series-evaluator.ts'

export const THRESHOLD_RULE_MODULE = fileURLToPath(import.meta.url)

export interface Transition extends StreamOutput {
  kind: 'transition'
  rule: string
  tenant: string
  series: string
  state: 'pending' | 'firing' | 'resolved'
  /** Event time of the sample that caused it. */
  at: number
}

const RULES: Record<string, { rule: string; threshold: number; forMs: number }> = {
  cpu_usage: { rule: 'cpu_high', threshold: 50, forMs: 3_000 },
  delta: { rule: 'delta_seen', threshold: -1000, forMs: 90_000 },
}

const thresholdRule: SeriesEvaluatorFactory = (series) => {
  const spec = RULES[series.metric]
  if (!spec) return []
  const { rule: RULE, threshold: THRESHOLD, forMs: FOR_MS } = spec
  let state: 'inactive' | 'pending' | 'firing' = 'inactive'
  let since = 0
  // The message of the sample that started the current episode: replay must begin there to rebuild it.
  let origin: MessageContext | undefined
  let ready: Transition[] = []
  const transition = (to: Transition['state'], at: number): void => {
    ready.push({ kind: 'transition', id: `${RULE}|${series.tenant}|${series.series}|${to}|${at}`, rule: RULE, tenant: series.tenant, series: series.series, state: to, at })
  }
  return [
    inEventTimeOrder({
      onSample(ts, value, ctx) {
        if (value > THRESHOLD) {
          if (state === 'inactive') {
            state = 'pending'
            since = ts
            origin = ctx
            transition('pending', ts)
          } else if (state === 'pending' && ts - since >= FOR_MS) {
            state = 'firing'
            transition('firing', ts)
          }
        } else if (state !== 'inactive') {
          if (state === 'firing') transition('resolved', ts)
          state = 'inactive'
          origin = undefined
        }
      },
      onWatermark(_watermark, emit, out) {
        if (emit) out.push(...ready)
        ready = []
      },
      oldestContext: () => origin,
      isIdle: () => state === 'inactive',
      nextDue: () => Infinity,
    }),
  ]
}

export default thresholdRule
