// The action ladder: one step up per cooldown while firing, one down per step-down period after,
// resuming from where it is on a re-fire; every step stamped with the event time it was due at,
// so any cadence of advance() and a snapshot/restore give the same events.
import { describe, expect, it } from 'vitest'
import { ActionLadder, type LadderEvent } from '../../engine/rules/action-ladder.ts'
import { effectiveRuleGroups } from '../../engine/rules/default-rules.ts'
import { RulesEvaluator, type AlertTransition, type TransitionState } from '../../engine/rules/evaluator.ts'
import { DEFAULT_LADDER, LADDER_ACTIONS } from '../../engine/rules/ladder-settings.ts'
import { parseRuleFile, RuleFileError, type RuleGroup } from '../../engine/rules/rule-file.ts'

const S = 1000
const M = 60 * S
const COOL = DEFAULT_LADDER.cooldownMs
const DOWN = DEFAULT_LADDER.stepDownAfterMs

function groupsWith(annotations = ''): RuleGroup[] {
  return parseRuleFile(`groups:\n  - name: g\n    interval: 15s\n    rules:\n      - alert: A\n        expr: cpu_usage > 80\n${annotations}`).groups
}

const labels = { alertname: 'A', host: 'web-1' }
function tr(state: TransitionState, at: number, extra: Partial<AlertTransition> = {}): AlertTransition {
  return { group: 'g', alert: 'A', state, labels, annotations: {}, value: 85, activeAt: 0, at, ...extra }
}

/** "at(s) change state step" per event, easy to read in a failure. */
const brief = (events: LadderEvent[]): string[] => events.map((e) => `${e.at / S}s ${e.change} ${e.state} ${e.previousStep}->${e.step} ${e.action ?? '-'}`)

describe('the default ladder', () => {
  it('steps up once when firing starts and once per cooldown while it keeps firing, never past the last step', () => {
    const ladder = new ActionLadder(groupsWith())
    const out = ladder.advance([tr('firing', 0)], 0)
    out.push(...ladder.advance([], 60 * M))
    expect(brief(out)).toEqual([
      '0s alert firing 0->1 enable_read_replicas',
      '120s escalate firing 1->2 expand_cache',
      '240s escalate firing 2->3 add_workers',
      '360s escalate firing 3->4 degrade',
    ])
    expect(out[3]?.ladder).toEqual(LADDER_ACTIONS)
  })

  it('holds its step when the alert resolves, then steps down one per step-down period and forgets the alert at 0', () => {
    const ladder = new ActionLadder(groupsWith())
    ladder.advance([tr('firing', 0)], 5 * M) // at step 3 by 240 s
    const out = ladder.advance([tr('resolved', 5 * M)], 60 * M)
    expect(brief(out)).toEqual([
      '300s alert resolved 3->3 add_workers',
      '600s step_down resolved 3->2 expand_cache',
      '900s step_down resolved 2->1 enable_read_replicas',
      '1200s step_down resolved 1->0 -',
    ])
    expect(ladder.size).toBe(0)
  })

  it('resumes from the current step on a re-fire while stepping down (hysteresis), and escalates a cooldown later', () => {
    const ladder = new ActionLadder(groupsWith())
    ladder.advance([tr('firing', 0)], 10 * M) // step 4 at 360 s
    ladder.advance([tr('resolved', 10 * M)], 16 * M) // down to 3 at 900 s
    const out = ladder.advance([tr('firing', 17 * M, { activeAt: 17 * M })], 17 * M + COOL)
    expect(brief(out)).toEqual(['1020s alert firing 3->3 add_workers', '1140s escalate firing 3->4 degrade'])
    expect(ladder.stepOf('g', 'A', labels)).toBe(4)
  })

  it('lets a transition win over a step due at the same evaluation time', () => {
    const up = new ActionLadder(groupsWith())
    up.advance([tr('firing', 0)], 0)
    // The evaluation at 120 s found the condition false: no escalation at 120 s.
    expect(brief(up.advance([tr('resolved', COOL)], COOL))).toEqual(['120s alert resolved 1->1 enable_read_replicas'])
    const down = new ActionLadder(groupsWith())
    down.advance([tr('firing', 0), tr('resolved', 10 * S)], 10 * S)
    // The evaluation at 10 s + DOWN found it true again: no step down at that time.
    expect(brief(down.advance([tr('firing', 10 * S + DOWN)], 10 * S + DOWN))).toEqual(['310s alert firing 1->1 enable_read_replicas'])
  })

  it('pauses stepping down while the alert is pending again, and resumes with a fresh period when that is reset', () => {
    const ladder = new ActionLadder(groupsWith())
    ladder.advance([tr('firing', 0)], 3 * M) // step 2
    const out = ladder.advance([tr('resolved', 3 * M), tr('pending', 4 * M), tr('inactive', 20 * M)], 40 * M)
    expect(brief(out)).toEqual([
      '180s alert resolved 2->2 expand_cache',
      '240s alert pending 2->2 expand_cache',
      '1200s alert inactive 2->2 expand_cache',
      '1500s step_down inactive 2->1 enable_read_replicas',
      '1800s step_down inactive 1->0 -',
    ])
  })

  it('passes pending and inactive through at step 0 without keeping anything', () => {
    const ladder = new ActionLadder(groupsWith())
    expect(brief(ladder.advance([tr('pending', 0), tr('inactive', 15 * S)], M))).toEqual(['0s alert pending 0->0 -', '15s alert inactive 0->0 -'])
    expect(ladder.size).toBe(0)
  })

  it('keeps alert instances apart by their labels', () => {
    const ladder = new ActionLadder(groupsWith())
    const other = { alertname: 'A', host: 'web-2' }
    const out = ladder.advance([tr('firing', 0), tr('firing', M, { labels: other })], 2 * M)
    expect(out.map((e) => [e.labels.host, e.at / S, e.step])).toEqual([
      ['web-1', 0, 1],
      ['web-2', 60, 1],
      ['web-1', 120, 2],
    ])
  })
})

