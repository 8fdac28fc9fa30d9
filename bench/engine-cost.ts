// What the anomaly scorers cost a worker: one partition's pipeline (decode,
// windows, the default rules) with and without a scorer per series, each run
// in a fresh worker thread of its own, as the engine's are. One thread running
// both variants one after the other measured the second about twice as slow
// whichever it was (its call sites had already seen the other variant's
// shapes), so each variant gets its own thread and JIT; the variants alternate
// and the best run of each counts (the machine is shared: load moves figures).
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { decodeBatch } from '../engine/model/beacon-batch.ts'
import { scoringMs, withConfig as withScores } from '../engine/anomaly/stream-anomaly.ts'
import { DEFAULT_RULES } from '../engine/rules/default-rules.ts'
import type { StreamRulesConfig } from '../engine/rules/stream-rules.ts'
import type { StreamOutput } from '../engine/stream/series-evaluator.ts'
import { DEFAULT_STREAM_SETTINGS, pipelineSettings } from '../engine/stream/stream-config.ts'
import { PartitionPipeline } from '../engine/stream/window-pipeline.ts'
import { engineBenchBatches } from './engine-data.ts'

export interface CostJob {
  scores: boolean
  samples: number
  series: number
  batch: number
  runs: number
}

export interface CostRun {
  /** Best run: decode + windows + rules (+ scorers), ms. */
  ms: number
  /** Of ms, the time inside the scorers (their bursts at each broadcast). */
  scoringMs: number
  outputs: number
  /** One snapshot of every series' scorer, after the best run's data. */
  snapshotMs: number
  snapshotBytes: number
}

/** In a worker thread: the job's pipeline over the fixed data, `runs` times. */
function runJob(job: CostJob): CostRun {
  const data = engineBenchBatches(job.samples, job.series, job.batch)
  const rules: StreamRulesConfig = { version: 'bench', base: DEFAULT_RULES, tenants: {} }
  const evaluators = withScores({ rules, anomaly: job.scores })
  let best: CostRun | undefined
  for (let r = 0; r < job.runs; r++) {
    const pipeline = new PartitionPipeline(0, pipelineSettings(DEFAULT_STREAM_SETTINGS), { evaluators })
    // As in a worker, a task's outputs leave with its reply: none piles up over the run.
    let outputs = 0
    const out: StreamOutput[] = []
    const started = performance.now()
    const scoringBefore = scoringMs()
    data.forEach((d, seq) => {
      pipeline.apply({ kind: 'batch', seq: seq + 1, samples: decodeBatch(d) }, out)
      outputs += out.length
      out.length = 0
    })
    const ms = performance.now() - started
    const scoring = scoringMs() - scoringBefore
    const snapStarted = performance.now()
    const snapshot = pipeline.checkpoint(true).snapshot
    const run = { ms, scoringMs: scoring, outputs, snapshotMs: performance.now() - snapStarted, snapshotBytes: snapshot?.length ?? 0 }
    if (!best || run.ms < best.ms) best = run
  }
  return best as CostRun
}

function inWorker(job: CostJob): Promise<CostRun> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./engine-cost-worker.mjs', import.meta.url), { workerData: job })
    worker.once('message', resolve)
    worker.once('error', reject)
  })
}

export interface ScorerCost {
  withoutPerSec: number
  withPerSec: number
  /** Extra time per sample the scorers add (0.2 = 20 % more): best run with against best run without. */
  cost: number
  /** The same from each round's pair of threads (run back to back), the median over rounds: less at the mercy of one lucky run. */
  costMedianOfRounds: number
  rounds: number
  /**
   * Within the runs with scorers, the share of the time spent scoring, median over runs: measured inside one
   * run, so the machine's load moves it far less than the with/without comparison of separate runs. The
   * per-sample hand-over (two pushes) is outside it.
   */
  scoringShare: number
  snapshot: { ms: number; bytes: number; series: number }
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((x, y) => x - y)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

/** Alternates fresh threads with and without scorers, `rounds` of each. */
export async function measureScorerCost(o: { samples: number; series: number; batch: number; rounds?: number; runs?: number }): Promise<ScorerCost> {
  const base = { samples: o.samples, series: o.series, batch: o.batch, runs: o.runs ?? 3 }
  const without: CostRun[] = []
  const withScores: CostRun[] = []
  for (let r = 0; r < (o.rounds ?? 5); r++) {
    without.push(await inWorker({ ...base, scores: false }))
    withScores.push(await inWorker({ ...base, scores: true }))
  }
  const bestOf = (runs: CostRun[]): CostRun => runs.reduce((a, b) => (b.ms < a.ms ? b : a))
  const a = bestOf(without)
  const b = bestOf(withScores)
  return {
    withoutPerSec: Math.round(o.samples / (a.ms / 1000)),
    withPerSec: Math.round(o.samples / (b.ms / 1000)),
    cost: Number((b.ms / a.ms - 1).toFixed(3)),
    costMedianOfRounds: Number((median(withScores.map((r, i) => r.ms / (without[i] as CostRun).ms - 1))).toFixed(3)),
    rounds: withScores.length,
    scoringShare: Number(median(withScores.map((r) => r.scoringMs / r.ms)).toFixed(3)),
    snapshot: { ms: Number(b.snapshotMs.toFixed(2)), bytes: b.snapshotBytes, series: o.series },
  }
}

if (!isMainThread && parentPort && (workerData as CostJob | undefined)?.samples) parentPort.postMessage(runJob(workerData as CostJob))
