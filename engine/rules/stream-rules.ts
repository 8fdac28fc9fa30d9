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
import { ActionLadder, alertInstanceKey, type LadderEvent } from './action-ladder.ts'
import { SeriesEvaluator, type ActiveAlert, type AlertTransition, type SeriesEvaluatorState } from './evaluator.ts'
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
  /** Each rule set's text: a tenant whose rules did not change keeps the same compiled groups across versions. */
  texts: Map<RuleGroup[], string>
}

// A thread holds the last few rule versions (partitions opened before and after a change live side by side).
const compiled = new Map<string, CompiledRules>()
const KEEP_VERSIONS = 4

function compile(config: StreamRulesConfig): CompiledRules {
  let c = compiled.get(config.version)
  if (c === undefined) {
    const known = new Map<string, RuleGroup[]>()
    for (const v of compiled.values()) for (const [groups, text] of v.texts) known.set(text, groups)
    const texts = new Map<RuleGroup[], string>()
    const groupsOf = (spec: RuleFileSpec, name: string): RuleGroup[] => {
      const text = JSON.stringify(spec)
      const groups = known.get(text) ?? compileRuleFile(spec, name).groups
      known.set(text, groups)
      texts.set(groups, text)
      return groups
    }
    c = { base: groupsOf(config.base, '(defaults)'), tenants: new Map(), texts }
    for (const [tenant, spec] of Object.entries(config.tenants)) c.tenants.set(tenant, groupsOf(spec, `rules of tenant ${tenant}`))
    compiled.set(config.version, c)
    for (const old of compiled.keys()) if (compiled.size > KEEP_VERSIONS) compiled.delete(old)
  }
  return c
}

interface GroupSlot {
  group: RuleGroup
  evaluator: SeriesEvaluator
}

/** Switches a series' rules to another rule set at event time `at` (see reconfigure below). */
type Reconfigure = (groups: RuleGroup[], at: number, emit: boolean, out: StreamOutput[]) => void
/** The series evaluators this module made, and how each switches rule sets: a config change finds its own here. */
const reconfigurers = new WeakMap<StreamSeriesEvaluator, Reconfigure>()

/**
 * The series' group evaluators under `groups`. At a rule change (`previous`, at event time `at`): the same
 * group (name and interval) carries its samples and its alerts over, rule by rule (name and labels); a group
 * new to the series starts from the samples the series' rules held (as a new Prometheus rule reads the
 * history it finds), evaluated from its first grid time at or after `at`, never before the change.
 */
function slotsFor(series: SeriesIdentity, groups: readonly RuleGroup[], previous: readonly GroupSlot[] = [], at = -Infinity): GroupSlot[] {
  const slots: GroupSlot[] = []
  let history: SeriesEvaluatorState | undefined
  for (const group of groups) {
    const rules = group.rules.filter((r) => r.matches(series.metric, series.tags))
    if (rules.length === 0) continue
    const old = previous.find((s) => s.group.name === group.name && s.group.intervalMs === group.intervalMs)
    let evaluator: SeriesEvaluator
    if (old !== undefined) evaluator = old.group === group ? old.evaluator : SeriesEvaluator.restore(group, rules, old.evaluator.snapshot(), {}, old.evaluator.rules)
    else {
      history ??= heldHistory(previous)
      evaluator =
        history === undefined
          ? new SeriesEvaluator(group, rules, series.metric, series.tags)
          : SeriesEvaluator.restore(group, rules, { ...history, nextEval: Math.ceil(at / group.intervalMs) * group.intervalMs, lastEval: at - 1, alerts: [] })
    }
    slots.push({ group, evaluator })
  }
  return slots
}

/** The longest run of samples any of the series' group evaluators holds (they hold the same series' samples). */
function heldHistory(slots: readonly GroupSlot[]): SeriesEvaluatorState | undefined {
  let best: SeriesEvaluatorState | undefined
  for (const s of slots) {
    const state = s.evaluator.snapshot()
    if (state.ts.length > 0 && (best === undefined || state.ts.length > best.ts.length)) best = state
  }
  return best
}

