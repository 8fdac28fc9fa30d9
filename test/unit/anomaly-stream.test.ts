// Anomaly scores in the partition pipeline (engine/anomaly/stream-anomaly.ts),
// pure: each on-time point scored once, in event-time order, exactly as a lone
// scorer fed the series would score it; the score series carries metric=<the
// scored metric>; rules on the score series fire on an injected anomaly and
// not on steady data; and a log interrupted and rebuilt from a snapshot plus a
// replay gives the same scores and trigger events as one applied in one piece.
import { describe, expect, it } from 'vitest'
import { ANOMALY_STATE_NAME, SeriesScores, withConfig, type AnomalyOutput, type StreamEngineConfig } from '../../engine/anomaly/stream-anomaly.ts'
import { createScorer, scoreBatches, scoreBatchesId, SNAPSHOT_STATE_BYTES, STATE_BYTES } from '../../engine/anomaly/index.ts'
import { decodeBatch } from '../../engine/model/beacon-batch.ts'
import type { Sample } from '../../engine/model/sample.ts'
import type { StreamRulesConfig, TriggerOutput } from '../../engine/rules/index.ts'
import { decodeSnapshot } from '../../engine/stream/partition-snapshot.ts'
import type { StreamOutput } from '../../engine/stream/series-evaluator.ts'
import { DEFAULT_WINDOWS, type PipelineSettings } from '../../engine/stream/stream-config.ts'
import { PartitionPipeline, type LogEntry, type PartitionCheckpoint } from '../../engine/stream/window-pipeline.ts'
import { seededRandom, syntheticBatches } from '../helpers/stream-input.ts'

const settings: PipelineSettings = { windows: DEFAULT_WINDOWS.map((w) => ({ ...w })), allowedLatenessMs: 5_000, quantileAccuracy: 0.01 }
// On the 15 s evaluation grid.
const T0 = 1_700_000_010_000
const STEP = 15_000

function run(pipeline: PartitionPipeline, entries: LogEntry[]): StreamOutput[] {
  const out: StreamOutput[] = []
  for (const e of entries) pipeline.apply(e, out)
  return out
}

const scoresOf = (outputs: StreamOutput[]): AnomalyOutput[] => outputs.filter((o): o is AnomalyOutput => o.kind === 'anomaly')
const triggersOf = (outputs: StreamOutput[]): TriggerOutput[] => outputs.filter((o): o is TriggerOutput => o.kind === 'trigger')

function rulesConfig(expr: string): StreamRulesConfig {
  return {
    version: expr,
    base: { groups: [{ name: 'anomalies', interval: '15s', rules: [{ alert: 'CpuAnomaly', expr, for: '2m', labels: { severity: 'page' } }] }] },
    tenants: {},
  }
}

/** cpu_usage of one host: steady 50 ± 2, then from `jumpAt` on at `level` ± 2; 30 s per message, two points each. */
function cpuLog(points: number, jumpAt: number, level: number, host = 'web-1'): LogEntry[] {
  const random = seededRandom(7)
  const log: LogEntry[] = []
  let batch: Sample[] = []
  for (let i = 0; i < points; i++) {
    const v = (i < jumpAt ? 50 : level) + (random() - 0.5) * 4
    batch.push(['t_a', 'cpu_usage', T0 + i * STEP, v, { host }, T0 + i * STEP])
    if (batch.length === 2) {
      log.push({ kind: 'batch', seq: log.length + 1, samples: batch })
      batch = []
    }
  }
  log.push({ kind: 'watermark', seq: log.length + 1, watermark: T0 + points * STEP + 3_600_000 })
  return log
}

