// What the main thread and a window worker say to each other, one piscina task
// at a time. Tasks of one partition carry (generation, n): the worker applies
// them strictly in n order within the newest generation it has seen, whatever
// order the thread happens to run them in; a task of an older generation is
// answered stale and changes nothing.
import type { StreamOutput } from './series-evaluator.ts'
import type { PipelineSettings } from './stream-config.ts'
import type { PartitionCheckpoint, ResumePoint } from './window-pipeline.ts'

/**
 * One log message: a beacon batch (msgpack bytes, transferred, decoded in the worker), a watermark tick, or a
 * config marker with the configuration it names (resolved by the main thread; handed to the module's withConfig).
 */
export type WireMessage =
  | { seq: number; data: Uint8Array }
  | { seq: number; watermark: number }
  | { seq: number; configVersion: string; config: unknown; evaluationIntervalMs?: number }

interface PartitionTask {
  partition: number
  generation: number
  /** 0 for open, then 1, 2, … within the generation. */
  n: number
}

export interface OpenTask extends PartitionTask {
  op: 'open'
  settings: PipelineSettings
  resume?: ResumePoint
  suppressThroughSeq?: number
  /** Module whose default export is a SeriesEvaluatorFactory (rules beside the windows); loaded once per worker. */
  evaluatorModule?: string
  /**
   * Handed to the module's `withConfig` export (the rules in effect for this generation), structured-cloned.
   * Fixed for the whole generation, so a replay under the same config gives the same outputs.
   */
  evaluatorConfig?: unknown
  /** The version of evaluatorConfig: the one in effect at the resume point (a checkpoint's resume.config). */
  evaluatorConfigVersion?: string
  evaluationIntervalMs?: number
  /** The partition snapshot the checkpoint refers to (partition-snapshot.ts), transferred. */
  snapshot?: Uint8Array
}

export interface ApplyTask extends PartitionTask {
  op: 'apply'
  messages: WireMessage[]
  /** Reply with a checkpoint taken after these messages. */
  checkpoint: boolean
  /** With the checkpoint, a snapshot of the evaluators' states. */
  snapshot?: boolean
}

export interface CheckpointTask extends PartitionTask {
  op: 'checkpoint'
  snapshot?: boolean
}

export interface CloseTask extends PartitionTask {
  op: 'close'
}

/** Answers the thread's id; used to make the pool grow and to see where partitions live. */
export interface ProbeTask {
  op: 'probe'
}

export type WorkerTask = OpenTask | ApplyTask | CheckpointTask | CloseTask | ProbeTask

export interface WorkerReply {
  threadId: number
  /** The task belonged to a generation this worker has moved past: nothing was applied. */
  stale: boolean
  outputs: StreamOutput[]
  watermark: number
  late: number
  /** On-time samples applied by this task. */
  samples: number
  /** Messages whose batch could not be decoded (applied as empty batches; storage dead-letters them). */
  undecodable: number
  lastSeq: number
  nextDue: number
  series: number
  checkpoint?: PartitionCheckpoint
  /** Partitions this thread holds. */
  partitions: number[]
  /** Counters the evaluator module reports (its `counters` export), read after the task: rule evaluations, transitions. */
  evaluatorCounters?: Record<string, number>
}
