// The rule evaluator's snapshot (engine/rules/stream-rules.ts, rule-state-codec.ts):
// a partition restored from a snapshot plus a replay from the checkpoint emits
// exactly the trigger events of an uninterrupted run, none lost, none different,
// while the replay reaches back only to the snapshot plus what the windows need
// (not to the first sample of a series that never stops reporting); the bytes
// round-trip; and bytes restored under changed rules never resume an alert under
// a different rule: what the bytes hold of a rule that is gone resolves and
// steps down as a removal does.
import { describe, expect, it } from 'vitest'
import { DEFAULT_RULES, streamRulesFactory, type StreamRulesConfig, type TriggerOutput } from '../../engine/rules/index.ts'
import { decodeRuleState, encodeRuleState } from '../../engine/rules/rule-state-codec.ts'
import { RULES_STATE_NAME } from '../../engine/rules/stream-rules.ts'
import type { Sample } from '../../engine/model/sample.ts'
import { decodeSnapshot } from '../../engine/stream/partition-snapshot.ts'
import { DEFAULT_STREAM_SETTINGS, pipelineSettings } from '../../engine/stream/stream-config.ts'
import type { MessageContext, SeriesEvaluator, SeriesIdentity, StreamOutput } from '../../engine/stream/series-evaluator.ts'
import { PartitionPipeline, type LogEntry, type PartitionCheckpoint, type PipelineStart } from '../../engine/stream/window-pipeline.ts'

const T0 = 1_700_000_100_000 - (1_700_000_100_000 % 15_000)
const checkout = { alert: 'CheckoutCpu', expr: 'cpu_usage > 80', for: '1m', annotations: { tidemark_actions: 'expand_cache,add_workers', tidemark_cooldown: '1m', tidemark_step_down_after: '2m' } }
const kept = { alert: 'Kept', expr: 'max_over_time(cpu_usage[2m]) > 50', for: '30s' }
const v1: StreamRulesConfig = { version: 'v1', base: DEFAULT_RULES, tenants: { t: { groups: [...DEFAULT_RULES.groups, { name: 'own', interval: '15s', rules: [checkout, kept] }] } } }
// CheckoutCpu removed, Kept's ladder cut to two actions.
const v2: StreamRulesConfig = {
  version: 'v2',
  base: DEFAULT_RULES,
  tenants: { t: { groups: [...DEFAULT_RULES.groups, { name: 'own', interval: '15s', rules: [{ ...kept, annotations: { tidemark_actions: 'add_workers,degrade' } }] }] } },
}
// CheckoutCpu relabelled: another alert, not the one the bytes hold.
const v3: StreamRulesConfig = { version: 'v3', base: DEFAULT_RULES, tenants: { t: { groups: [...DEFAULT_RULES.groups, { name: 'own', interval: '15s', rules: [{ ...checkout, labels: { team: 'payments' } }, kept] }] } } }
const configs = new Map([v1, v2, v3].map((c) => [c.version, c]))

const cpu = (host: string, ts: number, value: number): Sample => ['t', 'cpu_usage', ts, value, { host }, ts]

/**
 * Two hosts at 85 every 15 s (host b a few seconds behind a, so samples wait for the watermark); b stops at 6
 * minutes while firing (its alerts resolve on a's watermark alone), the rules change at 12 minutes under a's
 * firing alerts, a goes on at 85 until 20 minutes, then 40 for 20 more.
 */
function log(): LogEntry[] {
  const entries: LogEntry[] = []
  type Unnumbered<E> = E extends LogEntry ? Omit<E, 'seq'> : never
  const add = (e: Unnumbered<LogEntry>): void => void entries.push({ ...e, seq: entries.length + 1 } as LogEntry)
  for (let s = 0; s <= 40 * 60; s += 15) {
    const samples = [cpu('a', T0 + s * 1000, s <= 20 * 60 ? 85 : 40)]
    if (s <= 6 * 60) samples.push(cpu('b', T0 + s * 1000 - 3_000, 85))
    add({ kind: 'batch', samples })
    if (s === 12 * 60) add({ kind: 'config', version: 'v2', evaluators: streamRulesFactory(v2) })
  }
  add({ kind: 'watermark', watermark: T0 + 60 * 60_000 })
  return entries
}