describe('scores beside the windows', () => {
  it('scores every on-time point once, in the order the series’ points arrived, as a lone scorer fed them would', () => {
    // Out of order within the lateness: scored as they come, from the points before them in the log.
    const values = Array.from({ length: 400 }, (_, i) => 10 + Math.sin(i / 5) * 3 + (i === 350 ? 40 : 0))
    const order: number[] = []
    for (let i = 0; i < values.length; i += 4) order.push(...[i + 1, i, i + 3, i + 2].filter((k) => k < values.length))
    const samples: Sample[] = order.map((k) => ['t_a', 'load_time', T0 + k * 1000, values[k] as number, { page: '/' }, 0])
    const log: LogEntry[] = []
    for (let i = 0; i < samples.length; i += 4) log.push({ kind: 'batch', seq: log.length + 1, samples: samples.slice(i, i + 4) })
    log.push({ kind: 'watermark', seq: log.length + 1, watermark: T0 + 10_000_000 })
    const p = new PartitionPipeline(0, settings, { evaluators: withConfig({ anomaly: true } satisfies StreamEngineConfig) })
    const outputs = scoresOf(run(p, log))
    expect(outputs.flatMap((o) => [...o.ts])).toEqual(order.map((k) => T0 + k * 1000))
    const lone = createScorer()
    const scores = outputs.flatMap((o) => [...o.scores])
    expect(scores).toEqual(order.map((k) => lone.score(T0 + k * 1000, values[k] as number)))
    expect(Math.max(...scores)).toBeGreaterThan(0.5)
    for (const o of outputs) {
      expect(o.tags).toEqual({ page: '/', metric: 'load_time' })
      expect(o.id).toBe(`anomaly|${o.watermark}|t_a|load_time{page=/}`)
    }
    // One output per series per broadcast: the scores leave at pane boundaries, not one message each.
    expect(outputs.length).toBeLessThan(20)
  })

  it('never scores a score series, and without anomaly: false scores nothing', () => {
    const score: Sample = ['t_a', 'anomaly_score', T0, 0.7, { metric: 'cpu_usage' }, T0]
    const plain: Sample = ['t_a', 'cpu_usage', T0, 70, null, T0]
    const log: LogEntry[] = [{ kind: 'batch', seq: 1, samples: [score, plain] }, { kind: 'watermark', seq: 2, watermark: T0 + 600_000 }]
    const on = scoresOf(run(new PartitionPipeline(0, settings, { evaluators: withConfig({}) }), log))
    expect(on.map((o) => o.tags)).toEqual([{ metric: 'cpu_usage' }])
    expect(scoresOf(run(new PartitionPipeline(0, settings, { evaluators: withConfig({ anomaly: false }) }), log))).toEqual([])
  })

  it('keeps a small, fixed state per series in the snapshot', () => {
    const p = new PartitionPipeline(0, settings, { evaluators: withConfig({}) })
    run(p, cpuLog(200, 1000, 50))
    const snap = decodeSnapshot(p.checkpoint(true).snapshot as Uint8Array)
    const states = [...snap.states.values()]
    expect(states).toHaveLength(1)
    expect(states[0]?.get(ANOMALY_STATE_NAME)?.length).toBe(SNAPSHOT_STATE_BYTES)
    expect(SNAPSHOT_STATE_BYTES).toBe(STATE_BYTES + 8)
  })
})

