// The piscina worker of the NAB bench: scores one series per task. Loaded with
// `execArgv: ['--import', 'tsx']` (tsx's register() in the main thread does not
// reach worker threads on Node 20: see /work/shared/DESIGN.md's measured facts).
import { scoreSeries, type SeriesTask } from './score-file.ts'

export default function scoreTask(task: SeriesTask): Float64Array {
  return scoreSeries(task)
}