function activeAlerts(slots: readonly GroupSlot[]): Map<string, ActiveAlert> {
  const active = new Map<string, ActiveAlert>()
  for (const s of slots) for (const a of s.evaluator.activeAlerts()) active.set(alertInstanceKey(a.group, a.alert, a.labels), a)
  return active
}

/** One series under one tenant's rules: its group evaluators and its ladder. */
function seriesRules(tenant: string, series: SeriesIdentity, groups: RuleGroup[]): StreamSeriesEvaluator | undefined {
  let slots = slotsFor(series, groups)
  if (slots.length === 0) return undefined
  let current = groups
  let interval = Math.min(...slots.map((s) => s.group.intervalMs))
  let ladder = new ActionLadder(groups)
  // The message of the first sample since this series' rule state was last empty: a replay from there
  // rebuilds it (pending `for`, firing, the ladder's steps). Reset whenever the state empties again.
  let origin: MessageContext | undefined
  let upTo = -Infinity
  const idle = (): boolean => ladder.size === 0 && slots.every((s) => s.evaluator.idle)
  const transitions: AlertTransition[] = []
  const publish = (events: LadderEvent[], emit: boolean, out: StreamOutput[]): void => {
    if (emit) for (const e of events) {
      const event = toTriggerEvent(tenant, e)
      out.push({ id: event.id, kind: TRIGGER_OUTPUT_KIND, event } as TriggerOutput)
    }
  }
  const evaluator = inEventTimeOrder({
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
      publish(events, emit, out)
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
  /**
   * A rule change at event time `at` (the partition's watermark at the marker; everything before it was
   * evaluated under the old rules). A group kept carries its samples and alerts; an alert that does not carry
   * over (its rule removed, relabelled, or no longer selecting this series) ends at `at`: `resolved` if it was
   * firing, `inactive` if pending, and its ladder steps down from there, the ladder it climbed.
   */
  reconfigurers.set(evaluator, (groups, at, emit, out) => {
    if (groups === current) return
    current = groups
    const before = activeAlerts(slots)
    slots = slotsFor(series, groups, slots, at)
    if (slots.length > 0) interval = Math.min(...slots.map((s) => s.group.intervalMs))
    const after = activeAlerts(slots)
    transitions.length = 0
    for (const [key, a] of before) {
      if (after.has(key)) continue
      transitions.push({ group: a.group, alert: a.alert, state: a.state === 'firing' ? 'resolved' : 'inactive', labels: a.labels, annotations: a.annotations, value: a.value, activeAt: a.activeAt, at })
    }
    const capped: LadderEvent[] = []
    ladder = ActionLadder.restore(groups, ladder.snapshot(), { at, out: capped })
    tally.transitions += transitions.length
    // Steps due up to the last evaluation were taken; later ones come with the next evaluations, as before.
    publish([...capped, ...ladder.advance(transitions, upTo)].sort((x, y) => x.at - y.at), emit, out)
    if (idle()) origin = undefined
  })
  return evaluator
}

/** Makes the rule evaluators of each series from a generation's rules. */
export function withConfig(raw: unknown): SeriesEvaluatorFactory {
  const rules = compile(raw as StreamRulesConfig)
  return (series, _restored, change) => {
    const groups = rules.tenants.get(series.tenant) ?? rules.base
    if (change === undefined) {
      const e = seriesRules(series.tenant, series, groups)
      return e === undefined ? [] : [e]
    }
    // A rule change: this module's evaluator of the series switches rule sets in place (kept even when no rule
    // selects the series any more: its ladder may still be stepping down); others are not this module's.
    let ours = false
    for (const e of change.previous) {
      const reconfigure = reconfigurers.get(e)
      if (reconfigure === undefined) continue
      ours = true
      reconfigure(groups, change.at, change.emit, change.out)
    }
    if (ours) return change.previous
    const e = seriesRules(series.tenant, series, groups)
    return e === undefined ? change.previous : [...change.previous, e]
  }
}