describe('rules on the score series', () => {
  const rule = 'max_over_time(anomaly_score{metric="cpu_usage"}[5m]) > 0.5'

  it('fire on an injected anomaly, with the scored series in the labels', () => {
    const p = new PartitionPipeline(0, settings, { evaluators: withConfig({ rules: rulesConfig(rule) }), evaluationIntervalMs: STEP })
    const triggers = triggersOf(run(p, cpuLog(700, 600, 95)))
    const firing = triggers.find((t) => t.event.state === 'firing')
    expect(firing?.event).toMatchObject({ rule: 'CpuAnomaly', labels: { alertname: 'CpuAnomaly', metric: 'cpu_usage', host: 'web-1', severity: 'page' } })
    // Pending at the jump's first score, firing two minutes of evaluations later.
    expect(triggers.find((t) => t.event.state === 'pending')?.event.at).toBe(T0 + 600 * STEP)
    expect(firing?.event.at).toBe(T0 + 600 * STEP + 120_000)
  })

  it('stay quiet on steady data', () => {
    const p = new PartitionPipeline(0, settings, { evaluators: withConfig({ rules: rulesConfig(rule) }), evaluationIntervalMs: STEP })
    const outputs = run(p, cpuLog(700, 10_000, 50))
    expect(triggersOf(outputs)).toEqual([])
    expect(scoresOf(outputs).flatMap((o) => [...o.scores])).toHaveLength(700)
  })

  it('the selector form anomaly_score{metric="cpu_usage"} > 0.9 with for: 2m fires on a sustained burst, not on steady data', () => {
    const strict = 'anomaly_score{metric="cpu_usage"} > 0.9'
    // Points every minute: steady 50 ± 2 for 600, then 20 of a violent swing (±50·4^k), then steady again.
    const burstLog = (burst: boolean): LogEntry[] => {
      const random = seededRandom(11)
      const log: LogEntry[] = []
      for (let i = 0; i < 700; i++) {
        const k = i - 600
        const v = burst && k >= 0 && k < 20 ? (k % 2 ? 1 : -1) * 50 * 4 ** k : 50 + (random() - 0.5) * 4
        log.push({ kind: 'batch', seq: log.length + 1, samples: [['t_a', 'cpu_usage', T0 + i * 60_000, v, { host: 'web-1' }, T0 + i * 60_000]] })
      }
      log.push({ kind: 'watermark', seq: log.length + 1, watermark: T0 + 700 * 60_000 + 3_600_000 })
      return log
    }
    const pipeline = () => new PartitionPipeline(0, settings, { evaluators: withConfig({ rules: rulesConfig(strict) }), evaluationIntervalMs: STEP })
    const triggers = triggersOf(run(pipeline(), burstLog(true)))
    const pending = triggers.find((t) => t.event.state === 'pending')
    const firing = triggers.find((t) => t.event.state === 'firing')
    expect(pending?.event.at).toBeGreaterThanOrEqual(T0 + 600 * 60_000)
    expect(firing?.event).toMatchObject({ rule: 'CpuAnomaly', labels: { metric: 'cpu_usage', host: 'web-1' } })
    expect(firing?.event.at).toBe((pending?.event.at as number) + 120_000)
    expect(triggersOf(run(pipeline(), burstLog(false)))).toEqual([])
  })
})

/** A log of many series, out of order, some late, with ticks: the stream-pipeline determinism test's shape. */
function syntheticLog(seed: number): LogEntry[] {
  const batches = syntheticBatches({ seed, tenants: 2, seriesPerTenant: 30, batches: 500, samplesPerBatch: 40, startTs: T0, stepMs: 2_000, jitterMs: 7_000 })
  const random = seededRandom(seed + 1)
  const log: LogEntry[] = []
  let seq = 1
  for (const [i, samples] of batches.entries()) {
    log.push({ kind: 'batch', seq: seq++, samples })
    if (random() < 0.02) log.push({ kind: 'watermark', seq: seq++, watermark: T0 + i * 2_000 + 60_000 })
  }
  log.push({ kind: 'watermark', seq, watermark: T0 + 100_000_000 })
  return log
}

function union(...runs: StreamOutput[][]): Map<string, StreamOutput> {
  const map = new Map<string, StreamOutput>()
  for (const o of runs.flat()) {
    const earlier = map.get(o.id)
    if (earlier) expect(o, `${o.id} re-emitted differently`).toEqual(earlier)
    else map.set(o.id, o)
  }
  return map
}

