// The load generator's process (see load.ts): an optional warm-up, then the
// measured run, both with autocannon's programmatic API against one URL.
import autocannon from 'autocannon'
import { cpuSnapshot, processCpuPct } from './cpu-usage.ts'
import type { LoadCounts, LoadSpec, WorkerMessage, WorkerResult } from './load.ts'

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => process.send?.(message, () => resolve()))
}

function run(phase: 'warm-up' | 'measure', durationSec: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    // Per-second counts for the progress line; autocannon's own tracker draws a TTY bar, which a child has not.
    let counts: LoadCounts = { ok: 0, non2xx: 0, errors: 0 }
    let second = 0
    const timer = setInterval(() => {
      // autocannon stops at its first sampling tick past the duration: that stub of a second is not a line.
      if (++second <= durationSec) void send({ type: 'progress', phase, second, counts })
      counts = { ok: 0, non2xx: 0, errors: 0 }
    }, 1000)
    const instance = autocannon(
      {
        url: spec.url,
        method: 'POST',
        headers: spec.headers,
        body: spec.body,
        connections: spec.connections,
        duration: durationSec,
        ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
      },
      (err, result) => {
        clearInterval(timer)
        if (err) reject(err as Error)
        else resolve(result)
      }
    )
    instance.on('response', (_client, statusCode) => {
      if (statusCode >= 200 && statusCode < 300) counts.ok++
      else counts.non2xx++
    })
    instance.on('reqError', () => counts.errors++)
  })
}

function countsOf(result: autocannon.Result): LoadCounts {
  return { ok: result['2xx'], non2xx: result.non2xx, errors: result.errors }
}

async function main(): Promise<void> {
  const warmup = spec.warmupSec > 0 ? countsOf(await run('warm-up', spec.warmupSec)) : { ok: 0, non2xx: 0, errors: 0 }
  await send({ type: 'measuring' })
  const start = cpuSnapshot()
  const measured = await run('measure', spec.durationSec)
  const loadGeneratorCpuPct = processCpuPct(start)
  const { latency } = measured
  const result: WorkerResult = {
    ...countsOf(measured),
    durationSec: measured.duration,
    timeouts: measured.timeouts,
    statusCodes: Object.fromEntries(Object.entries(measured.statusCodeStats ?? {}).map(([code, stat]) => [code, stat.count ?? 0])),
    latencyMs: { p50: latency.p50, p90: latency.p90, p99: latency.p99, mean: latency.mean, max: latency.max },
    warmup,
    loadGeneratorCpuPct,
  }
  await send({ type: 'result', result })
}

main().then(
  () => process.disconnect(),
  async (err: Error) => {
    await send({ type: 'failed', message: err.message })
    process.exit(1)
  }
)
