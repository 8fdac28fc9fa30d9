// The client of the query scenario, in its own process (the timings must not
// share the server's event loop): GETs one URL `warmup` times untimed, then
// `requests` times timed, one at a time, each answer read to its end.
// Argument: a JSON spec; one result over IPC.
import { performance } from 'node:perf_hooks'
import { timingOf, type Timing } from './report.ts'

export interface QueryLoadSpec {
  url: string
  apiKey: string
  requests: number
  warmup: number
}

export interface QueryLoadResult {
  timing: Timing
  /** Each timed request, ms, in order. */
  ms: number[]
  problems: string[]
}

const spec = JSON.parse(process.argv[2] ?? '{}') as QueryLoadSpec
const headers = { authorization: `Bearer ${spec.apiKey}` }

async function once(): Promise<{ ms: number; status: number }> {
  const started = performance.now()
  const response = await fetch(spec.url, { headers })
  await response.arrayBuffer()
  return { ms: performance.now() - started, status: response.status }
}

async function main(): Promise<void> {
  const problems: string[] = []
  for (let i = 0; i < spec.warmup; i++) await once()
  const ms: number[] = []
  for (let i = 0; i < spec.requests; i++) {
    const r = await once()
    if (r.status !== 200) problems.push(`GET ${new URL(spec.url).pathname} answered ${r.status}`)
    ms.push(r.ms)
  }
  const result: QueryLoadResult = {
    timing: timingOf(ms),
    ms,
    problems: [...new Set(problems)],
  }
  await new Promise<void>((resolve) => process.send?.(result, () => resolve()))
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`)
  process.exitCode = 1
})