function restartCases(name: string, config: StreamEngineConfig, shortReplay: boolean): void {
  describe(`restart: snapshot plus replay, ${name}`, () => {
    const log = syntheticLog(3)
    const reference = union(run(new PartitionPipeline(7, settings, { evaluators: withConfig(config), evaluationIntervalMs: STEP }), log))

    it('the reference run scores (and the rule on the scores decides)', () => {
      expect([...reference.values()].filter((o) => o.kind === 'anomaly').length).toBeGreaterThan(500)
      if (config.rules) expect([...reference.values()].filter((o) => o.kind === 'trigger').length).toBeGreaterThan(0)
    })

    for (const [snapshotAt, checkpointAt, diesAt] of [
      [40, 40, 45],
      [100, 180, 230],
      [260, 261, 400],
      [300, 350, 351],
      [480, 500, 505],
    ] as const) {
      it(`snapshot after ${snapshotAt}, checkpoint after ${checkpointAt}, dead after ${diesAt}: same outputs, none lost`, () => {
        const first = new PartitionPipeline(7, settings, { evaluators: withConfig(config), evaluationIntervalMs: STEP })
        const before: StreamOutput[] = []
        let snapshot: Uint8Array | undefined
        let cp: PartitionCheckpoint | undefined
        for (const e of log) {
          if (e.seq > diesAt) break
          first.apply(e, before)
          if (e.seq === snapshotAt) {
            cp = first.checkpoint(true)
            snapshot = cp.snapshot
          }
          if (e.seq === checkpointAt && checkpointAt !== snapshotAt) cp = first.checkpoint()
        }
        const checkpoint = cp as PartitionCheckpoint
        expect(snapshot).toBeDefined()
        // Without rules on the scores, the replay starts near the checkpoint: the snapshot, not the history, holds the scorers.
        if (shortReplay) {
          // As far back as the windows alone need at the snapshot, no further.
          const windowsOnly = new PartitionPipeline(7, settings, { evaluators: withConfig({ anomaly: false }), evaluationIntervalMs: STEP })
          run(windowsOnly, log.filter((e) => e.seq <= snapshotAt))
          const horizon = windowsOnly.checkpoint().resume.seq
          expect(checkpoint.resume.seq).toBeGreaterThanOrEqual(horizon)
          if (snapshotAt > 200) expect(horizon).toBeGreaterThan(1)
        }
        const second = new PartitionPipeline(7, settings, {
          resume: checkpoint.resume,
          suppressThroughSeq: checkpoint.seq,
          evaluators: withConfig(config),
          evaluationIntervalMs: STEP,
          snapshot: decodeSnapshot(snapshot as Uint8Array),
        })
        const after = run(
          second,
          log.filter((e) => e.seq >= checkpoint.resume.seq)
        )
        const all = union(before, after)
        expect(all.size).toBe(reference.size)
        for (const [id, o] of reference) expect(all.get(id), id).toEqual(o)
      })
    }
  })
}

// Low warm-up so the synthetic series score from early on.
restartCases('scores only', { scorer: { warmup: 20 } }, true)
// A rule on the score series holds state mid-log: its replay reaches back to where that state began, with the scorers as they were then.
restartCases('with a rule on the scores', { scorer: { warmup: 20 }, rules: rulesConfig('max_over_time(anomaly_score{metric="cpu_usage"}[5m]) > 0.3') }, false)

describe('score batches for storage', () => {
  it('are the same bytes for the same outputs in any order, as anomaly_score samples with the scored metric as a tag', () => {
    const a: AnomalyOutput = { id: 'anomaly|60000|t|cpu_usage{host=a}', kind: 'anomaly', tenant: 't', tags: { host: 'a', metric: 'cpu_usage' }, watermark: 60_000, ts: Float64Array.of(1, 2), scores: Float64Array.of(0.1, 0.2) }
    const b: AnomalyOutput = { ...a, id: 'anomaly|60000|t|cpu_usage{host=b}', tags: { host: 'b', metric: 'cpu_usage' }, ts: Float64Array.of(3), scores: Float64Array.of(0.9) }
    const one = scoreBatches([a, b])
    expect(scoreBatches([b, a])).toEqual(one)
    expect(one.flatMap((bytes) => decodeBatch(bytes))).toEqual([
      ['t', 'anomaly_score', 1, 0.1, { host: 'a', metric: 'cpu_usage' }, 60_000],
      ['t', 'anomaly_score', 2, 0.2, { host: 'a', metric: 'cpu_usage' }, 60_000],
      ['t', 'anomaly_score', 3, 0.9, { host: 'b', metric: 'cpu_usage' }, 60_000],
    ])
  })

  it('stay under max_payload however many series a broadcast scores', () => {
    const many: AnomalyOutput[] = Array.from({ length: 3000 }, (_, i) => ({
      id: `anomaly|60000|t|m{k=${i}}`, kind: 'anomaly', tenant: 't', tags: { k: String(i).padStart(200, 'x'), metric: 'm' }, watermark: 60_000, ts: Float64Array.of(1, 2, 3), scores: Float64Array.of(0, 0, 0),
    }))
    const batches = scoreBatches(many)
    expect(batches.length).toBeGreaterThan(1)
    for (const bytes of batches) expect(bytes.length).toBeLessThan(1024 * 1024)
    expect(batches.reduce((n, bytes) => n + decodeBatch(bytes).length, 0)).toBe(9000)
  })
})

