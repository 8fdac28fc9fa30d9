// How fast a condition becomes a trigger event, under load: from the moment
// the beacon that completes a condition is sent over HTTP to the moment its
// event reaches a NATS subscriber of tm.triggers.<tenant>.>, p50 and p99,
// while a second process posts ~100,000 samples/s of background beacons
// (cpu_usage of 1,000 hosts, stamped now: evaluated by the default rules,
// never firing) through the same Tidemark (`tidemark start`'s roles in one
// process, default settings: one worker thread).
//
// The trigger tenant's series has a partition to itself (the background
// hosts are chosen outside it), so "the beacon that completes the condition"
// is well defined: a tenant rule `bench_spike > 100` (1 s interval, no `for`)
// is evaluated at grid time t once the partition's watermark passes t, that
// is when a beacon stamped t + 5 s + 1 ms (the allowed lateness) arrives; that
// beacon is the one timed. Its event time runs in the past, a few seconds
// apart per round, so wall-clock watermark ticks never step in.
// Run: npm run bench -- triggers [--rounds 300] [--rate 100000]   (</dev/null: chDB reads stdin)
// Writes bench/results/triggers.json: {p50Ms, p99Ms, backgroundSamplesPerSec, …}.
import { fork } from 'node:child_process'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { partitionOf, seriesKey } from '../engine/index.ts'
import type { TriggerEvent } from '../engine/rules/index.ts'
import { cpuSince, cpuSnapshot } from './cpu-usage.ts'
import { machineInfo, writeResults } from './report.ts'
import { startTidemarkStack } from './tidemark-stack.ts'

const BEACONS_PER_REQUEST = 1000
const BACKGROUND_HOSTS = 1000
const LATENESS_MS = 5000
const ROUND_MS = 7000
const RULE = 'BenchSpike'

interface BackgroundSpec {
  url: string
  token: string
  hosts: string[]
  samplesPerSec: number
}

/** The background load's process: one 1,000-beacon POST every 1000 / (rate / 1000) ms, at most 64 in flight. */
async function backgroundLoad(spec: BackgroundSpec): Promise<void> {
  const requestsPerSec = spec.samplesPerSec / BEACONS_PER_REQUEST
  const bodies = Array.from({ length: 4 }, (_, b) =>
    JSON.stringify(Array.from({ length: BEACONS_PER_REQUEST }, (_, i) => ({ cpu_usage: 40 + ((i + b) % 20), tags: { host: spec.hosts[(b * BEACONS_PER_REQUEST + i) % spec.hosts.length] } })))
  )
  const headers = { authorization: `Bearer ${spec.token}`, 'content-type': 'application/json' }
  let inFlight = 0
  let sent = 0
  let failed = 0
  const started = performance.now()
  let stopping = false
  process.on('message', () => {
    stopping = true
  })
  while (!stopping) {
    const due = Math.floor(((performance.now() - started) / 1000) * requestsPerSec)
    while (sent < due && inFlight < 64) {
      inFlight++
      const body = bodies[sent % bodies.length] as string
      sent++
      fetch(`${spec.url}/api/v2/analytics/metrics`, { method: 'POST', headers, body })
        .then(async (r) => {
          await r.arrayBuffer()
          if (r.status !== 200) failed++
        })
        .catch(() => failed++)
        .finally(() => inFlight--)
    }
    await sleep(2)
  }
  while (inFlight > 0) await sleep(10)
  process.send?.({ sent, failed })
}

if (process.env.TM_BENCH_TRIGGERS_BACKGROUND) {
  const spec = JSON.parse(process.env.TM_BENCH_TRIGGERS_BACKGROUND) as BackgroundSpec
  void backgroundLoad(spec).then(() => process.disconnect())
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number
}

const round2 = (n: number): number => Math.round(n * 100) / 100

