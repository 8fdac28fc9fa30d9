// The rule evaluator inside the stream engine's worker threads: loaded by
// module path (StreamRuntime's evaluatorModule), configured per partition
// generation with the rules in effect (withConfig), it adds to every series a
// tenant's rules select one evaluator beside the windows: the incremental
// RulesEvaluator per group, then the action ladder, whose events leave as
// trigger outputs with their stable ids.
//
// Event time only: samples reach the rules in event-time order once the
// watermark has passed them (inEventTimeOrder), and a grid time t is evaluated
// once the watermark passes t (every sample stamped <= t is then in), never on
// a wall-clock timer. Everything is a function of the partition's log and the
// rules, so a replay rebuilds it (docs/triggers.md, Rules in the engine).
import { fileURLToPath } from 'node:url'
import { inEventTimeOrder, type MessageContext, type SeriesEvaluator as StreamSeriesEvaluator, type SeriesEvaluatorFactory, type SeriesIdentity, type StreamOutput } from '../stream/series-evaluator.ts'
import { ActionLadder } from './action-ladder.ts'
import { SeriesEvaluator, type AlertTransition } from './evaluator.ts'
import { compileRuleFile, type RuleFileSpec, type RuleGroup } from './rule-file.ts'
import { toTriggerEvent, type TriggerEvent } from './trigger-event.ts'

export const STREAM_RULES_MODULE = fileURLToPath(import.meta.url)

/** What the main thread sends with each partition generation: every tenant's effective rules. */
export interface StreamRulesConfig {
  /** Digest of the rest: compiled rule sets are cached by it. */
  version: string
  /** The rules of a tenant with no file of its own (defaults < TIDEMARK_RULES_FILE). */
  base: RuleFileSpec
  /** Effective rules (defaults < file < own) of each tenant with a file of its own. */
  tenants: Record<string, RuleFileSpec>
}

export const TRIGGER_OUTPUT_KIND = 'trigger'

export interface TriggerOutput extends StreamOutput {
  kind: typeof TRIGGER_OUTPUT_KIND
  event: TriggerEvent
}

export function isTriggerOutput(o: StreamOutput): o is TriggerOutput {
  return o.kind === TRIGGER_OUTPUT_KIND
}

/** Cumulative per thread; read by the pool after each task (tidemark_rules_* metrics). */
const tally = { ruleEvaluations: 0, transitions: 0, ladderSteps: 0 }

export function counters(): Record<string, number> {
  return { ...tally }
}

interface CompiledRules {
  base: RuleGroup[]
  tenants: Map<string, RuleGroup[]>
}

// A thread holds the last few rule versions (partitions opened before and after a change live side by side).
const compiled = new Map<string, CompiledRules>()
const KEEP_VERSIONS = 4

function compile(config: StreamRulesConfig): CompiledRules {
  let c = compiled.get(config.version)
  if (c === undefined) {
    c = { base: compileRuleFile(config.base, '(defaults)').groups, tenants: new Map() }
    for (const [tenant, spec] of Object.entries(config.tenants)) c.tenants.set(tenant, compileRuleFile(spec, `rules of tenant ${tenant}`).groups)
    compiled.set(config.version, c)
    for (const old of compiled.keys()) if (compiled.size > KEEP_VERSIONS) compiled.delete(old)
  }
  return c
}

interface GroupSlot {
  group: RuleGroup
  evaluator: SeriesEvaluator
}

/** One series under one tenant's rules: its group evaluators and its ladder. */
function seriesRules(tenant: string, series: SeriesIdentity, groups: RuleGroup[]): StreamSeriesEvaluator | undefined {
  const slots: GroupSlot[] = []
  let interval = Infinity
  for (const group of groups) {
    const rules = group.rules.filter((r) => r.matches(series.metric, series.tags))
    if (rules.length === 0) continue
    slots.push({ group, evaluator: new SeriesEvaluator(group, rules, series.metric, series.tags) })
    interval = Math.min(interval, group.intervalMs)
  }
  if (slots.length === 0) return undefined
  const ladder = new ActionLadder(groups)
  // The message of the first sample since this series' rule state was last empty: a replay from there
  // rebuilds it (pending `for`, firing, the ladder's steps). Reset whenever the state empties again.
  let origin: MessageContext | undefined
  let upTo = -Infinity
  const idle = (): boolean => ladder.size === 0 && slots.every((s) => s.evaluator.idle)
  const transitions: AlertTransition[] = []
  return inEventTimeOrder({
    onSample(ts, value, ctx) {
      origin ??= ctx
      for (const s of slots) s.evaluator.push(ts, value)
    },
    onWatermark(watermark, emit, out) {
      // Every sample stamped before the watermark is in: evaluate the grid times up to watermark - 1.
      const until = watermark - 1
      if (until <= upTo) return
      const previous = upTo
      upTo = until
      transitions.length = 0
      for (const s of slots) {
        // Grid times this pass covers, for a series with something to evaluate (an idle one skips ahead for free).
        if (!s.evaluator.idle) {
          const i = s.group.intervalMs
          tally.ruleEvaluations += previous === -Infinity ? 1 : Math.max(0, Math.floor(until / i) - Math.floor(previous / i)) * s.evaluator.rules.length
        }
        s.evaluator.advance(until, transitions)
      }
      tally.transitions += transitions.length
      const events = ladder.advance(transitions, until)
      tally.ladderSteps += events.length - transitions.length
      if (emit) for (const e of events) {
        const event = toTriggerEvent(tenant, e)
        out.push({ id: event.id, kind: TRIGGER_OUTPUT_KIND, event } as TriggerOutput)
      }
      if (idle()) origin = undefined
    },
    oldestContext: () => origin,
    isIdle: idle,
    nextDue() {
      if (idle()) return Infinity
      // The next grid time after what was evaluated, final once the watermark passes it.
      const from = upTo === -Infinity ? 0 : upTo
      return Math.floor(from / interval) * interval + interval + 1
    },
  })
}

/** Makes the rule evaluators of each series from a generation's rules. */
export function withConfig(raw: unknown): SeriesEvaluatorFactory {
  const rules = compile(raw as StreamRulesConfig)
  return (series) => {
    const groups = rules.tenants.get(series.tenant) ?? rules.base
    const e = seriesRules(series.tenant, series, groups)
    return e === undefined ? [] : [e]
  }
}