function pipeline(start: PipelineStart & { version?: string } = {}): PartitionPipeline {
  const version = start.version ?? 'v1'
  return new PartitionPipeline(0, pipelineSettings(DEFAULT_STREAM_SETTINGS), { ...start, evaluators: streamRulesFactory(configs.get(version)!), configVersion: version, evaluationIntervalMs: 15_000 })
}

const triggers = (out: StreamOutput[]): TriggerOutput['event'][] => out.filter((o): o is TriggerOutput => o.kind === 'trigger').map((o) => o.event)
const brief = (events: TriggerOutput['event'][]): string[] => events.map((e) => `${(e.at - T0) / 1000}s ${e.labels.host} ${e.rule} ${e.change} ${e.state} ${e.previousStep}->${e.step}`)

/** Outputs by id; one emitted twice must be the same both times. */
function union(...runs: StreamOutput[][]): Map<string, TriggerOutput['event']> {
  const map = new Map<string, TriggerOutput['event']>()
  for (const e of triggers(runs.flat())) {
    const earlier = map.get(e.id)
    if (earlier) expect(e, `${e.id} re-emitted differently`).toEqual(earlier)
    else map.set(e.id, e)
  }
  return map
}

/** Messages a window needs at most (the 5-minute window sliding by a minute, the lateness), a message per 15 s, and slack. */
const WINDOW_HORIZON_MESSAGES = 30

describe('restart from a rule snapshot plus a bounded replay', () => {
  const entries = log()
  const reference = (() => {
    const p = pipeline()
    const out: StreamOutput[] = []
    for (const e of entries) p.apply(e, out)
    return triggers(out)
  })()

  it('the uninterrupted run fires, escalates, resolves on the watermark alone, and ends a removed rule at the marker', () => {
    const lines = brief(reference)
    expect(lines).toEqual(expect.arrayContaining(['60s a CheckoutCpu alert firing 0->1', '120s a CheckoutCpu escalate firing 1->2', '300s b HighCpuUsage alert firing 0->1']))
    // b's last sample is at 357 s: its instant selector still sees it until 657 s, its alerts resolve at 660 s.
    expect(lines).toContain('660s b HighCpuUsage alert resolved 3->3')
    expect(lines.filter((l) => / a CheckoutCpu alert resolved/.test(l))).toHaveLength(1)
    expect(lines.some((l) => /^1\d{3}s b .* step_down/.test(l))).toBe(true)
  })

  const cases: [snapshotAt: number, checkpointAt: number][] = []
  for (let s = 3; s < entries.length - 2; s += 11) for (const gap of [0, 1, 9, 45]) if (s + gap < entries.length) cases.push([s, s + gap])

  it.each(cases)('snapshot after message %i, checkpoint after %i, dead 5 later: the same events, each as before', (snapshotAt, checkpointAt) => {
    const first = pipeline()
    const before: StreamOutput[] = []
    let snapshot: Uint8Array | undefined
    let cp: PartitionCheckpoint | undefined
    for (const e of entries) {
      if (e.seq > checkpointAt + 5) break
      first.apply(e, before)
      if (e.seq === snapshotAt) {
        cp = first.checkpoint(true)
        snapshot = cp.snapshot
      } else if (e.seq === checkpointAt) cp = first.checkpoint()
    }
    const checkpoint = cp as PartitionCheckpoint
    // Bounded: back to the snapshot and what the windows need, never to the first sample of a series still reporting.
    expect(checkpoint.resume.seq, JSON.stringify(checkpoint.resume)).toBeGreaterThanOrEqual(Math.min(snapshotAt, checkpointAt - WINDOW_HORIZON_MESSAGES))
    const second = pipeline({
      resume: checkpoint.resume,
      suppressThroughSeq: checkpoint.seq,
      version: checkpoint.resume.config,
      ...(snapshot ? { snapshot: decodeSnapshot(snapshot) } : {}),
    })
    const after: StreamOutput[] = []
    for (const e of entries) if (e.seq >= checkpoint.resume.seq) second.apply(e, after)
    const all = union(before, after)
    expect(brief([...all.values()].sort((x, y) => x.at - y.at))).toEqual(brief(reference))
    for (const e of reference) expect(all.get(e.id), e.id).toEqual(e)
  })

  it('a series still reporting with its alert firing does not hold the replay point at its first sample', () => {
    const p = pipeline()
    const out: StreamOutput[] = []
    // 10 minutes in: a fires since 60 s, b since 300 s; both hold rule state throughout.
    for (const e of entries.slice(0, 40)) p.apply(e, out)
    expect(p.checkpoint().resume.seq).toBe(1)
    p.checkpoint(true)
    for (const e of entries.slice(40, 44)) p.apply(e, out)
    expect(p.checkpoint().resume.seq).toBeGreaterThan(40 - WINDOW_HORIZON_MESSAGES)
  })
})

