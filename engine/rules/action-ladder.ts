// The action ladder: while an alert keeps firing it escalates one step per
// cooldown (enable_read_replicas, expand_cache, add_workers, degrade by
// default); after it resolves it steps back down, one step per
// step-down period. Pure and deterministic: it reads only the evaluator's
// transitions and the watermark, and every step it takes is stamped with the
// event time it was due at (firedAt + k × cooldown, resolvedAt + k ×
// stepDownAfter), never with when advance() happened to run. So a replay of
// the same beacons produces the same steps at the same times, and the same
// trigger ids.
//
// Per alert instance (group, alert, labels):
//   firing at t      step 0 -> 1 at t; from a step > 0 (a re-fire while
//                    stepping down) it holds that step (hysteresis: it
//                    resumes where it is, not from zero); the next step
//                    up is due at t + cooldown
//   still firing     one step up at each due time until the last step
//   resolved at t    it holds its step; the first step down is due at
//                    t + stepDownAfter, then one per stepDownAfter until 0
//   pending at t     (the condition is true again while stepping down)
//                    stepping down pauses
//   inactive at t    (that pending alert was reset) stepping down resumes,
//                    the next step due at t + stepDownAfter
// A step due at the very evaluation time of a transition yields to it: the
// evaluation at t decided the condition, so an alert that resolved at t does
// not escalate at t, and one that fired again at t does not step down at t.
import type { AlertTransition, TransitionState } from './evaluator.ts'
import { DEFAULT_LADDER, type LadderAction, type LadderSettings } from './ladder-settings.ts'
import type { RuleGroup } from './rule-file.ts'

/** What changed: the alert's state (the evaluator's transition), or only the ladder's step. */
export type LadderChange = 'alert' | 'escalate' | 'step_down'

export interface LadderEvent {
  group: string
  alert: string
  /** The alert's state after this event: the transition's, or the last one's for a step change. */
  state: TransitionState
  change: LadderChange
  labels: Record<string, string>
  annotations: Record<string, string>
  /** The expression's value at the alert's last transition. */
  value: number
  activeAt: number
  /** Event time (epoch ms): the evaluation time of a transition, the due time of a step. */
  at: number
  /** The step in effect after this event: 0 (none) .. ladder.length. */
  step: number
  previousStep: number
  /** The highest action in effect after this event (ladder[step - 1]); null at step 0. */
  action: LadderAction | null
  /** The rule's whole ladder, so a subscriber knows what a step stands for without the rule file. */
  ladder: readonly LadderAction[]
}

const PENDING = 0
const FIRING = 1
const COOLING = 2
type Phase = typeof PENDING | typeof FIRING | typeof COOLING

interface Rung {
  last: AlertTransition
  phase: Phase
  step: number
  /** When the next step (up while firing, down while cooling) is due; NaN when none is. */
  nextAt: number
  /** The rule's ladder when it last changed state: a rule removed since still steps down the ladder it climbed. */
  settings: LadderSettings
}

/** The serializable state: plain arrays and numbers (msgpack, structuredClone, JSON with NaN as null). */
export interface ActionLadderState {
  rungs: [key: string, last: AlertTransition, phase: number, step: number, nextAt: number | null, settings: LadderSettings][]
}

/** One alert instance, unambiguously: labels sorted by name, the whole as JSON (no separator a label value could fake). */
export function alertInstanceKey(group: string, alert: string, labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels).sort()
  return JSON.stringify([group, alert, names.map((n) => [n, labels[n]])])
}

export class ActionLadder {
  readonly #rungs = new Map<string, Rung>()
  readonly #settings = new Map<string, LadderSettings>()

  constructor(groups: readonly RuleGroup[]) {
    for (const g of groups) for (const r of g.rules) this.#settings.set(JSON.stringify([g.name, r.name]), r.ladder)
  }

  /** The ladder a rule of this rule set configures (the default for one it does not hold). */
  settingsOf(group: string, alert: string): LadderSettings {
    return this.#settings.get(JSON.stringify([group, alert])) ?? DEFAULT_LADDER
  }

