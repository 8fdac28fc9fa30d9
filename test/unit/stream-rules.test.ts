// The rule evaluator inside a partition's pipeline (pure, no threads): events are
// decided as the watermark passes each evaluation time, never before; a replay
// from the checkpoint's resume point emits exactly what an uninterrupted run
// emits after the checkpoint; other tenants' rules apply to their series only.
import { describe, expect, it } from 'vitest'
import { DEFAULT_RULES, type StreamRulesConfig, type TriggerOutput, streamRulesFactory } from '../../engine/rules/index.ts'
import type { Sample } from '../../engine/model/sample.ts'
import { DEFAULT_STREAM_SETTINGS, pipelineSettings } from '../../engine/stream/stream-config.ts'
import type { StreamOutput } from '../../engine/stream/series-evaluator.ts'
import { PartitionPipeline, type LogEntry, type PipelineStart } from '../../engine/stream/window-pipeline.ts'

const T0 = 1_700_000_100_000 - (1_700_000_100_000 % 15_000)
const config: StreamRulesConfig = {
  version: 'test',
  base: DEFAULT_RULES,
  tenants: { quiet: { groups: [{ name: 'own', interval: '15s', rules: [{ alert: 'HighCpuUsage', expr: 'cpu_usage > 95', for: '1m' }] }] } },
}

function pipeline(start: PipelineStart = {}): PartitionPipeline {
  return new PartitionPipeline(0, pipelineSettings(DEFAULT_STREAM_SETTINGS), { ...start, evaluators: streamRulesFactory(config), evaluationIntervalMs: 15_000 })
}

const cpu = (tenant: string, ts: number, value: number): Sample => [tenant, 'cpu_usage', ts, value, { host: 'a' }, ts]

/** A message per 15 s step from T0 over `seconds`, for two tenants. */
function log(seconds: number): LogEntry[] {
  const entries: LogEntry[] = []
  for (let s = 0; s <= seconds; s += 15) entries.push({ kind: 'batch', seq: entries.length + 1, samples: [cpu('loud', T0 + s * 1000, 85), cpu('quiet', T0 + s * 1000, 85)] })
  return entries
}

const triggers = (out: StreamOutput[]): TriggerOutput['event'][] => out.filter((o): o is TriggerOutput => o.kind === 'trigger').map((o) => o.event)

describe('rules in the partition pipeline', () => {
  it('decides an evaluation only once the watermark passes its time, and the firing after `for`', () => {
    const p = pipeline()
    const out: StreamOutput[] = []
    p.apply({ kind: 'batch', seq: 1, samples: [cpu('loud', T0, 85)] }, out)
    // Watermark = T0 + 5000 - 5000 = T0: samples stamped T0 may still come, so nothing is decided yet.
    p.apply({ kind: 'batch', seq: 2, samples: [cpu('loud', T0 + 5000, 85)] }, out)
    expect(p.watermark).toBe(T0)
    expect(triggers(out)).toEqual([])
    // One millisecond later the evaluation at T0 is final: pending, at once (not at the next pane).
    p.apply({ kind: 'batch', seq: 3, samples: [cpu('loud', T0 + 5001, 85)] }, out)
    expect(triggers(out).map((e) => [e.rule, e.state, e.at])).toEqual([['HighCpuUsage', 'pending', T0]])
    out.length = 0
    for (const e of log(330).slice(1)) p.apply({ ...e, seq: e.seq + 3 }, out)
    const loud = triggers(out).filter((e) => e.tenant === 'loud')
    expect(loud.map((e) => [e.state, e.change, e.step, e.at - T0])).toEqual([['firing', 'alert', 1, 300_000]])
  })

  it('applies each tenant its own rules: the quiet tenant overrides HighCpuUsage with a threshold of 95', () => {
    const p = pipeline()
    const out: StreamOutput[] = []
    for (const e of log(600)) p.apply(e, out)
    const events = triggers(out)
    expect(events.filter((e) => e.tenant === 'quiet')).toEqual([])
    expect(events.filter((e) => e.tenant === 'loud').map((e) => e.state)).toEqual(['pending', 'firing', 'firing', 'firing'])
  })

  it('a replay from a checkpoint taken mid-incident emits exactly the rest of an uninterrupted run', () => {
    const entries = log(600)
    const whole: StreamOutput[] = []
    const once = pipeline()
    for (const e of entries) once.apply(e, whole)
    for (const k of [3, 12, 25, 33]) {
      const first = pipeline()
      const before: StreamOutput[] = []
      for (const e of entries.slice(0, k)) first.apply(e, before)
      const cp = first.checkpoint()
      // The rules' pending clock reaches back to the first message, further than any open window.
      expect(cp.resume.seq).toBe(1)
      const replay = pipeline({ resume: cp.resume, suppressThroughSeq: cp.seq })
      const after: StreamOutput[] = []
      for (const e of entries.filter((x) => x.seq >= cp.resume.seq)) replay.apply(e, after)
      expect(triggers([...before, ...after]).map((e) => e.id)).toEqual(triggers(whole).map((e) => e.id))
    }
  })
})