const identity = (host: string): SeriesIdentity => ({ partition: 0, tenant: 't', series: `cpu_usage{host="${host}"}`, metric: 'cpu_usage', tags: { host } })
const ctx = (seq: number): MessageContext => ({ seq, watermarkBefore: -Infinity, lateBefore: 0 })

/** One series' rule evaluator under v1, fed 85 every 15 s for `seconds` (a message each), the watermark 5 s behind. */
function fed(seconds: number, config = v1): { e: SeriesEvaluator; out: StreamOutput[] } {
  const [e] = streamRulesFactory(config)(identity('a'))
  const out: StreamOutput[] = []
  for (let s = 0, seq = 1; s <= seconds; s += 15, seq++) {
    e!.onSample(T0 + s * 1000, 85, ctx(seq))
    e!.onWatermark(T0 + s * 1000 - 5_000, true, out)
  }
  return { e: e!, out }
}

function restoredUnder(config: StreamRulesConfig, bytes: Uint8Array, throughSeq: number): SeriesEvaluator {
  const [e] = streamRulesFactory(config)(identity('a'), (name) => (name === RULES_STATE_NAME ? { bytes, throughSeq } : undefined))
  return e!
}

describe('rule state bytes', () => {
  it('round-trip: decoded and encoded again, the same bytes; restored, the same events as the evaluator they came from', () => {
    const { e } = fed(240)
    const bytes = e.snapshot!() as Uint8Array
    const state = decodeRuleState(bytes, 'cpu_usage', { host: 'a' })
    expect(state.throughSeq).toBe(17)
    expect(state.held.ts.length).toBe(1)
    expect(state.groups.map((g) => g.name).sort()).toEqual(['own', 'tidemark-defaults'].sort())
    expect(state.ladder.rungs.length).toBeGreaterThan(0)
    expect(encodeRuleState(state)).toEqual(bytes)
    const copy = restoredUnder(v1, bytes, 17)
    const a: StreamOutput[] = []
    const b: StreamOutput[] = []
    for (let s = 255, seq = 18; s <= 1500; s += 15, seq++) {
      const value = s < 600 ? 85 : 10
      e.onSample(T0 + s * 1000, value, ctx(seq))
      copy.onSample(T0 + s * 1000, value, ctx(seq))
      e.onWatermark(T0 + s * 1000 - 5_000, true, a)
      copy.onWatermark(T0 + s * 1000 - 5_000, true, b)
    }
    expect(triggers(a).length).toBeGreaterThan(4)
    expect(triggers(b)).toEqual(triggers(a))
    expect(copy.isIdle()).toBe(e.isIdle())
  })

  it('is small: a series under the defaults and two more rules, five minutes of samples, alerts firing', () => {
    const { e } = fed(600)
    expect((e.snapshot!() as Uint8Array).length).toBeLessThan(3000)
  })

  it('skips what the bytes include, and names no replay point before the first message after them', () => {
    const { e } = fed(240)
    const bytes = e.snapshot!() as Uint8Array
    expect(e.oldestContext()).toBeUndefined()
    const copy = restoredUnder(v1, bytes, 17)
    // Messages up to 17 are in the bytes: replayed, they change nothing.
    const out: StreamOutput[] = []
    copy.onSample(T0 + 240_000, 0, ctx(17))
    expect(copy.oldestContext()).toBeUndefined()
    copy.onSample(T0 + 255_000, 85, ctx(18))
    expect(copy.oldestContext()?.seq).toBe(18)
    copy.onWatermark(T0 + 250_000, true, out)
    expect(triggers(out)).toEqual([])
  })

  it('holds nothing for a series whose rules hold nothing', () => {
    const { e } = fed(0)
    const out: StreamOutput[] = []
    e.onWatermark(T0 + 3_600_000, true, out)
    expect(e.isIdle()).toBe(true)
    expect(e.snapshot!()).toBeUndefined()
  })

  it('refuses bytes it did not write (TM_ENGINE_RULE_STATE_INVALID)', () => {
    const { e } = fed(120)
    const bytes = e.snapshot!() as Uint8Array
    const bad = [new Uint8Array(4), Uint8Array.from([...bytes.subarray(0, 4), 9, ...bytes.subarray(5)]), Uint8Array.from([0x58, ...bytes.subarray(1)]), bytes.subarray(0, bytes.length - 9)]
    for (const b of bad) expect(() => decodeRuleState(b, 'cpu_usage', { host: 'a' })).toThrow(expect.objectContaining({ code: 'TM_ENGINE_RULE_STATE_INVALID' }))
  })
})

