// Points per second of the scorer, single-threaded and over a worker pool.
// Each round scores every file of the corpus from a fresh scorer; rounds repeat
// until the measured time is long enough to mean something (the corpus is only
// ~112k points: one round is a few tens of milliseconds).
import os from 'node:os'
import { Piscina } from 'piscina'
import { scoreSeries, type SeriesTask } from './score-file.ts'

export interface Throughput {
  points: number
  seconds: number
  pointsPerSec: number
}

export interface PoolRun extends Throughput {
  workers: number
  /** The first round's scores per task, to check them against the single-threaded ones. */
  scores: Float64Array[]
}

const pointsOf = (tasks: SeriesTask[]): number => tasks.reduce((n, t) => n + t.values.length, 0)

export function singleThread(tasks: SeriesTask[], minSeconds: number, onRound: (round: number) => void): Throughput {
  for (const t of tasks) scoreSeries(t) // warm-up: let V8 optimise before the clock starts
  let rounds = 0
  const start = process.hrtime.bigint()
  let seconds = 0
  while (rounds < 2 || seconds < minSeconds) {
    for (const t of tasks) scoreSeries(t)
    rounds++
    seconds = Number(process.hrtime.bigint() - start) / 1e9
    onRound(rounds)
  }
  const points = rounds * pointsOf(tasks)
  return { points, seconds, pointsPerSec: points / seconds }
}

/**
 * Rounds over `workers` threads. All rounds are queued at once so that no
 * worker waits for a round's last file; the count of rounds comes from the
 * single-threaded rate, aiming at `minSeconds`.
 */
export async function overPool(tasks: SeriesTask[], workers: number, minSeconds: number, singleRate: number, onDone: (done: number, total: number) => void): Promise<PoolRun> {
  const pool = new Piscina({
    filename: new URL('./score-worker.ts', import.meta.url).href,
    minThreads: workers,
    maxThreads: workers,
    idleTimeout: 60_000,
    execArgv: ['--import', 'tsx'],
  })
  try {
    // Warm-up round: starts the threads and lets V8 optimise in each.
    const scores = await Promise.all(tasks.map((t) => pool.run(t) as Promise<Float64Array>))
    const perRound = pointsOf(tasks)
    const rounds = Math.max(2, Math.ceil((minSeconds * singleRate * Math.min(workers, os.availableParallelism())) / perRound))
    const total = rounds * tasks.length
    let done = 0
    const start = process.hrtime.bigint()
    const runs: Array<Promise<unknown>> = []
    for (let r = 0; r < rounds; r++)
      for (const t of tasks)
        runs.push(
          (pool.run(t) as Promise<Float64Array>).then(() => {
            done++
            if (done % tasks.length === 0) onDone(done, total)
          })
        )
    await Promise.all(runs)
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    const points = rounds * perRound
    return { points, seconds, pointsPerSec: points / seconds, workers, scores }
  } finally {
    await pool.destroy()
  }
}
