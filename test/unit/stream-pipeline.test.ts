// A partition's pipeline: the watermark and its allowed lateness, late samples
// counted and kept out of windows, watermark ticks (the idle advance) closing
// the last window of a quiet series, the evaluator seam, and determinism: a log
// applied in one piece and the same log interrupted and rebuilt by replay from a
// checkpoint give the same outputs, none lost, none different.
import { describe, expect, it } from 'vitest'
import type { Sample } from '../../engine/model/sample.ts'
import { inEventTimeOrder, type StreamOutput } from '../../engine/stream/series-evaluator.ts'
import { DEFAULT_WINDOWS, type PipelineSettings } from '../../engine/stream/stream-config.ts'
import { PartitionPipeline, type LogEntry, type PartitionCheckpoint } from '../../engine/stream/window-pipeline.ts'
import type { WindowResult } from '../../engine/stream/windows.ts'
import { seededRandom, syntheticBatches } from '../helpers/stream-input.ts'

const settings: PipelineSettings = { windows: DEFAULT_WINDOWS.map((w) => ({ ...w })), allowedLatenessMs: 5_000, quantileAccuracy: 0.01 }
const sample = (ts: number, value: number, metric = 'load_time', tenant = 't_a'): Sample => [tenant, metric, ts, value, null, ts]

function run(pipeline: PartitionPipeline, entries: LogEntry[]): StreamOutput[] {
  const out: StreamOutput[] = []
  for (const e of entries) pipeline.apply(e, out)
  return out
}

describe('watermark and lateness', () => {
  it('trails the largest event time by the allowed lateness; older samples are late, counted, and kept out of windows', () => {
    const p = new PartitionPipeline(0, settings)
    run(p, [{ kind: 'batch', seq: 1, samples: [sample(100_000, 1)] }])
    expect(p.watermark).toBe(95_000)
    // One sample within the lateness (on time, out of order), one beyond it (late).
    run(p, [{ kind: 'batch', seq: 2, samples: [sample(96_000, 2), sample(94_000, 50)] }])
    expect(p.late).toBe(1)
    expect(p.watermark).toBe(95_000)
    const out = run(p, [{ kind: 'watermark', seq: 3, watermark: 120_000 }]) as WindowResult[]
    expect(out.filter((r) => r.window === '1m').map((r) => [r.start, r.count, r.sum])).toEqual([[60_000, 2, 3]])
  })

  it('never moves back, and samples of one batch are never late to each other', () => {
    const p = new PartitionPipeline(0, settings)
    run(p, [{ kind: 'batch', seq: 1, samples: [sample(200_000, 1), sample(10_000, 1)] }])
    expect(p.late).toBe(0)
    run(p, [{ kind: 'watermark', seq: 2, watermark: 100 }])
    expect(p.watermark).toBe(195_000)
  })

  it('ignores a message it already applied (a redelivery)', () => {
    const p = new PartitionPipeline(0, settings)
    run(p, [{ kind: 'batch', seq: 5, samples: [sample(1_000, 1)] }])
    run(p, [{ kind: 'batch', seq: 5, samples: [sample(1_000, 1)] }])
    const out = run(p, [{ kind: 'watermark', seq: 6, watermark: 60_000 }]) as WindowResult[]
    expect(out.map((r) => [r.window, r.count])).toEqual([
      ['1m', 1],
      ['5m/1m', 1],
    ])
  })
})

describe('idle advance', () => {
  it('a watermark tick in the log closes the last window of a quiet series, and nextDue says when one is useful', () => {
    const p = new PartitionPipeline(0, settings)
    run(p, [{ kind: 'batch', seq: 1, samples: [sample(30_000, 4)] }])
    // Nothing else arrives: only a tick can close [0, 60 s).
    expect(p.nextDue()).toBe(60_000)
    expect(run(p, [{ kind: 'watermark', seq: 2, watermark: 59_999 }])).toEqual([])
    const out = run(p, [{ kind: 'watermark', seq: 3, watermark: 60_000 }]) as WindowResult[]
    // The tumbling minute, and the first of the five sliding windows holding 30 s.
    expect(out.map((r) => [r.window, r.start, r.count])).toEqual([
      ['1m', 0, 1],
      ['5m/1m', -240_000, 1],
    ])
    // The other sliding windows close later.
    expect(p.nextDue()).toBe(120_000)
    expect(run(p, [{ kind: 'watermark', seq: 4, watermark: 1_000_000 }]).length).toBe(4)
    expect(p.nextDue()).toBe(Infinity)
    expect(p.seriesCount).toBe(0)
  })
})

