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
// rules, so a replay rebuilds it; a series' state also goes into the
// partition's snapshots (rule-state-codec.ts), so that replay need not reach
// back further than the last one (docs/triggers.md, Rules in the engine).
import { fileURLToPath } from 'node:url'
import {
  inEventTimeOrder,
  type ConfigChange,
  type MessageContext,
  type RestoredState,
  type SeriesEvaluator as StreamSeriesEvaluator,
  type SeriesEvaluatorFactory,
  type SeriesIdentity,
  type StreamOutput,
} from '../stream/series-evaluator.ts'
import { ActionLadder, alertInstanceKey, type ActionLadderState, type LadderEvent } from './action-ladder.ts'
import { ruleIdentity, SeriesEvaluator, type ActiveAlert, type AlertTransition, type SeriesEvaluatorState } from './evaluator.ts'
import { compileRuleFile, type AlertRule, type RuleFileSpec, type RuleGroup } from './rule-file.ts'
import { decodeRuleState, encodeRuleState, type SavedGroup } from './rule-state-codec.ts'
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

/** A group evaluator the series had before a switch of rule sets: live (a slot), or saved in a snapshot. */
interface Prior {
  name: string
  intervalMs: number
  /** The live evaluator and the group it runs, kept as it is when the new rule set has that same group. */
  live?: GroupSlot
  state(): SeriesEvaluatorState
  /** Its rules (or their identities, from a snapshot), the positions of state().alerts. */
  rules: readonly (AlertRule | string)[]
}

function priorsOf(slots: readonly GroupSlot[]): Prior[] {
  return slots.map((s) => ({ name: s.group.name, intervalMs: s.group.intervalMs, live: s, state: () => s.evaluator.snapshot(), rules: s.evaluator.rules }))
}

function priorsSaved(groups: readonly SavedGroup[]): Prior[] {
  return groups.map((g) => ({ name: g.name, intervalMs: g.intervalMs, state: () => g.state, rules: g.ruleIds }))
}

/** Switches a series' rules to another rule set at event time `at` (see reconfigure below). */
type Reconfigure = (groups: RuleGroup[], change: Omit<ConfigChange, 'previous'>) => void
/** The series evaluators this module made, and how each switches rule sets: a config change finds its own here. */
const reconfigurers = new WeakMap<StreamSeriesEvaluator, Reconfigure>()

/**
 * The series' group evaluators under `groups`. At a rule change (`previous`, at event time `at`): the same
 * group (name and interval) carries its samples and its alerts over, rule by rule (name and labels); a group
 * new to the series starts from the samples the series' rules held (as a new Prometheus rule reads the
 * history it finds), evaluated from its first grid time at or after `at`, never before the change.
 */