describe('ladder settings in annotations', () => {
  it('takes actions, cooldown and step-down period from tidemark_* annotations', () => {
    const groups = groupsWith(`        annotations:\n          summary: hot\n          tidemark_actions: expand_cache, add_workers\n          tidemark_cooldown: 30s\n          tidemark_step_down_after: 90s\n`)
    expect(groups[0]?.rules[0]?.ladder).toEqual({ actions: ['expand_cache', 'add_workers'], cooldownMs: 30 * S, stepDownAfterMs: 90 * S })
    const ladder = new ActionLadder(groups)
    const out = ladder.advance([tr('firing', 0), tr('resolved', 2 * M)], 10 * M)
    expect(brief(out)).toEqual([
      '0s alert firing 0->1 expand_cache',
      '30s escalate firing 1->2 add_workers',
      '120s alert resolved 2->2 add_workers',
      '210s step_down resolved 2->1 expand_cache',
      '300s step_down resolved 1->0 -',
    ])
  })

  it('"none" makes a rule that only notifies: every event at step 0', () => {
    const ladder = new ActionLadder(groupsWith(`        annotations:\n          tidemark_actions: none\n`))
    const out = ladder.advance([tr('firing', 0), tr('resolved', 20 * M)], 60 * M)
    expect(brief(out)).toEqual(['0s alert firing 0->0 -', '1200s alert resolved 0->0 -'])
    expect(out[0]?.ladder).toEqual([])
  })

  it('refuses bad settings, naming each field', () => {
    const problems = (() => {
      try {
        groupsWith(
          `        annotations:\n          tidemark_actions: expand_cache,add_workerz,expand_cache\n          tidemark_cooldown: "0"\n          tidemark_step_down_after: "{{ $value }}s"\n          tidemark_cooldwn: 2m\n`
        )
      } catch (err) {
        return (err as RuleFileError).problems
      }
      throw new Error('expected refusal')
    })()
    const at = 'groups[0].rules[0].annotations'
    expect(problems).toEqual([
      { field: `${at}.tidemark_actions`, problem: expect.stringContaining('"add_workerz" is not an action') },
      { field: `${at}.tidemark_cooldown`, problem: expect.stringContaining('not a duration longer than zero') },
      { field: `${at}.tidemark_step_down_after`, problem: expect.stringContaining('not a template') },
      { field: `${at}.tidemark_cooldwn`, problem: expect.stringContaining('is not a Tidemark ladder setting') },
    ])
    const repeated = (() => {
      try {
        groupsWith(`        annotations:\n          tidemark_actions: expand_cache,expand_cache\n`)
      } catch (err) {
        return (err as RuleFileError).problems
      }
      return []
    })()
    expect(repeated).toEqual([{ field: `${at}.tidemark_actions`, problem: expect.stringContaining('listed twice') }])
  })
})

