// Runs one HTTP load in a child process (load-worker.ts), so the load
// generator never shares an event loop or a core's time slices with the servers
// under test in this process. The child reports a line per second, shown on
// stderr, and one summary at the end.
import { fork } from 'node:child_process'
import { cpuSince, cpuSnapshot, pidCpuSeconds, type CpuShare, type CpuSnapshot } from './cpu-usage.ts'

export interface LoadSpec {
  /** Names the load in progress lines. */
  label: string
  url: string
  headers: Record<string, string>
  body: string
  connections: number
  durationSec: number
  warmupSec: number
  /** Requests a second over all connections (autocannon's overallRate); none: as fast as answers come. */
  overallRate?: number
  /** A server in another process: its CPU over the measured run is reported as serverProcessPct (Linux). */
  serverPid?: number
}

export interface LoadCounts {
  ok: number
  non2xx: number
  /** Connection errors and timeouts: requests that got no response at all. */
  errors: number
}

export interface LoadResult extends LoadCounts {
  /** Measured time, seconds (autocannon's, to 10 ms). */
  durationSec: number
  timeouts: number
  /** Responses by status code, so a non-2xx count comes with its reason. */
  statusCodes: Record<string, number>
  /** Latency of 2xx responses, ms. */
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number }
  /** The warm-up is not measured, but what it sent reached the server (and, for Tidemark, storage). */
  warmup: LoadCounts
  /** Over the measured run; loadGeneratorPct is the autocannon process, 100 = one core. */
  cpu: CpuShare & { loadGeneratorPct: number; serverProcessPct?: number }
}

/** What the worker knows; the parent adds the CPU it saw. */
export type WorkerResult = Omit<LoadResult, 'cpu'> & { loadGeneratorCpuPct: number }

export type WorkerMessage =
  | { type: 'progress'; phase: 'warm-up' | 'measure'; second: number; counts: LoadCounts }
  | { type: 'measuring' }
  | { type: 'result'; result: WorkerResult }
  | { type: 'failed'; message: string }

const WORKER = new URL('./load-worker.ts', import.meta.url)

function progressLine(spec: LoadSpec, message: Extract<WorkerMessage, { type: 'progress' }>): string {
  const total = message.phase === 'warm-up' ? spec.warmupSec : spec.durationSec
  const { ok, non2xx, errors } = message.counts
  const problems = non2xx + errors > 0 ? `   non-2xx ${non2xx}  errors ${errors}` : ''
  return `  ${spec.label.padEnd(26)} ${message.phase.padEnd(7)} ${String(message.second).padStart(3)}/${total} s ${ok.toLocaleString('en-US').padStart(9)} req/s${problems}\n`
}

/** The progress messages of a load; by default each is a line on stderr. */
export type ProgressListener = (message: Extract<WorkerMessage, { type: 'progress' }>) => void

export function runLoad(spec: LoadSpec, onProgress?: ProgressListener): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    // The child is TypeScript too: tsx loads it (register() in this process does not reach children).
    const child = fork(WORKER, [JSON.stringify(spec)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    let measuring: CpuSnapshot | undefined
    let serverCpuAtStart: number | undefined
    let result: LoadResult | undefined
    let failure: string | undefined
    child.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') {
        if (onProgress) onProgress(message)
        else process.stderr.write(progressLine(spec, message))
      } else if (message.type === 'measuring') {
        measuring = cpuSnapshot()
        if (spec.serverPid !== undefined) serverCpuAtStart = pidCpuSeconds(spec.serverPid)
      } else if (message.type === 'result') {
        const { loadGeneratorCpuPct, ...counts } = message.result
        const cpu: LoadResult['cpu'] = { ...cpuSince(measuring ?? cpuSnapshot()), loadGeneratorPct: loadGeneratorCpuPct }
        const serverCpu = spec.serverPid === undefined ? undefined : pidCpuSeconds(spec.serverPid)
        if (measuring && serverCpuAtStart !== undefined && serverCpu !== undefined) {
          const seconds = Number(process.hrtime.bigint() - measuring.atNs) / 1e9
          cpu.serverProcessPct = Math.round(((serverCpu - serverCpuAtStart) / seconds) * 1000) / 10
        }
        result = { ...counts, cpu }
      } else failure = message.message
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (result) resolve(result)
      else reject(new Error(`load "${spec.label}" failed: ${failure ?? `worker exited with ${signal ?? `code ${code}`}`}`))
    })
  })
}