describe('rule state restored under changed rules', () => {
  // 4 minutes at 85, the last evaluation at 234.999 s: CheckoutCpu fired at 60 s and is at step 2 (of its two
  // actions), Kept fired at 30 s and is at step 2 (150 s) of the default ladder.
  const { e, out: before } = fed(240)
  const bytes = e.snapshot!() as Uint8Array
  const continued = (config: StreamRulesConfig): string[] => {
    const copy = restoredUnder(config, bytes, 17)
    const out: StreamOutput[] = []
    for (let s = 255, seq = 18; s <= 900; s += 15, seq++) {
      copy.onSample(T0 + s * 1000, 85, ctx(seq))
      copy.onWatermark(T0 + s * 1000 - 5_000, true, out)
    }
    return brief(triggers(out))
  }

  it('the state was taken with both alerts firing and their ladders up', () => {
    expect(brief(triggers(before))).toEqual(expect.arrayContaining(['60s a CheckoutCpu alert firing 0->1', '120s a CheckoutCpu escalate firing 1->2', '30s a Kept alert firing 0->1', '150s a Kept escalate firing 1->2']))
  })

  it('a rule gone: its alert resolves right after the last evaluation the bytes hold and steps down the ladder it climbed; the rule kept carries its alert', () => {
    const lines = continued(v2)
    expect(lines).toContain('235s a CheckoutCpu alert resolved 2->2')
    expect(lines).toContain('355s a CheckoutCpu step_down resolved 2->1')
    expect(lines).toContain('475s a CheckoutCpu step_down resolved 1->0')
    // Kept: no second pending or firing; its ladder cut to two actions says so at once.
    expect(lines.filter((l) => / Kept alert (pending|firing)/.test(l))).toEqual([])
    expect(lines.filter((l) => / CheckoutCpu (alert|escalate) (pending|firing)/.test(l))).toEqual([])
  })

  it('a rule relabelled: the old alert ends, the relabelled rule starts afresh, never resumed from the old one', () => {
    const lines = continued(v3)
    expect(lines).toContain('235s a CheckoutCpu alert resolved 2->2')
    expect(lines).toContain('240s a CheckoutCpu alert pending 0->0')
    expect(lines).toContain('300s a CheckoutCpu alert firing 0->1')
  })

  it('the same rules: nothing ends, nothing starts again', () => {
    const lines = continued(v1)
    expect(lines.filter((l) => / alert (pending|resolved|inactive)/.test(l))).toEqual([])
  })
})