  #hasRule(group: string, alert: string): boolean {
    return this.#settings.has(JSON.stringify([group, alert]))
  }

  /**
   * Takes the transitions of one evaluator.advance(watermark) and that
   * watermark; returns every ladder event up to the watermark, in event-time
   * order (one alert's events keep their order).
   */
  advance(transitions: readonly AlertTransition[], watermark: number): LadderEvent[] {
    const out: LadderEvent[] = []
    for (const t of transitions) this.#apply(t, out)
    for (const [key, rung] of this.#rungs) {
      this.#stepUntil(rung, watermark, true, out)
      if (rung.step === 0 && rung.phase !== FIRING) this.#rungs.delete(key)
    }
    // Array.prototype.sort is stable: events of one alert, already in time order, stay in their order.
    return out.sort((a, b) => a.at - b.at)
  }

  /** Alert instances with a step above 0 or firing (for tests and memory accounting). */
  get size(): number {
    return this.#rungs.size
  }

  /** The step an alert instance is at (0 when unknown). */
  stepOf(group: string, alert: string, labels: Readonly<Record<string, string>>): number {
    return this.#rungs.get(alertInstanceKey(group, alert, labels))?.step ?? 0
  }

  snapshot(): ActionLadderState {
    return {
      rungs: [...this.#rungs].map(([key, r]) => [key, structuredClone(r.last), r.phase, r.step, Number.isNaN(r.nextAt) ? null : r.nextAt, structuredClone(r.settings)]),
    }
  }

  /**
   * Rebuilds from a snapshot, possibly under changed rules: an alert whose
   * rule is still there takes the rule's ladder now (its step capped at the
   * ladder's length; with `capped`, a step_down event at `capped.at` says so);
   * one whose rule is gone keeps the ladder it climbed, until it is ended
   * (endRemovedRules, or a `resolved` transition).
   */
  static restore(groups: readonly RuleGroup[], state: ActionLadderState, capped?: { at: number; out: LadderEvent[] }): ActionLadder {
    const ladder = new ActionLadder(groups)
    for (const [key, last, phase, step, nextAt, saved] of state.rungs) {
      const settings = ladder.#hasRule(last.group, last.alert) ? ladder.settingsOf(last.group, last.alert) : structuredClone(saved)
      const rung: Rung = { last: structuredClone(last), phase: phase as Phase, step: Math.min(step, settings.actions.length), nextAt: nextAt ?? NaN, settings }
      // A shorter ladder under the new rules turned the actions above its length off: say so (at `capped.at`).
      if (capped !== undefined && rung.step < step) capped.out.push(ladder.#event(rung.last, 'step_down', rung.step, step, capped.at, settings))
      if (rung.step === 0 && rung.phase !== FIRING) continue
      ladder.#rungs.set(key, rung)
    }
    return ladder
  }

  /**
   * Alerts whose rule is no longer in the rule set (a tenant changed its rules
   * mid-incident) will never get a `resolved` from the evaluator, which drops
   * their state: resolve them here at event time `at` (the watermark when the
   * rules changed), so they step down instead of holding their step forever.
   */
  endRemovedRules(at: number): LadderEvent[] {
    const out: LadderEvent[] = []
    for (const [key, rung] of this.#rungs) {
      if (this.#hasRule(rung.last.group, rung.last.alert) || rung.phase === COOLING) continue
      this.#stepUntil(rung, at, false, out)
      const previousStep = rung.step
      rung.last = { ...rung.last, state: rung.phase === FIRING ? 'resolved' : 'inactive', at }
      rung.phase = COOLING
      rung.nextAt = rung.step > 0 ? at + rung.settings.stepDownAfterMs : NaN
      out.push(this.#event(rung.last, 'alert', rung.step, previousStep, at, rung.settings))
      if (rung.step === 0) this.#rungs.delete(key)
    }
    return out.sort((a, b) => a.at - b.at)
  }

  #apply(t: AlertTransition, out: LadderEvent[]): void {
    const key = alertInstanceKey(t.group, t.alert, t.labels)
    let rung = this.#rungs.get(key)
    // Steps due strictly before this evaluation happen first; one due at t yields to what t decided.
    if (rung !== undefined) this.#stepUntil(rung, t.at, false, out)
    // An alert whose rule is gone (ended by a rule change) keeps the ladder it climbed.
    const settings = rung !== undefined && !this.#hasRule(t.group, t.alert) ? rung.settings : this.settingsOf(t.group, t.alert)
    if (rung !== undefined) rung.settings = settings
    const previousStep = rung?.step ?? 0
    switch (t.state) {
      case 'firing': {
        rung ??= { last: t, phase: FIRING, step: 0, nextAt: NaN, settings }
        rung.phase = FIRING
        if (rung.step === 0 && settings.actions.length > 0) rung.step = 1
        rung.nextAt = rung.step < settings.actions.length ? t.at + settings.cooldownMs : NaN
        break
      }
      case 'resolved':
      case 'inactive':
        if (rung !== undefined) {
          rung.phase = COOLING
          rung.nextAt = rung.step > 0 ? t.at + settings.stepDownAfterMs : NaN
        }
        break
      case 'pending':
        if (rung !== undefined) {
          rung.phase = PENDING
          rung.nextAt = NaN
        }
        break
    }
    if (rung !== undefined) {
      rung.last = t
      if (rung.step === 0 && rung.phase !== FIRING) this.#rungs.delete(key)
      else this.#rungs.set(key, rung)
    }
    out.push(this.#event(t, 'alert', rung?.step ?? 0, previousStep, t.at, settings))
  }

  /** Takes every step due before `until` (or at it, when inclusive). */
  #stepUntil(rung: Rung, until: number, inclusive: boolean, out: LadderEvent[]): void {
    const settings = rung.settings
    const max = settings.actions.length
    while (!Number.isNaN(rung.nextAt) && (inclusive ? rung.nextAt <= until : rung.nextAt < until)) {
      const at = rung.nextAt
      const previousStep = rung.step
      if (rung.phase === FIRING && rung.step < max) {
        rung.step++
        rung.nextAt = rung.step < max ? at + settings.cooldownMs : NaN
        out.push(this.#event(rung.last, 'escalate', rung.step, previousStep, at, settings))
      } else if (rung.phase === COOLING && rung.step > 0) {
        rung.step--
        rung.nextAt = rung.step > 0 ? at + settings.stepDownAfterMs : NaN
        out.push(this.#event(rung.last, 'step_down', rung.step, previousStep, at, settings))
      } else {
        rung.nextAt = NaN
      }
    }
  }

  #event(t: AlertTransition, change: LadderChange, step: number, previousStep: number, at: number, settings: LadderSettings): LadderEvent {
    return {
      group: t.group,
      alert: t.alert,
      state: t.state,
      change,
      labels: { ...t.labels },
      annotations: { ...t.annotations },
      value: t.value,
      activeAt: t.activeAt,
      at,
      step,
      previousStep,
      action: step > 0 ? (settings.actions[step - 1] ?? null) : null,
      ladder: settings.actions,
    }
  }
}
