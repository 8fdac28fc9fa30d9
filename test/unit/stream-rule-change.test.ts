// A rule change at a place in a partition's log (a config marker): an alert whose
// rule is removed resolves there and steps down the ladder it climbed; a rule kept
// keeps its alert; a new rule starts from the marker. And it is a function of the
// log: an uninterrupted run and runs interrupted at every message, rebuilt by
// replay from the checkpoint (which names the rules in effect at its resume
// point), emit the same events, none lost, none extra.
import { describe, expect, it } from 'vitest'
import { DEFAULT_RULES, streamRulesFactory, type StreamRulesConfig, type TriggerOutput } from '../../engine/rules/index.ts'
import type { Sample } from '../../engine/model/sample.ts'
import { DEFAULT_STREAM_SETTINGS, pipelineSettings } from '../../engine/stream/stream-config.ts'
import type { StreamOutput } from '../../engine/stream/series-evaluator.ts'
import { PartitionPipeline, type LogEntry, type PipelineStart } from '../../engine/stream/window-pipeline.ts'

const T0 = 1_700_000_100_000 - (1_700_000_100_000 % 15_000)
const M = 60_000
const custom = {
  groups: [
    {
      name: 'own',
      interval: '15s',
      rules: [
        { alert: 'CheckoutCpu', expr: 'cpu_usage > 80', for: '1m', annotations: { tidemark_actions: 'expand_cache,add_workers', tidemark_cooldown: '1m', tidemark_step_down_after: '2m' } },
        { alert: 'Kept', expr: 'cpu_usage > 50', for: '30s' },
      ],
    },
  ],
}
const kept = custom.groups[0]!.rules[1]!
const added = { alert: 'Added', expr: 'cpu_usage > 60', for: '1m' }
// Effective rule files, as the engine sends them: the defaults and the tenant's own group.
const withCheckout: StreamRulesConfig = { version: 'v1', base: DEFAULT_RULES, tenants: { t: { groups: [...DEFAULT_RULES.groups, ...custom.groups] } } }
// A group new to the series reads the samples the series' rules held: two samples within a minute at 720 s
// only with the one at 705 s from before the change.
const fresh = { name: 'fresh', interval: '15s', rules: [{ alert: 'Fresh', expr: 'count_over_time(cpu_usage[1m]) >= 2', annotations: { tidemark_actions: 'none' } }] }
// CheckoutCpu removed; Kept kept (now first in its group, its ladder cut to two actions), Added new, a new
// group; the defaults unchanged.
const keptShorter = { ...kept, annotations: { tidemark_actions: 'add_workers,degrade' } }
const without: StreamRulesConfig = {
  version: 'v2',
  base: DEFAULT_RULES,
  tenants: { t: { groups: [...DEFAULT_RULES.groups, { name: 'own', interval: '15s', rules: [keptShorter, added] }, fresh] } },
}
const configs = new Map([withCheckout, without].map((c) => [c.version, c]))

const cpu = (ts: number, value: number): Sample => ['t', 'cpu_usage', ts, value, { host: 'a' }, ts]

/** cpu 85 every 15 s for 12 minutes, the rule change, then 85 for 8 more minutes and 40 for 20 (a quiet end). */
function log(): LogEntry[] {
  const entries: LogEntry[] = []
  type Unnumbered<E> = E extends LogEntry ? Omit<E, 'seq'> : never
  const add = (e: Unnumbered<LogEntry>): void => void entries.push({ ...e, seq: entries.length + 1 } as LogEntry)
  let s = 0
  for (; s <= 12 * 60; s += 15) add({ kind: 'batch', samples: [cpu(T0 + s * 1000, 85)] })
  add({ kind: 'config', version: 'v2', evaluators: streamRulesFactory(without) })
  for (; s <= 20 * 60; s += 15) add({ kind: 'batch', samples: [cpu(T0 + s * 1000, 85)] })
  for (; s <= 40 * 60; s += 15) add({ kind: 'batch', samples: [cpu(T0 + s * 1000, 40)] })
  add({ kind: 'watermark', watermark: T0 + 60 * M })
  return entries
}

function pipeline(start: PipelineStart & { version?: string } = {}): PartitionPipeline {
  const version = start.version ?? 'v1'
  return new PartitionPipeline(0, pipelineSettings(DEFAULT_STREAM_SETTINGS), { ...start, evaluators: streamRulesFactory(configs.get(version)!), configVersion: version, evaluationIntervalMs: 15_000 })
}

const triggers = (out: StreamOutput[]): TriggerOutput['event'][] => out.filter((o): o is TriggerOutput => o.kind === 'trigger').map((o) => o.event)
const brief = (out: StreamOutput[]): string[] => triggers(out).map((e) => `${(e.at - T0) / 1000}s ${e.rule} ${e.change} ${e.state} ${e.previousStep}->${e.step}`)

