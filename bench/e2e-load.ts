// The load and the freshness probes of the e2e scenario, in their own process
// so neither shares the server's event loop (a probe timed there would count
// the server's own delays twice). Argument: a JSON spec. Until the parent says
// 'measure', the load is warm-up; from then on it is counted and the probes
// run; on 'stop' the loops end, the requests in flight finish, and one result
// goes back over IPC. Progress goes to the parent once a second.
//
// A probe is one msgpack beacon of its own: metric e2e_probe, tag probe=<id>
// unique to it. Its freshness is from the 2xx of its POST to the first answer
// of GET /api/v2/analytics/aggregate that counts it. One is sent every
// probeGapMs while fewer than 16 wait; every pollMs one request asks for all
// the waiting ones (a tag filter per probe, grouped by the probe tag). Probes
// sent before 'stop' are still waited for after it.
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
  /** Bodies a second offered at most, over all connections (open loop: paced, not as fast as answers come); 0: no pacing. */
  bodiesPerSec: number
  /** Time between two probes' POSTs (while fewer than MAX_PROBES wait). */
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
  /** Polls (one query each, for every probe waiting) per probe: the query load the probes add. */
  pollsPerProbe: number
}

export const PROBE_METRIC = 'e2e_probe'
/** Probes waiting at once at most: one poll filters by all of them, and a request takes at most 16 tag filters. */
const MAX_PROBES = 16

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

/** The next paced POST's time (performance.now()), shared by the connections. */
let nextSendAt = 0

/** Waits for this connection's next slot when the load is paced: one body every 1 / bodiesPerSec s in all. */
async function paced(): Promise<void> {
  if (spec.bodiesPerSec <= 0) return
  const now = performance.now()
  // A slot missed (every connection was waiting on an answer) is not made up for in a burst.
  const at = Math.max(nextSendAt, now)
  nextSendAt = at + 1000 / spec.bodiesPerSec
  if (at > now) await sleep(at - now)
}

async function loadLoop(): Promise<void> {
  while (phase !== 'stop') {
    await paced()
    // The wait may have outlasted the run (phase changes under the await: the cast undoes TypeScript's narrowing).
    if ((phase as string) === 'stop') break
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

/** A probe posted and answered 2xx, not yet counted by the aggregate. */
interface Probe {
  id: string
  acceptedAt: number
}

/** The ids among `probes` the aggregate counts: one query for all, filtered by their tags and split by them. */
async function visibleOf(probes: readonly Probe[], fromMs: number): Promise<Set<string>> {
  const query = new URLSearchParams({ metric: PROBE_METRIC, from: String(fromMs), to: String(Date.now() + 60_000), step: '60', groupBy: 'probe' })
  for (const p of probes) query.append('tag', `probe:${p.id}`)
  const response = await fetch(`${spec.url}/api/v2/analytics/aggregate?${query}`, { headers: { authorization: `Bearer ${spec.apiKey}` } })
  const text = await response.text()
  // 404: the probe metric is not known yet (none stored): none visible.
  if (response.status === 404) return new Set()
  if (response.status !== 200) throw new Error(`the aggregate answered ${response.status}: ${text.slice(0, 200)}`)
  const groups = (JSON.parse(text) as { groups?: { value: string; total: { count: number } }[] }).groups ?? []
  return new Set(groups.filter((g) => g.total.count > 0).map((g) => g.value))
}

/**
 * Sends a probe every probeGapMs while fewer than MAX_PROBES wait, and polls for all waiting ones
 * together every pollMs: many probes a second, for a few queries a second on the connection.
 */
async function probeLoop(): Promise<void> {
  let n = 0
  const waiting: Probe[] = []
  // From a minute before the first probe: a poll reads at most a few minutes of the probe metric.
  const fromMs = Math.floor(Date.now() / 60_000) * 60_000 - 60_000
  let posting = 0
  const send = async (): Promise<void> => {
    const id = `${process.pid}-${n++}`
    const probe = new Uint8Array(pack([{ [PROBE_METRIC]: 1, tags: { probe: id } }]))
    posting++
    try {
      const response = await fetch(`${spec.url}/api/v2/analytics/metrics`, { method: 'POST', headers: ingestHeaders, body: probe })
      await response.arrayBuffer()
      if (response.status >= 200 && response.status < 300) waiting.push({ id, acceptedAt: performance.now() })
      else non2xx++
    } catch {
      errors++
    } finally {
      posting--
    }
  }
  // Sending does not wait for polls (a poll may take a while under load), nor polls for sending.
  const sending = (async () => {
    while (phase === 'measure') {
      if (waiting.length + posting < MAX_PROBES) void send()
      await sleep(spec.probeGapMs)
    }
  })()
  const oldest = (): number => Math.min(...waiting.map((p) => p.acceptedAt))
  while (phase === 'measure' || posting > 0 || (waiting.length > 0 && performance.now() - oldest() < spec.probeTimeoutMs)) {
    if (waiting.length > 0) {
      polls++
      const seen = await visibleOf(waiting, fromMs)
      const now = performance.now()
      for (let i = waiting.length - 1; i >= 0; i--) {
        const probe = waiting[i] as Probe
        if (seen.has(probe.id)) {
          freshness.push(now - probe.acceptedAt)
          waiting.splice(i, 1)
        } else if (now - probe.acceptedAt > spec.probeTimeoutMs) {
          probeTimeouts++
          waiting.splice(i, 1)
        }
      }
    }
    await sleep(spec.pollMs)
  }
  await sending
  probeTimeouts += waiting.length
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