describe('a snapshot after the rule state emptied', () => {
  it('replaces the last one (an empty snapshot), so a restart never resurrects the state it held', () => {
    const quiet: StreamRulesConfig = { version: 'q', base: { groups: [{ name: 'g', interval: '15s', rules: [{ alert: 'Hot', expr: 'cpu_usage > 80', annotations: { tidemark_actions: 'none' } }] }] }, tenants: {} }
    const make = (start: PipelineStart = {}): PartitionPipeline =>
      new PartitionPipeline(0, pipelineSettings(DEFAULT_STREAM_SETTINGS), { ...start, evaluators: streamRulesFactory(quiet), configVersion: 'q', evaluationIntervalMs: 15_000 })
    const first = make()
    const out: StreamOutput[] = []
    let seq = 1
    for (let s = 0; s <= 60; s += 15) first.apply({ kind: 'batch', seq: seq++, samples: [cpu('a', T0 + s * 1000, 85)] }, out)
    // Firing: the snapshot holds it (the reader keeps naming it until a checkpoint brings another).
    let named = first.checkpoint(true).snapshot
    expect(named).toBeDefined()
    // Resolved once its last sample left the lookback; nothing held any more.
    first.apply({ kind: 'watermark', seq: seq++, watermark: T0 + 20 * 60_000 }, out)
    expect(brief(triggers(out))).toEqual(['0s a Hot alert firing 0->0', '375s a Hot alert resolved 0->0'])
    const cp = first.checkpoint(true)
    named = cp.snapshot ?? named
    const second = make({ resume: cp.resume, suppressThroughSeq: cp.seq, snapshot: decodeSnapshot(named as Uint8Array) })
    const after: StreamOutput[] = []
    second.apply({ kind: 'watermark', seq, watermark: T0 + 40 * 60_000 }, after)
    expect(triggers(after)).toEqual([])
  })
})

describe('a restore with nothing to replay', () => {
  it('has the work of the state it restored due at once, so an idle partition is still ticked on (a ladder stepping down)', () => {
    const make = (start: PipelineStart = {}): PartitionPipeline => pipeline({ ...start, version: 'v1' })
    const first = make()
    const out: StreamOutput[] = []
    let seq = 1
    for (let s = 0; s <= 5 * 60; s += 15) first.apply({ kind: 'batch', seq: seq++, samples: [cpu('a', T0 + s * 1000, 85)] }, out)
    // Every window closed and the alert resolved (its samples left the lookback); the ladder still steps down.
    first.apply({ kind: 'watermark', seq: seq++, watermark: T0 + 11 * 60_000 }, out)
    expect(brief(triggers(out)).at(-1)).toMatch(/ alert resolved /)
    const cp = first.checkpoint(true)
    // Nothing before the checkpoint needs replaying: the snapshot holds it all.
    expect(cp.resume.seq).toBe(seq)
    const second = make({ resume: cp.resume, suppressThroughSeq: cp.seq, snapshot: decodeSnapshot(cp.snapshot as Uint8Array) })
    // The reader ticks an idle partition only up to nextDue: Infinity here would leave the ladder up until data came.
    expect(first.nextDue()).toBeLessThan(Infinity)
    expect(second.nextDue()).toBe(first.nextDue())
    const a: StreamOutput[] = []
    const b: StreamOutput[] = []
    first.apply({ kind: 'watermark', seq, watermark: T0 + 40 * 60_000 }, a)
    second.apply({ kind: 'watermark', seq, watermark: T0 + 40 * 60_000 }, b)
    expect(brief(triggers(a)).some((l) => / step_down /.test(l))).toBe(true)
    expect(brief(triggers(b))).toEqual(brief(triggers(a)))
  })
})
