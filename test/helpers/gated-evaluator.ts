// An evaluator module for the stream engine's worker threads whose open can be
// held: withConfig(config) blocks its thread while the file config.gate names
// exists, as a slow open does (a thread loading the real evaluator module
// under load, a large snapshot). It adds no evaluators.
import fs from 'node:fs'
import type { SeriesEvaluatorFactory } from '../../engine/stream/series-evaluator.ts'

export const GATED_EVALUATOR_MODULE = new URL(import.meta.url).pathname

export function withConfig(config: { gate?: string }): SeriesEvaluatorFactory {
  const pause = new Int32Array(new SharedArrayBuffer(4))
  while (config.gate !== undefined && fs.existsSync(config.gate)) Atomics.wait(pause, 0, 0, 20)
  return () => []
}
