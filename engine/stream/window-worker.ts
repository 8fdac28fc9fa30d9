// The piscina task handler of a window worker thread: one PartitionPipeline per
// partition pinned to this thread, fed the partition's log in order. Batches
// arrive as transferred msgpack bytes and are decoded here, off the main thread.
// Loaded through window-worker.mjs, which registers tsx first (hooks registered
// in the main thread do not reach worker threads on Node 20).
import { threadId, workerData } from 'node:worker_threads'
import { pathToFileURL } from 'node:url'
import { decodeBatch } from '../model/beacon-batch.ts'
import type { Sample } from '../model/sample.ts'
import type { SeriesEvaluatorFactory, StreamOutput } from './series-evaluator.ts'
import { decodeSnapshot } from './partition-snapshot.ts'
import { PartitionPipeline } from './window-pipeline.ts'
import type { OpenTask, WorkerReply, WorkerTask } from './worker-protocol.ts'

type PartitionWork = Exclude<WorkerTask, { op: 'probe' }>

interface Waiting {
  task: PartitionWork
  resolve(reply: WorkerReply): void
  reject(err: unknown): void
  /** When it reached the thread (performance.now()). */
  arrived: number
  /** Its size, for the lightest-first order (runNext). */
  weight: number
}

interface Slot {
  generation: number
  /** The n of the next task to apply. */
  expected: number
  waiting: Map<number, Waiting>
  /** A task of this partition is running (an open may await its evaluator module): the next one waits for it. */
  running: boolean
  pipeline: PartitionPipeline | undefined
  /** The evaluator module of the open task: config markers are handed to its withConfig. */
  evaluatorModule?: string
}

const slots = new Map<number, Slot>()
/**
 * An evaluator module: a default SeriesEvaluatorFactory, or `withConfig(config)` making one from what the open
 * task carries (the rules in effect), and optionally `counters()` (cumulative, per thread) for the metrics.
 */
interface EvaluatorModule {
  default?: SeriesEvaluatorFactory
  withConfig?: (config: unknown) => SeriesEvaluatorFactory
  counters?: () => Record<string, number>
  /** A task's outputs as they leave the thread (the anomaly module packs its scores into batches here). */
  packOutputs?: (partition: number, outputs: StreamOutput[]) => StreamOutput[]
}

const evaluatorModules = new Map<string, Promise<EvaluatorModule>>()
let countersOf: (() => Record<string, number>) | undefined
let packOf: EvaluatorModule['packOutputs']

/** A task's outputs as they leave the thread: the evaluator module's packOutputs, if it has one. */
function leaving(partition: number, outputs: StreamOutput[]): StreamOutput[] {
  return packOf?.(partition, outputs) ?? outputs
}

function partitionsHere(): number[] {
  return [...slots].filter(([, s]) => s.pipeline !== undefined).map(([p]) => p)
}

function reply(pipeline: PartitionPipeline | undefined, fields: Partial<WorkerReply> = {}): WorkerReply {
  return {
    threadId,
    stale: false,
    outputs: [],
    watermark: pipeline?.watermark ?? -Infinity,
    late: pipeline?.late ?? 0,
    samples: 0,
    undecodable: 0,
    lastSeq: pipeline?.lastSeq ?? 0,
    nextDue: pipeline?.nextDue() ?? Infinity,
    series: pipeline?.seriesCount ?? 0,
    partitions: partitionsHere(),
    evaluatorCounters: countersOf?.(),
    ...fields,
  }
}

function staleReply(): WorkerReply {
  return reply(undefined, { stale: true })
}

function loadModule(module: string): Promise<EvaluatorModule> {
  let loading = evaluatorModules.get(module)
  if (!loading) {
    const url = module.startsWith('file:') ? module : pathToFileURL(module).href
    loading = import(url) as Promise<EvaluatorModule>
    evaluatorModules.set(module, loading)
  }
  return loading
}