describe('a rule removed under a firing alert, at a marker in the log', () => {
  it('resolves the alert at the marker and steps down the ladder it climbed; a kept rule keeps its alert; a new rule starts there', () => {
    const p = pipeline()
    const out: StreamOutput[] = []
    for (const e of log()) p.apply(e, out)
    // The marker comes after the sample at 720 s: watermark 715 s.
    expect(brief(out)).toEqual([
      '0s HighCpuUsage alert pending 0->0',
      '0s CheckoutCpu alert pending 0->0',
      '0s Kept alert pending 0->0',
      '30s Kept alert firing 0->1',
      '60s CheckoutCpu alert firing 0->1',
      '120s CheckoutCpu escalate firing 1->2',
      '150s Kept escalate firing 1->2',
      '270s Kept escalate firing 2->3',
      '300s HighCpuUsage alert firing 0->1',
      '390s Kept escalate firing 3->4',
      '420s HighCpuUsage escalate firing 1->2',
      '540s HighCpuUsage escalate firing 2->3',
      '660s HighCpuUsage escalate firing 3->4',
      // Kept's ladder is two actions now: the two above turn off at the change.
      '715s Kept step_down firing 4->2',
      // The removed rule: resolved at the change, down its own ladder (2 steps, 2 minutes apart).
      '715s CheckoutCpu alert resolved 2->2',
      // The new rule: from the first evaluation after the change.
      '720s Added alert pending 0->0',
      // The new group: 705 s (held from before the change) and 720 s make two samples in a minute at once.
      '720s Fresh alert firing 0->0',
      '780s Added alert firing 0->1',
      '835s CheckoutCpu step_down resolved 2->1',
      '900s Added escalate firing 1->2',
      '955s CheckoutCpu step_down resolved 1->0',
      '1020s Added escalate firing 2->3',
      '1140s Added escalate firing 3->4',
      // Kept (moved within its group) and the defaults carried their alerts over the change: no second pending or firing.
      '1215s HighCpuUsage alert resolved 4->4',
      '1215s Kept alert resolved 2->2',
      '1215s Added alert resolved 4->4',
      '1515s Kept step_down resolved 2->1',
      '1515s HighCpuUsage step_down resolved 4->3',
      '1515s Added step_down resolved 4->3',
      '1815s Kept step_down resolved 1->0',
      '1815s HighCpuUsage step_down resolved 3->2',
      '1815s Added step_down resolved 3->2',
      '2115s HighCpuUsage step_down resolved 2->1',
      '2115s Added step_down resolved 2->1',
      '2415s HighCpuUsage step_down resolved 1->0',
      '2415s Added step_down resolved 1->0',
      '2460s Fresh alert resolved 0->0',
    ])
  })

  it('is a function of the log: interrupted after any message and rebuilt from the checkpoint, the same events, each once', () => {
    const entries = log()
    const whole: StreamOutput[] = []
    const once = pipeline()
    for (const e of entries) once.apply(e, whole)
    const expected = triggers(whole).map((e) => e.id)
    const marker = entries.findIndex((e) => e.kind === 'config') + 1
    for (let k = 1; k < entries.length; k++) {
      const first = pipeline()
      const before: StreamOutput[] = []
      for (const e of entries.slice(0, k)) first.apply(e, before)
      const cp = first.checkpoint()
      // The checkpoint names the rules in effect at its resume point.
      expect(cp.resume.config).toBe(cp.resume.seq > marker ? 'v2' : 'v1')
      const replay = pipeline({ resume: cp.resume, suppressThroughSeq: cp.seq, version: cp.resume.config })
      const after: StreamOutput[] = []
      for (const e of entries.filter((x) => x.seq >= cp.resume.seq)) replay.apply(e, after)
      expect(triggers([...before, ...after]).map((e) => e.id)).toEqual(expected)
    }
  })

  it('a marker naming the rules already in effect changes nothing', () => {
    const plain = log().filter((e) => e.kind !== 'config')
    const p = pipeline()
    const out: StreamOutput[] = []
    for (const e of plain.slice(0, 30)) p.apply(e, out)
    p.apply({ kind: 'config', seq: 1000, version: 'v1', evaluators: streamRulesFactory(withCheckout) }, out)
    for (const e of plain.slice(30)) p.apply({ ...e, seq: e.seq + 1000 }, out)
    const q = pipeline()
    const ref: StreamOutput[] = []
    for (const e of plain) q.apply(e, ref)
    expect(brief(out)).toEqual(brief(ref))
  })
})

describe('a rule change bringing a shorter evaluation interval', () => {
  it('decides the new rule on its own grid at once, not at the next pane of the old one', () => {
    const fast: StreamRulesConfig = { version: 'fast', base: DEFAULT_RULES, tenants: { t: { groups: [...DEFAULT_RULES.groups, { name: 'fast', interval: '1s', rules: [{ alert: 'Spike', expr: 'cpu_usage > 100' }] }] } } }
    const p = pipeline()
    const out: StreamOutput[] = []
    p.apply({ kind: 'batch', seq: 1, samples: [cpu(T0 + 7_000, 50)] }, out)
    p.apply({ kind: 'config', seq: 2, version: 'fast', evaluators: streamRulesFactory(fast), evaluationIntervalMs: 1_000 }, out)
    // The spike at T0 + 9 s is final once the watermark passes it (a sample at T0 + 14.001 s), still inside the
    // 15 s pane [T0, T0 + 15 s): decided on the 1 s grid at once.
    p.apply({ kind: 'batch', seq: 3, samples: [cpu(T0 + 9_000, 200)] }, out)
    p.apply({ kind: 'batch', seq: 4, samples: [cpu(T0 + 14_001, 50)] }, out)
    expect(brief(out)).toEqual(['9s Spike alert firing 0->1'])
  })
})