export async function triggersScenario(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { rounds: { type: 'string', default: '300' }, rate: { type: 'string', default: '100000' }, warmup: { type: 'string', default: '3' } } })
  const rounds = Number(values.rounds)
  const rate = Number(values.rate)
  const stack = await startTidemarkStack()
  const problems: string[] = []
  try {
    const { app, tenant } = stack
    const partitions = stack.config.partitions
    const adminHeaders = { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' }
    const put = await fetch(`${stack.url}/api/v2/rules`, {
      method: 'PUT',
      headers: adminHeaders,
      body: JSON.stringify({ groups: [{ name: 'bench', interval: '1s', rules: [{ alert: RULE, expr: 'bench_spike > 100', labels: { severity: 'bench' } }] }] }),
    })
    if (put.status !== 200) throw new Error(`PUT /api/v2/rules: ${put.status} ${await put.text()}`)
    const triggerTags = { host: 'trigger' }
    const triggerPartition = partitionOf(tenant.id, seriesKey('bench_spike', triggerTags), partitions)
    const hosts: string[] = []
    for (let i = 0; hosts.length < BACKGROUND_HOSTS; i++) {
      const host = `bg-${i}`
      if (partitionOf(tenant.id, seriesKey('cpu_usage', { host }), partitions) !== triggerPartition) hosts.push(host)
    }

    // Events as they reach a plain subscriber (JetStream delivers to core subscribers as it stores).
    const arrivals = new Map<number, number>()
    const sub = app.runtime.nc.subscribe(`tm.triggers.${tenant.id}.>`, {
      callback: (_err, msg) => {
        const e = msg.json<TriggerEvent>()
        if (e.rule === RULE && e.state === 'firing' && e.change === 'alert') arrivals.set(e.at, performance.now())
      },
    })
    const postSpike = async (value: number, ts: number): Promise<void> => {
      const r = await fetch(`${stack.url}/api/v2/analytics/metrics`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tenant.ingestToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ bench_spike: value, ts, tags: triggerTags }),
      })
      await r.arrayBuffer()
      if (r.status !== 200) throw new Error(`trigger beacon: HTTP ${r.status}`)
    }

    const background = fork(new URL(import.meta.url), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, TM_BENCH_TRIGGERS_BACKGROUND: JSON.stringify({ url: stack.url, token: tenant.ingestToken, hosts, samplesPerSec: rate } satisfies BackgroundSpec) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const backgroundDone = new Promise<{ sent: number; failed: number }>((resolve) => background.once('message', (m) => resolve(m as { sent: number; failed: number })))
    process.stderr.write(`  background load: ${rate.toLocaleString('en-US')} samples/s over ${hosts.length} hosts; warming up ${values.warmup} s\n`)
    await sleep(Number(values.warmup) * 1000)

    const latencies: number[] = []
    let missed = 0
    let missedInARow = 0
    // Past event time, on the 1 s grid, far enough back for every round.
    let base = Math.floor((Date.now() - (rounds + 10) * ROUND_MS) / 1000) * 1000
    const samplesBefore = app.publisher?.stats.samples ?? 0
    const cpuStart = cpuSnapshot()
    // The Tidemark process is this one: how long its event loop (ingest, storage, readers, leases) was held up.
    const loopDelay = monitorEventLoopDelay({ resolution: 10 })
    loopDelay.enable()
    const measureStart = performance.now()
    for (let k = 0; k < rounds; k++) {
      base += ROUND_MS
      // The condition's sample at the grid time, then a reset sample after it (the alert resolves before the next round).
      await postSpike(200, base)
      const t0 = performance.now()
      await postSpike(200, base + LATENESS_MS + 1)
      const deadline = t0 + 5000
      while (!arrivals.has(base) && performance.now() < deadline) await sleep(0.5)
      const at = arrivals.get(base)
      if (at === undefined) {
        missed++
        missedInARow++
      } else {
        missedInARow = 0
        latencies.push(at - t0)
      }
      await postSpike(0, base + LATENESS_MS + 2)
      if ((k + 1) % 25 === 0) process.stderr.write(`  ${k + 1}/${rounds} rounds, last ${latencies.at(-1)?.toFixed(1)} ms, ${missed} missed\n`)
      if (missedInARow >= 5) {
        problems.push(`stopped after round ${k + 1}: five rounds in a row saw no event within 5 s (the engine is not keeping up)`)
        break
      }
    }
    const measuredSec = (performance.now() - measureStart) / 1000
    const backgroundSamplesPerSec = ((app.publisher?.stats.samples ?? 0) - samplesBefore) / measuredSec
    const cpu = cpuSince(cpuStart)
    loopDelay.disable()
    background.send('stop')
    const load = await backgroundDone
    sub.unsubscribe()
    if (missed > 0) problems.push(`${missed} of ${rounds} rounds saw no event within 5 s`)
    if (load.failed > 0) problems.push(`${load.failed} background requests failed`)
    const sorted = [...latencies].sort((a, b) => a - b)
    const streamStats = app.stream?.stats()
    const results = {
      p50Ms: round2(quantile(sorted, 0.5)),
      p99Ms: round2(quantile(sorted, 0.99)),
      backgroundSamplesPerSec: Math.round(backgroundSamplesPerSec),
      targetSamplesPerSec: rate,
      rounds,
      measured: latencies.length,
      maxMs: round2(sorted.at(-1) ?? NaN),
      p90Ms: round2(quantile(sorted, 0.9)),
      measuredSec: round2(measuredSec),
      backgroundRequests: load,
      serverCpu: cpu,
      eventLoopDelayMs: { p50: round2(loopDelay.percentile(50) / 1e6), p99: round2(loopDelay.percentile(99) / 1e6), max: round2(loopDelay.max / 1e6) },
      partitionRebuilds: streamStats?.partitions.reduce((n, p) => n + p.rebuilds, 0),
      workerThreads: streamStats?.pool.threads,
      ruleCounters: streamStats?.evaluatorCounters,
      lateSamples: streamStats?.partitions.reduce((n, p) => n + p.late, 0),
      targetP99Ms: 50,
      problems,
      machine: machineInfo(),
      at: new Date().toISOString(),
    }
    const file = writeResults('triggers', results)
    process.stdout.write(
      `\ntriggers: condition-completing beacon sent -> event on NATS, ${latencies.length} rounds\n` +
        `  p50 ${results.p50Ms} ms   p90 ${results.p90Ms} ms   p99 ${results.p99Ms} ms   max ${results.maxMs} ms   (target p99 <= 50 ms)\n` +
        `  background ${results.backgroundSamplesPerSec.toLocaleString('en-US')} samples/s (target ${rate.toLocaleString('en-US')})\n` +
        `  event loop delay p99 ${results.eventLoopDelayMs.p99} ms, max ${results.eventLoopDelayMs.max} ms; server CPU ${JSON.stringify(cpu)}\n` +
        `  written to ${file}\n` +
        (problems.length > 0 ? `  PROBLEMS: ${problems.join('; ')}\n` : '')
    )
    return problems.length === 0 ? 0 : 1
  } finally {
    await stack.stop()
  }
}