describe('SeriesScores', () => {
  it('skips, after a restore, exactly the samples its state holds, and scores the rest as before', () => {
    const series = { partition: 0, tenant: 't', series: 'm', metric: 'm', tags: null }
    const ctx = (seq: number) => ({ seq, watermarkBefore: 0, lateBefore: 0 })
    const feed = (s: SeriesScores, out: StreamOutput[], from: number): void => {
      for (let seq = from; seq <= 30; seq++) {
        s.onSample(seq * 1000, (seq * 37) % 11, ctx(seq))
        if (seq % 10 === 0) s.onWatermark(seq * 1000, true, out)
      }
    }
    const whole: StreamOutput[] = []
    feed(new SeriesScores(series, [], { warmup: 3 }), whole, 1)
    // Snapshot after message 15: the base is the state at the broadcast after message 10.
    const first = new SeriesScores(series, [], { warmup: 3 })
    const before: StreamOutput[] = []
    for (let seq = 1; seq <= 15; seq++) {
      first.onSample(seq * 1000, (seq * 37) % 11, ctx(seq))
      if (seq % 10 === 0) first.onWatermark(seq * 1000, true, before)
    }
    const bytes = first.snapshot()
    expect(first.oldestContext()?.seq).toBe(11)
    const again = new SeriesScores(series, [], { warmup: 3 }, { bytes, throughSeq: 15 })
    const after: StreamOutput[] = []
    // The replay starts before the base (as a window's replay point may): what the base holds is skipped.
    feed(again, after, 5)
    expect(scoresOf([...before, ...after])).toEqual(scoresOf(whole))
  })
})

