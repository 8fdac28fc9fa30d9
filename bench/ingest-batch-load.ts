// The load generator of the ingest-batch scenario, in its own process (as
// load-worker.ts is for JSON): autocannon with a binary body, which its `-i`
// flag cannot send (it reads bodies as text). Argument: a JSON spec; the body is
// read from the file it names. Reports one result over IPC.
import fs from 'node:fs'
import autocannon from 'autocannon'

export interface BatchLoadSpec {
  url: string
  headers: Record<string, string>
  bodyFile: string
  connections: number
  durationSec: number
  warmupSec: number
}

export interface BatchLoadResult {
  ok: number
  non2xx: number
  errors: number
  durationSec: number
  statusCodes: Record<string, number>
  latencyMs: { p50: number; p99: number }
  warmupOk: number
}

const spec = JSON.parse(process.argv[2] ?? '{}') as BatchLoadSpec
const body = fs.readFileSync(spec.bodyFile)

function run(durationSec: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ url: spec.url, method: 'POST', headers: spec.headers, body, connections: spec.connections, duration: durationSec }, (err, result) =>
      err ? reject(err as Error) : resolve(result)
    )
  })
}

async function main(): Promise<void> {
  const warmup = spec.warmupSec > 0 ? await run(spec.warmupSec) : undefined
  const measured = await run(spec.durationSec)
  const result: BatchLoadResult = {
    ok: measured['2xx'],
    non2xx: measured.non2xx,
    errors: measured.errors,
    durationSec: measured.duration,
    statusCodes: Object.fromEntries(Object.entries(measured.statusCodeStats ?? {}).map(([code, stat]) => [code, stat.count ?? 0])),
    latencyMs: { p50: measured.latency.p50, p99: measured.latency.p99 },
    warmupOk: warmup?.['2xx'] ?? 0,
  }
  await new Promise<void>((resolve) => process.send?.(result, () => resolve()))
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`)
  process.exitCode = 1
})
