// The load and the freshness probes of the e2e scenario, in their own process
// so neither shares the server's event loop (a probe timed there would count
// the server's own delays twice). Argument: a JSON spec. Until the parent says
// 'measure', the load is warm-up; from then on it is counted and the probes
// run; on 'stop' the loops end, the requests in flight finish, and one result
// goes back over IPC. Progress goes to the parent once a second.
//
// A probe is one msgpack beacon of its own: metric e2e_probe, tag probe=<id>
// unique to it. Its freshness is from the 2xx of its POST to the first answer
// of GET /api/v2/analytics/aggregate (filtered by that tag) that counts it,
// polled every pollMs; one probe is in flight at a time.
import fs from 'node:fs'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { pack } from 'msgpackr'
import { quantile } from './report.ts'

export interface E2eLoadSpec {
  url: string
  ingestToken: string
  apiKey: string
  bodyFile: string
  connections: number
  /** Pause between one probe's visibility and the next probe's POST. */
  probeGapMs: number
  pollMs: number
  /** A probe not visible after this long counts as lost (a problem of the run). */
  probeTimeoutMs: number
}

export interface E2eProgress {
  kind: 'progress'
  ok: number
  probes: number
  lastFreshnessMs: number | null
}

export interface E2eLoadResult {
  kind: 'done'
  /** Bodies answered 2xx while measured, and over how long. */
  ok: number
  measuredSec: number
  warmupOk: number
  non2xx: number
  errors: number
  statusCodes: Record<string, number>
  latencyMs: { p50: number; p99: number }
  /** Freshness of each probe that became visible, ms, in the order sent. */
  freshnessMs: number[]
  probeTimeouts: number
  /** Polls per probe, on average: the query load the probes add. */
  pollsPerProbe: number
}

export const PROBE_METRIC = 'e2e_probe'

const spec = JSON.parse(process.argv[2] ?? '{}') as E2eLoadSpec
const body = new Uint8Array(fs.readFileSync(spec.bodyFile))
const ingestHeaders = { authorization: `Bearer ${spec.ingestToken}`, 'content-type': 'application/msgpack' }

let phase: 'warmup' | 'measure' | 'stop' = 'warmup'
let ok = 0
let warmupOk = 0
let non2xx = 0
let errors = 0
const statusCodes: Record<string, number> = {}
const latencies: number[] = []
const freshness: number[] = []
let probeTimeouts = 0
let polls = 0
let measureStarted = 0
let measureEnded = 0

async function loadLoop(): Promise<void> {
  while (phase !== 'stop') {
    const measured = phase === 'measure'
    const started = performance.now()
    try {
      const response = await fetch(`${spec.url}/api/v2/analytics/metrics`, { method: 'POST', headers: ingestHeaders, body })
      await response.arrayBuffer()
      statusCodes[response.status] = (statusCodes[response.status] ?? 0) + 1
      if (response.status >= 200 && response.status < 300) {
        if (!measured) warmupOk++
        else if (phase === 'measure') {
          ok++
          latencies.push(performance.now() - started)
        }
        // A request sent in the measured run but answered after 'stop' is stored all the same: the parent counts
        // stored samples, not these; it is only left out of the request rate.
      } else if (measured) non2xx++
    } catch {
      if (measured) errors++
      await sleep(100)
    }
  }
}

async function visible(id: string, fromMs: number): Promise<boolean> {
  const query = new URLSearchParams({ metric: PROBE_METRIC, tag: `probe:${id}`, from: String(fromMs), to: String(fromMs + 180_000), step: '60' })
  const response = await fetch(`${spec.url}/api/v2/analytics/aggregate?${query}`, { headers: { authorization: `Bearer ${spec.apiKey}` } })
  const text = await response.text()
  // 404: the probe metric is not known yet (none stored): not visible.
  if (response.status === 404) return false
  if (response.status !== 200) throw new Error(`the aggregate answered ${response.status}: ${text.slice(0, 200)}`)
  return (JSON.parse(text) as { total: { count: number } }).total.count > 0
}

async function probeLoop(): Promise<void> {
  let n = 0
  while (phase === 'measure') {
    const id = `${process.pid}-${n++}`
    const probe = new Uint8Array(pack([{ [PROBE_METRIC]: 1, tags: { probe: id } }]))
    const fromMs = Math.floor(Date.now() / 60_000) * 60_000 - 60_000
    const response = await fetch(`${spec.url}/api/v2/analytics/metrics`, { method: 'POST', headers: ingestHeaders, body: probe })
    await response.arrayBuffer()
    if (response.status < 200 || response.status >= 300) {
      non2xx++
      await sleep(spec.probeGapMs)
      continue
    }
    const acceptedAt = performance.now()
    let seen = false
    while (performance.now() - acceptedAt < spec.probeTimeoutMs) {
      polls++
      if (await visible(id, fromMs)) {
        seen = true
        break
      }
      await sleep(spec.pollMs)
    }
    if (seen) freshness.push(performance.now() - acceptedAt)
    else probeTimeouts++
    await sleep(spec.probeGapMs)
  }
}

async function main(): Promise<void> {
  const loops = Array.from({ length: spec.connections }, loadLoop)
  let probes: Promise<void> = Promise.resolve()
  const progress = setInterval(() => {
    const message: E2eProgress = { kind: 'progress', ok: ok + warmupOk, probes: freshness.length, lastFreshnessMs: freshness.length > 0 ? Math.round(freshness.at(-1) as number) : null }
    process.send?.(message)
  }, 1000)
  await new Promise<void>((resolve) => {
    process.on('message', (message) => {
      if (message === 'measure' && phase === 'warmup') {
        phase = 'measure'
        measureStarted = performance.now()
        probes = probeLoop()
      } else if (message === 'stop') {
        if (phase === 'measure') measureEnded = performance.now()
        phase = 'stop'
        resolve()
      }
    })
  })
  await Promise.all([...loops, probes])
  clearInterval(progress)
  const sorted = [...latencies].sort((a, b) => a - b)
  const result: E2eLoadResult = {
    kind: 'done',
    ok,
    measuredSec: (measureEnded - measureStarted) / 1000,
    warmupOk,
    non2xx,
    errors,
    statusCodes,
    latencyMs: { p50: Math.round(quantile(sorted, 0.5)), p99: Math.round(quantile(sorted, 0.99)) },
    freshnessMs: freshness.map(Math.round),
    probeTimeouts,
    pollsPerProbe: freshness.length + probeTimeouts > 0 ? polls / (freshness.length + probeTimeouts) : 0,
  }
  await new Promise<void>((resolve) => process.send?.(result, () => resolve()))
  process.disconnect?.()
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`)
  process.exitCode = 1
})