describe('evaluator seam', () => {
  it('feeds an extra evaluator each series’ on-time samples in event-time order, beside the windows', () => {
    const seen: Array<[string, number]> = []
    const p = new PartitionPipeline(0, settings, {
      evaluators: (series) => [
        inEventTimeOrder({
          onSample: (ts) => seen.push([series.series, ts]),
          onWatermark: () => {},
          isIdle: () => true,
          nextDue: () => Infinity,
        }),
      ],
    })
    run(p, [
      { kind: 'batch', seq: 1, samples: [sample(64_000, 1), sample(61_000, 1, 'cpu_usage')] },
      { kind: 'batch', seq: 2, samples: [sample(62_000, 1), sample(63_000, 1)] },
    ])
    expect(seen).toEqual([])
    run(p, [{ kind: 'watermark', seq: 3, watermark: 120_000 }])
    expect(seen).toEqual([
      ['load_time', 62_000],
      ['load_time', 63_000],
      ['load_time', 64_000],
      ['cpu_usage', 61_000],
    ])
  })
})

/** A log like a partition's: batches with jitter (some late), and watermark ticks now and then. */
function syntheticLog(seed: number): LogEntry[] {
  const batches = syntheticBatches({ seed, tenants: 3, seriesPerTenant: 40, batches: 400, samplesPerBatch: 50, startTs: 1_700_000_000_000, stepMs: 2_000, jitterMs: 7_000 })
  const random = seededRandom(seed + 1)
  const log: LogEntry[] = []
  let seq = 1
  for (const [i, samples] of batches.entries()) {
    log.push({ kind: 'batch', seq: seq++, samples })
    if (random() < 0.02) log.push({ kind: 'watermark', seq: seq++, watermark: 1_700_000_000_000 + i * 2_000 + 30_000 })
  }
  // Idle ticks at the end close everything.
  log.push({ kind: 'watermark', seq, watermark: 1_800_000_000_000 })
  return log
}

function byId(outputs: StreamOutput[]): Map<string, StreamOutput> {
  const map = new Map<string, StreamOutput>()
  for (const o of outputs) {
    expect(map.has(o.id), `${o.id} emitted twice in one run`).toBe(false)
    map.set(o.id, o)
  }
  return map
}

describe('determinism', () => {
  const log = syntheticLog(42)
  const whole = new PartitionPipeline(7, settings)
  const reference = byId(run(whole, log))

  it('the reference run emits windows and counts late samples', () => {
    expect(reference.size).toBeGreaterThan(1000)
    expect(whole.late).toBeGreaterThan(0)
  })

  for (const [checkpointAt, diesAt] of [
    [1, 1],
    [50, 50],
    [120, 190],
    [200, 260],
    [300, 301],
    [407, 408],
  ] as const) {
    it(`rebuilt by replay from a checkpoint after message ${checkpointAt}, owner dead after ${diesAt}: same outputs, none lost`, () => {
      // The first owner applies the log, checkpoints, goes on a little, and dies.
      const first = new PartitionPipeline(7, settings)
      const emittedBeforeDeath: StreamOutput[] = []
      let checkpoint: PartitionCheckpoint | undefined
      for (const e of log) {
        if (e.seq > diesAt) break
        first.apply(e, emittedBeforeDeath)
        if (e.seq === checkpointAt) checkpoint = first.checkpoint()
      }
      expect(checkpoint).toBeDefined()
      const cp = checkpoint as PartitionCheckpoint
      expect(cp.resume.seq).toBeLessThanOrEqual(cp.seq + 1)
      // The next owner replays from the checkpoint's resume point, emitting only after the checkpoint.
      const second = new PartitionPipeline(7, settings, { resume: cp.resume, suppressThroughSeq: cp.seq })
      const emittedAfter = run(
        second,
        log.filter((e) => e.seq >= cp.resume.seq)
      )
      expect(second.late).toBe(whole.late)
      expect(second.watermark).toBe(whole.watermark)
      // A msgID-deduplicating downstream keeps the first of each id; every copy must be identical anyway.
      const union = new Map<string, StreamOutput>()
      for (const o of [...emittedBeforeDeath, ...emittedAfter]) {
        const earlier = union.get(o.id)
        if (earlier) expect(o).toEqual(earlier)
        else union.set(o.id, o)
      }
      expect(union.size).toBe(reference.size)
      for (const [id, o] of reference) expect(union.get(id), id).toEqual(o)
    })
  }

  it('a checkpoint taken while still replaying keeps the earlier suppression (never moves back)', () => {
    const first = new PartitionPipeline(7, settings)
    const out: StreamOutput[] = []
    for (const e of log.slice(0, 300)) first.apply(e, out)
    const cp = first.checkpoint()
    const second = new PartitionPipeline(7, settings, { resume: cp.resume, suppressThroughSeq: cp.seq })
    second.apply(log.find((e) => e.seq === cp.resume.seq) as LogEntry, [])
    expect(second.checkpoint().seq).toBe(cp.seq)
  })
})