function slotsFor(series: SeriesIdentity, groups: readonly RuleGroup[], previous: readonly Prior[] = [], at = -Infinity): GroupSlot[] {
  const slots: GroupSlot[] = []
  let history: SeriesEvaluatorState | undefined
  for (const group of groups) {
    const rules = group.rules.filter((r) => r.matches(series.metric, series.tags))
    if (rules.length === 0) continue
    const old = previous.find((s) => s.name === group.name && s.intervalMs === group.intervalMs)
    let evaluator: SeriesEvaluator
    if (old !== undefined) evaluator = old.live?.group === group ? old.live.evaluator : SeriesEvaluator.restore(group, rules, old.state(), {}, old.rules)
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
function heldHistory(previous: readonly Prior[]): SeriesEvaluatorState | undefined {
  let best: SeriesEvaluatorState | undefined
  for (const p of previous) {
    const state = p.state()
    if (state.ts.length > 0 && (best === undefined || state.ts.length > best.ts.length)) best = state
  }
  return best
}

function activeAlerts(slots: readonly GroupSlot[]): Map<string, ActiveAlert> {
  const active = new Map<string, ActiveAlert>()
  for (const s of slots) for (const a of s.evaluator.activeAlerts()) active.set(alertInstanceKey(a.group, a.alert, a.labels), a)
  return active
}

/** The name a series' rule state has in a partition snapshot. */
export const RULES_STATE_NAME = 'rules'

/**
 * One series under one tenant's rules: its group evaluators and its ladder. With `restored` (a partition
 * snapshot's state of this series), it resumes from those bytes: samples and rule changes of messages up to
 * the bytes' seq are in them and skipped. The bytes are laid onto rules only when the first thing they do not
 * include happens (a later sample, rule change or evaluation), by then under the rules in effect at their seq,
 * which the replay of the markers before it has restored; should the rules differ anyway (a configuration not
 * found), what the bytes hold of a rule that is gone ends as a removal ends it.
 */
function seriesRules(tenant: string, series: SeriesIdentity, groups: RuleGroup[], restored?: RestoredState): StreamSeriesEvaluator | undefined {
  let pending = restored && decodeRuleState(restored.bytes, series.metric, series.tags)
  let slots = pending === undefined ? slotsFor(series, groups) : []
  if (slots.length === 0 && pending === undefined) return undefined
  let current = groups
  let interval = pending?.intervalMs ?? Math.min(...slots.map((s) => s.group.intervalMs))
  let ladder = new ActionLadder(groups)
  // Before any snapshot: the message of the first sample since this series' rule state was last empty (a replay
  // from there rebuilds it: pending `for`, firing, the ladder's steps), reset whenever the state empties again.
  let origin: MessageContext | undefined
  // After a snapshot (or a restore): the bytes hold everything up to `through`; a replay need only reach the
  // first message since that touched this series (a sample, a rule change).
  let snapshotted = pending !== undefined
  let sinceSnapshot: MessageContext | undefined
  const skipThrough = pending?.throughSeq ?? -Infinity
  let through = skipThrough
  let upTo = pending?.upTo ?? -Infinity
  const idle = (): boolean => pending === undefined && ladder.size === 0 && slots.every((s) => s.evaluator.idle)
  const transitions: AlertTransition[] = []
  const publish = (events: LadderEvent[], emit: boolean, out: StreamOutput[]): void => {
    if (emit) for (const e of events) {
      const event = toTriggerEvent(tenant, e)
      out.push({ id: event.id, kind: TRIGGER_OUTPUT_KIND, event } as TriggerOutput)
    }
  }
  /**
   * Lays the series onto `groups` at event time `at` from its previous group evaluators and ladder: an alert
   * that does not carry over (its rule removed, relabelled, or no longer selecting this series) ends at `at`:
   * `resolved` if it was firing, `inactive` if pending, and its ladder steps down from there, the ladder it climbed.
   */
  const switchTo = (to: RuleGroup[], prior: Prior[], before: Map<string, ActiveAlert>, ladderState: ActionLadderState, at: number, emit: boolean, out: StreamOutput[]): void => {
    slots = slotsFor(series, to, prior, at)
    if (slots.length > 0) interval = Math.min(...slots.map((s) => s.group.intervalMs))
    const after = activeAlerts(slots)
    transitions.length = 0
    for (const [key, a] of before) {
      if (after.has(key)) continue
      transitions.push({ group: a.group, alert: a.alert, state: a.state === 'firing' ? 'resolved' : 'inactive', labels: a.labels, annotations: a.annotations, value: a.value, activeAt: a.activeAt, at })
    }
    const capped: LadderEvent[] = []
    ladder = ActionLadder.restore(to, ladderState, { at, out: capped })
    tally.transitions += transitions.length
    // Steps due up to the last evaluation were taken; later ones come with the next evaluations, as before.
    publish([...capped, ...ladder.advance(transitions, upTo)].sort((x, y) => x.at - y.at), emit, out)
    if (idle()) origin = undefined
  }
  /** The restored bytes onto the rules in effect (the same ones, in a replay that found every configuration). */
  const materialize = (emit: boolean, out: StreamOutput[]): void => {
    if (pending === undefined) return
    const saved = pending
    pending = undefined
    const before = new Map<string, ActiveAlert>()
    for (const g of saved.groups) for (const a of g.active) before.set(alertInstanceKey(a.group, a.alert, a.labels), a)
    switchTo(current, priorsSaved(saved.groups), before, saved.ladder, upTo + 1, emit, out)
  }
  const ordered = inEventTimeOrder(
    {
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
    },
    pending?.held
  )
  const evaluator: StreamSeriesEvaluator = {
    stateName: RULES_STATE_NAME,
    onSample(ts, value, ctx) {
      if (ctx.seq <= skipThrough) return
      through = ctx.seq
      sinceSnapshot ??= ctx
      ordered.onSample(ts, value, ctx)
    },
    onWatermark(watermark, emit, out) {
      // The first evaluation the bytes do not include: lay them onto the rules first (it also releases samples).
      if (pending !== undefined && watermark - 1 > upTo) materialize(emit, out)
      ordered.onWatermark(watermark, emit, out)
    },
    oldestContext: () => (snapshotted ? sinceSnapshot : ordered.oldestContext()),
    nextDue: () => ordered.nextDue(),
    isIdle: () => ordered.isIdle(),
    snapshot() {
      snapshotted = true
      sinceSnapshot = undefined
      if (ordered.isIdle()) return undefined
      const held = ordered.heldSamples()
      if (pending !== undefined) return encodeRuleState({ ...pending, throughSeq: through, held })
      return encodeRuleState({
        throughSeq: through,
        upTo,
        intervalMs: interval,
        groups: slots.map((s) => ({ name: s.group.name, intervalMs: s.group.intervalMs, state: s.evaluator.snapshot(), ruleIds: s.evaluator.rules.map(ruleIdentity), active: s.evaluator.activeAlerts() })),
        held,
        ladder: ladder.snapshot(),
      })
    },
  }
  /**
   * A rule change at event time `at` (the partition's watermark at the marker; everything before it was
   * evaluated under the old rules). A group kept carries its samples and alerts; an alert that does not carry
   * over ends at `at` (switchTo). A change the restored bytes include is only noted: they are under its rules.
   */
  reconfigurers.set(evaluator, (to, change) => {
    if (to === current) return
    if (change.ctx.seq <= skipThrough) {
      current = to
      return
    }
    materialize(change.emit, change.out)
    through = Math.max(through, change.ctx.seq)
    sinceSnapshot ??= change.ctx
    const before = activeAlerts(slots)
    const prior = priorsOf(slots)
    current = to
    switchTo(to, prior, before, ladder.snapshot(), change.at, change.emit, change.out)
  })
  return evaluator
}

/** Makes the rule evaluators of each series from a generation's rules. */
export function withConfig(raw: unknown): SeriesEvaluatorFactory {
  const rules = compile(raw as StreamRulesConfig)
  return (series, restored, change) => {
    const groups = rules.tenants.get(series.tenant) ?? rules.base
    if (change === undefined) {
      const e = seriesRules(series.tenant, series, groups, restored?.(RULES_STATE_NAME))
      return e === undefined ? [] : [e]
    }
    // A rule change: this module's evaluator of the series switches rule sets in place (kept even when no rule
    // selects the series any more: its ladder may still be stepping down); others are not this module's.
    let ours = false
    for (const e of change.previous) {
      const reconfigure = reconfigurers.get(e)
      if (reconfigure === undefined) continue
      ours = true
      reconfigure(groups, change)
    }
    if (ours) return change.previous
    const e = seriesRules(series.tenant, series, groups)
    return e === undefined ? change.previous : [...change.previous, e]
  }
}