describe('rules changing under an active alert', () => {
  const custom = groupsWith(`        annotations:\n          tidemark_actions: expand_cache,add_workers,degrade\n          tidemark_cooldown: 1m\n          tidemark_step_down_after: 90s\n`)

  it('steps an alert whose rule was removed down the ladder it climbed, from when the rules changed', () => {
    const before = new ActionLadder(custom)
    before.advance([tr('firing', 0)], 2 * M) // step 3 at 120 s
    const other = parseRuleFile('groups:\n  - name: g\n    rules:\n      - alert: Other\n        expr: x > 1\n').groups
    const after = ActionLadder.restore(other, structuredClone(before.snapshot()))
    // Nothing happens by itself: the evaluator, restored under the new rules, will never resolve it.
    expect(after.advance([], 10 * M)).toEqual([])
    const out = after.endRemovedRules(10 * M)
    out.push(...after.advance([], 60 * M))
    expect(brief(out)).toEqual([
      '600s alert resolved 3->3 degrade',
      '690s step_down resolved 3->2 add_workers',
      '780s step_down resolved 2->1 expand_cache',
      '870s step_down resolved 1->0 -',
    ])
    expect(after.size).toBe(0)
    expect(after.endRemovedRules(70 * M)).toEqual([])
  })

  it('gives an alert whose rule stays the rule\'s new ladder, its step capped at the new length', () => {
    const before = new ActionLadder(groupsWith())
    before.advance([tr('firing', 0)], 10 * M) // step 4 of the default ladder
    const after = ActionLadder.restore(custom, before.snapshot())
    expect(after.stepOf('g', 'A', labels)).toBe(3)
    expect(after.endRemovedRules(10 * M)).toEqual([])
    expect(brief(after.advance([tr('resolved', 11 * M)], 11 * M + 90 * S))).toEqual(['660s alert resolved 3->3 degrade', '750s step_down resolved 3->2 add_workers'])
  })
})

describe('determinism (what makes replays and ids safe)', () => {
  // CPU at 85 for 20 minutes then 50 for 30 minutes, one sample a second, through the defaults.
  const t0 = 1_760_000_003_000
  const samples = Array.from({ length: 50 * 60 }, (_, s) => [t0 + s * S, s < 20 * 60 ? 85 : 50] as const)
  const end = t0 + 60 * M

  function run(cadenceMs: number, restoreAt?: number): LadderEvent[] {
    const groups = effectiveRuleGroups(undefined)
    let evaluator = new RulesEvaluator(groups)
    let ladder = new ActionLadder(groups)
    const out: LadderEvent[] = []
    let next = t0
    const tick = (watermark: number) => {
      out.push(...ladder.advance(evaluator.advance(watermark), watermark))
    }
    for (const [ts, value] of samples) {
      while (ts > next) {
        tick(next)
        if (restoreAt !== undefined && next >= restoreAt && next - cadenceMs < restoreAt) {
          // A restart: both states through structuredClone, as a worker would hand them over.
          evaluator = RulesEvaluator.restore(groups, structuredClone(evaluator.snapshot()))
          ladder = ActionLadder.restore(groups, structuredClone(ladder.snapshot()))
        }
        next += cadenceMs
      }
      evaluator.push('cpu_usage', { host: 'web-1' }, ts, value)
    }
    while (next <= end) {
      tick(next)
      next += cadenceMs
    }
    tick(end)
    return out
  }

  it('gives the same events, at the same event times, whatever the cadence of advance() and across a restore', () => {
    const everySecond = run(S)
    expect(brief(everySecond).map((line) => line.replace(/^\d+/, (s) => String((Number(s) * S - t0) / S)))).toEqual([
      // First evaluation on the 15 s grid after t0; fires 5 minutes later; one step per 2 minutes.
      '7s alert pending 0->0 -',
      '307s alert firing 0->1 enable_read_replicas',
      '427s escalate firing 1->2 expand_cache',
      '547s escalate firing 2->3 add_workers',
      '667s escalate firing 3->4 degrade',
      // CPU drops to 50 at 1200 s: the next evaluation resolves; one step down per 5 minutes.
      '1207s alert resolved 4->4 degrade',
      '1507s step_down resolved 4->3 add_workers',
      '1807s step_down resolved 3->2 expand_cache',
      '2107s step_down resolved 2->1 enable_read_replicas',
      '2407s step_down resolved 1->0 -',
    ])
    expect(run(7 * M)).toEqual(everySecond)
    expect(run(13 * S, t0 + 10 * M)).toEqual(everySecond)
  })
})