async function loadEvaluators(module: string | undefined, config: unknown): Promise<SeriesEvaluatorFactory | undefined> {
  if (!module) return undefined
  const m = await loadModule(module)
  countersOf ??= m.counters
  packOf ??= m.packOutputs
  if (m.withConfig && config !== undefined) return m.withConfig(config)
  if (!m.default) throw new Error(`evaluator module ${module} has no default export and no config was given`)
  return m.default
}

async function open(slot: Slot, task: OpenTask): Promise<WorkerReply> {
  slot.pipeline?.dispose()
  slot.evaluatorModule = task.evaluatorModule
  const evaluators = await loadEvaluators(task.evaluatorModule, task.evaluatorConfig)
  slot.pipeline = new PartitionPipeline(task.partition, task.settings, {
    resume: task.resume,
    suppressThroughSeq: task.suppressThroughSeq,
    evaluators,
    configVersion: task.evaluatorConfigVersion,
    evaluationIntervalMs: task.evaluationIntervalMs,
    snapshot: task.snapshot && decodeSnapshot(task.snapshot),
    spread: true,
  })
  return reply(slot.pipeline)
}

const NO_SAMPLES: Sample[] = []
/**
 * Time per task for work the partition's broadcasts put off (PartitionPipeline.finishLater), beyond the task's
 * own: small next to the burst it spreads (a second of 100k samples/s scored at once held a thread for 100-150
 * ms, every other partition's tasks waiting behind it), enough that a busy partition finishes well within a second.
 */
const LATER_BUDGET_MS = 1

async function run(slot: Slot, task: PartitionWork): Promise<WorkerReply> {
  if (task.op === 'open') return open(slot, task)
  const pipeline = slot.pipeline
  if (!pipeline) throw new Error(`partition ${task.partition} was not opened in thread ${threadId}`)
  switch (task.op) {
    case 'apply': {
      const outputs: StreamOutput[] = []
      const before = pipeline.onTime
      let undecodable = 0
      for (const m of task.messages) {
        if ('data' in m) {
          let samples: Sample[]
          try {
            samples = decodeBatch(m.data)
          } catch {
            // Not a batch Tidemark wrote: storage dead-letters it; here it is an empty message, the same on every replay.
            undecodable++
            samples = NO_SAMPLES
          }
          pipeline.apply({ kind: 'batch', seq: m.seq, samples }, outputs)
        } else if ('configVersion' in m) {
          // A pipeline opened without a configuration (windows only, or a module's default) takes no marker: an empty message.
          if (m.config === undefined) pipeline.apply({ kind: 'watermark', seq: m.seq, watermark: -Infinity }, outputs)
          else {
            const evaluators = await loadEvaluators(slot.evaluatorModule, m.config)
            pipeline.apply({ kind: 'config', seq: m.seq, version: m.configVersion, evaluators, evaluationIntervalMs: m.evaluationIntervalMs }, outputs)
          }
        } else {
          pipeline.apply({ kind: 'watermark', seq: m.seq, watermark: m.watermark }, outputs)
        }
      }
      // Work a broadcast put off (anomaly scoring), a little per task. A checkpoint waits until it is all done
      // (the reader asks again with the next task), or it would bring the burst back: checkpoints only bound a replay.
      pipeline.finishLater(outputs, LATER_BUDGET_MS)
      return reply(pipeline, { outputs: leaving(task.partition, outputs), samples: pipeline.onTime - before, undecodable, checkpoint: task.checkpoint && !pipeline.hasLaterWork ? pipeline.checkpoint(task.snapshot) : undefined })
    }
    case 'checkpoint': {
      const outputs: StreamOutput[] = []
      pipeline.finishLater(outputs, Infinity)
      return reply(pipeline, { outputs: leaving(task.partition, outputs), checkpoint: pipeline.checkpoint(task.snapshot) })
    }
    case 'close': {
      pipeline.dispose()
      slot.pipeline = undefined
      slots.delete(task.partition)
      return reply(undefined)
    }
  }
}