describe('scoring spread over the next messages (as the worker threads run it)', () => {
  const log = syntheticLog(5)
  const withoutGroup = ({ group: _group, ...o }: AnomalyOutput): Omit<AnomalyOutput, 'group'> => o
  const comparable = (o: StreamOutput): unknown => (o.kind === 'anomaly' ? withoutGroup(o as AnomalyOutput) : o)

  /**
   * Applies entries as the worker does: one task a message, then the work put off with a budget (random: none,
   * so one group, or all of it), everything before a checkpoint. Answers the outputs task by task.
   */
  function runSpread(pipeline: PartitionPipeline, entries: LogEntry[], seed: number, checkpointAt?: (seq: number) => boolean): { tasks: StreamOutput[][]; checkpoints: Map<number, PartitionCheckpoint> } {
    const random = seededRandom(seed)
    const tasks: StreamOutput[][] = []
    const checkpoints = new Map<number, PartitionCheckpoint>()
    for (const e of entries) {
      const out: StreamOutput[] = []
      pipeline.apply(e, out)
      const checkpoint = checkpointAt?.(e.seq) ?? false
      pipeline.finishLater(out, checkpoint || random() < 0.1 ? Infinity : 0)
      if (checkpoint) checkpoints.set(e.seq, pipeline.checkpoint(true))
      tasks.push(out)
    }
    // What the last messages put off: the worker's next checkpoint finishes it.
    const rest: StreamOutput[] = []
    pipeline.finishLater(rest, Infinity)
    tasks.push(rest)
    return { tasks, checkpoints }
  }

  for (const [name, config] of [
    ['scores only', { scorer: { warmup: 20 } }],
    ['with a rule on the scores', { scorer: { warmup: 20 }, rules: rulesConfig('max_over_time(anomaly_score{metric="cpu_usage"}[5m]) > 0.3') }],
  ] as const) {
    it(`${name}: the same outputs as scoring at the broadcast, a group's outputs of a broadcast in one task`, () => {
      const reference = run(new PartitionPipeline(7, settings, { evaluators: withConfig(config), evaluationIntervalMs: STEP }), log)
      const { tasks } = runSpread(new PartitionPipeline(7, settings, { evaluators: withConfig(config), evaluationIntervalMs: STEP, spread: true }), log, 11)
      const spread = tasks.flat()
      expect(spread.map((o) => o.id).sort()).toEqual(reference.map((o) => o.id).sort())
      const byId = new Map(reference.map((o) => [o.id, o]))
      for (const o of spread) expect(comparable(o), o.id).toEqual(comparable(byId.get(o.id) as StreamOutput))
      // Put off only where no rule reads the scores (here: the rule reads cpu_usage's); then in groups, each group
      // of a broadcast within one task.
      const readByRule = (o: AnomalyOutput): boolean => 'rules' in config && o.tags.metric === 'cpu_usage'
      for (const o of scoresOf(spread)) expect(o.group === undefined, o.id).toBe(readByRule(o))
      if ('rules' in config) expect(scoresOf(spread).some(readByRule)).toBe(true)
      const taskOf = new Map<string, number>()
      for (const [k, task] of tasks.entries()) {
        for (const o of scoresOf(task)) {
          const key = scoreBatchesId(7, o)
          expect(taskOf.get(key) ?? k, key).toBe(k)
          taskOf.set(key, k)
        }
      }
      // Spread for real: some broadcast's groups left in more than one task.
      if (!config.rules) expect(new Set([...taskOf.keys()].map((key) => key.replace(/-g\d+$/, ''))).size).toBeLessThan(taskOf.size)
    })
  }

  it('a restart from a snapshot gives the same outputs and the same score batches as the run it replaces', () => {
    const config: StreamEngineConfig = { scorer: { warmup: 20 } }
    const make = (start: Partial<ConstructorParameters<typeof PartitionPipeline>[2]> = {}): PartitionPipeline =>
      new PartitionPipeline(7, settings, { evaluators: withConfig(config), evaluationIntervalMs: STEP, spread: true, ...start })
    const whole = runSpread(make(), log, 3).tasks.flat()
    for (const [checkpointAt, diesAt] of [
      [120, 170],
      [300, 301],
    ] as const) {
      const first = runSpread(make(), log.filter((e) => e.seq <= diesAt), 4, (seq) => seq === checkpointAt)
      const cp = first.checkpoints.get(checkpointAt) as PartitionCheckpoint
      const second = runSpread(
        make({ resume: cp.resume, suppressThroughSeq: cp.seq, snapshot: decodeSnapshot(cp.snapshot as Uint8Array) }),
        log.filter((e) => e.seq >= cp.resume.seq),
        5
      )
      const all = union(first.tasks.flat(), second.tasks.flat())
      expect([...all.keys()].sort()).toEqual(whole.map((o) => o.id).sort())
      // A batch set emitted by both (the replay re-decides what the dead run emitted after its checkpoint) holds the same outputs.
      const sets = (outputs: StreamOutput[]): Map<string, string[]> => {
        const m = new Map<string, string[]>()
        for (const o of scoresOf(outputs)) m.set(scoreBatchesId(7, o), [...(m.get(scoreBatchesId(7, o)) ?? []), o.id].sort())
        return m
      }
      const reference = sets(whole)
      for (const run of [first.tasks.flat(), second.tasks.flat()]) for (const [key, ids] of sets(run)) expect(ids, key).toEqual(reference.get(key))
    }
  })

  it('refuses a checkpoint while work is put off', () => {
    const p = new PartitionPipeline(7, settings, { evaluators: withConfig({ scorer: { warmup: 20 } }), evaluationIntervalMs: STEP, spread: true })
    const out: StreamOutput[] = []
    for (const e of log.slice(0, 200)) p.apply(e, out)
    expect(p.hasLaterWork).toBe(true)
    expect(() => p.checkpoint()).toThrow(/finishLater/)
    p.finishLater(out, Infinity)
    expect(p.hasLaterWork).toBe(false)
    expect(p.checkpoint().seq).toBe(200)
  })
})
