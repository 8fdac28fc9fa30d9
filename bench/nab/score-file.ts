// One series through a fresh anomaly scorer: the unit of work of the NAB
// bench, run the same way in the main thread and in the worker pool
// (score-worker.ts), so both measure the one scorer the engine uses.
import { createScorer } from '../../engine/anomaly/index.ts'

export interface SeriesTask {
  timestamps: Float64Array
  values: Float64Array
}

export function scoreSeries({ timestamps, values }: SeriesTask): Float64Array {
  const scorer = createScorer()
  const scores = new Float64Array(values.length)
  for (let i = 0; i < values.length; i++) scores[i] = scorer.score(timestamps[i] as number, values[i] as number)
  return scores
}
