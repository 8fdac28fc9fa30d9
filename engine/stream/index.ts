// The stream engine's door: what the `tidemark engine` role, the storage
// consumer and the rule evaluator need. docs/stream.md explains the parts.
export { StreamRuntime, type StreamRuntimeOptions, type StreamRuntimeStats } from './stream-runtime.ts'
export {
  DEFAULT_STREAM_SETTINGS,
  DEFAULT_WINDOWS,
  loadStreamSettings,
  parseWindows,
  validateStreamSettings,
  type StreamSettings,
  type WindowSpec,
} from './stream-config.ts'
export {
  ensureStreamLayout,
  EPOCH_HEADER,
  KIND_HEADER,
  PARTITION_LEASES_BUCKET,
  STREAM_CHECKPOINTS_BUCKET,
  WATERMARK_KIND,
  CONFIG_KIND,
  WINDOWS_STREAM,
  WINDOWS_SUBJECTS,
  windowsSubject,
} from './stream-layout.ts'
export { isWatermarkTick } from './watermark-ticks.ts'
export { isControlMessage } from './config-markers.ts'
export { JetStreamOutputSink, type OutputSink } from './output-sink.ts'
export { registerStreamMetrics } from './stream-metrics.ts'
export type { WindowResult } from './windows.ts'
export {
  inEventTimeOrder,
  type MessageContext,
  type OrderedSampleEvaluator,
  type SeriesEvaluator,
  type SeriesEvaluatorFactory,
  type SeriesIdentity,
  type StreamOutput,
} from './series-evaluator.ts'
export type { PartitionStats } from './partition-reader.ts'