/**
 * A task waiting this long runs before any lighter one (the earliest such first): lightest-first must not starve
 * a partition whose batches are big. Long enough for a thread to serve a burst of its partitions' tasks (every
 * partition crossing the evaluation grid in the same second, each broadcast a few milliseconds) lightest first.
 */
const MAX_WAIT_MS = (workerData as { maxTaskWaitMs?: number } | null | undefined)?.maxTaskWaitMs ?? 100
/** A message's weight beyond its bytes (a tick or marker has none, but still costs a broadcast's bookkeeping). */
const MESSAGE_WEIGHT = 64

/** About how much work a task is, before running it: the bytes of its batches. */
function weightOf(task: PartitionWork): number {
  if (task.op !== 'apply') return 0
  let weight = 0
  for (const m of task.messages) weight += 'data' in m ? m.data.byteLength + MESSAGE_WEIGHT : MESSAGE_WEIGHT
  return weight
}

/** Whether ready task a runs before b: an overdue one first (the earliest of them), else the lighter (then the earlier). */
function goesFirst(a: Waiting, b: Waiting, now: number): boolean {
  const aOverdue = now - a.arrived >= MAX_WAIT_MS
  const bOverdue = now - b.arrived >= MAX_WAIT_MS
  if (aOverdue !== bOverdue) return aOverdue
  if (aOverdue || a.weight === b.weight) return a.arrived < b.arrived
  return a.weight < b.weight
}

let scheduled = false

function schedule(): void {
  if (scheduled) return
  scheduled = true
  setImmediate(runNext)
}

/**
 * Runs one task, then yields to the event loop (tasks that arrived meanwhile are then among the candidates) and
 * runs the next. Each partition's tasks run strictly in n order; across partitions the lightest ready task goes
 * first, so a partition's small task (a beacon completing a condition) does not wait behind the whole queue of
 * other partitions' batches: in arrival order it did, up to hundreds of milliseconds when every partition's
 * backlog reached the thread at once (the triggers bench's slow rounds).
 */
async function runNext(): Promise<void> {
  scheduled = false
  const now = performance.now()
  let slot: Slot | undefined
  let next: Waiting | undefined
  for (const s of slots.values()) {
    const w = s.running ? undefined : s.waiting.get(s.expected)
    if (w !== undefined && (next === undefined || goesFirst(w, next, now))) {
      slot = s
      next = w
    }
  }
  if (slot === undefined || next === undefined) return
  slot.waiting.delete(slot.expected)
  slot.expected++
  slot.running = true
  // The next pick comes after this task and an event-loop turn (or, if this one awaits, meanwhile).
  schedule()
  try {
    next.resolve(await run(slot, next.task))
  } catch (err) {
    next.reject(err)
  } finally {
    slot.running = false
    if (slot.waiting.has(slot.expected)) schedule()
  }
}

/** Drops an older generation: its waiting tasks are answered stale, its state is gone. */
function retire(slot: Slot): void {
  for (const w of slot.waiting.values()) w.resolve(staleReply())
  slot.waiting.clear()
  slot.pipeline?.dispose()
  slot.pipeline = undefined
}

export default function handle(task: WorkerTask): WorkerReply | Promise<WorkerReply> {
  if (task.op === 'probe') return reply(undefined)
  let slot = slots.get(task.partition)
  if (slot !== undefined && task.generation < slot.generation) return staleReply()
  if (slot === undefined || task.generation > slot.generation) {
    if (slot) retire(slot)
    slot = { generation: task.generation, expected: 0, waiting: new Map(), running: false, pipeline: undefined }
    slots.set(task.partition, slot)
  }
  const s = slot
  return new Promise<WorkerReply>((resolve, reject) => {
    s.waiting.set(task.n, { task, resolve, reject, arrived: performance.now(), weight: weightOf(task) })
    schedule()
  })
}
