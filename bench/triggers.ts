// How fast a condition becomes a trigger event, under load: from the moment
// the beacon that completes a condition is sent over HTTP to the moment its
// event reaches a NATS subscriber of tm.triggers.<tenant>.>, p50 and p99,
// while a second process posts ~100,000 samples/s of background beacons
// (cpu_usage of 1,000 hosts, stamped now: evaluated by the default rules,
// never firing) through the same Tidemark (`tidemark start`'s roles in one
// process, default settings: two worker threads).
//
// The trigger tenant's series has a partition to itself (the background
// hosts are chosen outside it), so "the beacon that completes the condition"
// is well defined: a tenant rule `bench_spike > 100` (1 s interval, no `for`)
// is evaluated at grid time t once the partition's watermark passes t, that
// is when a beacon stamped t + 5 s + 1 ms (the allowed lateness) arrives; that
// beacon is the one timed. Its event time runs in the past, a few seconds
// apart per round, so wall-clock watermark ticks never step in. The rounds run
// in a process of their own (a client and an autoscaler elsewhere): timed in
// the Tidemark process, both ends waited for the busy event loop they measure.
// --topology split runs `tidemark ingest` and `tidemark engine query` as two
// processes instead (against one nats-server), so the engine's event loop does
// not also parse and validate the load; the beacons go to the ingest process.
// Priorities (--storage-nice, --load-nice, both 19 by default): on this 2-core box storage (chDB's insert and
// merge threads, the encode worker) wants more than the cores left over, and would take the CPU from the event
// loop and the stream engine's thread whenever they need it; TIDEMARK_STORAGE_NICE is the setting for it
// (docs: README), and the run sets it as a single-box deployment that cares for its triggers should. The
// background load's process stands for clients on other machines, so it yields too. 0 and 0 show the box
// without them.
// Run: npm run bench -- triggers [--rounds 300] [--rate 100000] [--topology embedded|split] [--anomaly on|off] [--storage-nice 19] [--load-nice 19]   (</dev/null: chDB reads stdin)
// Writes bench/results/triggers.json: {p50Ms, p99Ms, backgroundSamplesPerSec, …}.
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { pack } from 'msgpackr'
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { BEACONS_STREAM, beaconSubject, partitionOf, seriesKey, SupervisedNatsServer, type CreatedTenant } from '../engine/index.ts'
import { CONFIG_KIND, KIND_HEADER, type StreamRuntimeStats } from '../engine/stream/index.ts'
import type { TriggerEvent } from '../engine/rules/index.ts'
import { cpuSince, cpuSnapshot } from './cpu-usage.ts'
import { machineInfo, quantile, writeResults } from './report.ts'
import { startTidemarkStack } from './tidemark-stack.ts'

const BEACONS_PER_REQUEST = 1000
const BACKGROUND_HOSTS = 1000
const LATENESS_MS = 5000
const ROUND_MS = 7000
const RULE = 'BenchSpike'
/**
 * Ingest's usage samples (tm_system, stamped now) are flushed once an hour instead of every 10 s: a usage series
 * that hashed to the trigger partition moved its watermark to now, half an hour past the rounds' event time, and
 * every later round's beacons were late (seen: a run stopped after five rounds without an event, 17 late samples).
 */
const USAGE_INTERVAL_MS = 3_600_000

interface BackgroundSpec {
  url: string
  token: string
  hosts: string[]
  samplesPerSec: number
  /** json: 1,000-beacon JSON arrays; msgpack: the same beacons as msgpack (the format for high volume, docs/api.md). */
  format: LoadFormat
}

type LoadFormat = 'json' | 'msgpack'

/** The background load's process: one 1,000-beacon POST every 1000 / (rate / 1000) ms, at most 64 in flight. */
async function backgroundLoad(spec: BackgroundSpec): Promise<void> {
  const requestsPerSec = spec.samplesPerSec / BEACONS_PER_REQUEST
  const beacons = Array.from({ length: 4 }, (_, b) =>
    Array.from({ length: BEACONS_PER_REQUEST }, (_, i) => ({ cpu_usage: 40 + ((i + b) % 20), tags: { host: spec.hosts[(b * BEACONS_PER_REQUEST + i) % spec.hosts.length] } }))
  )
  const bodies: BodyInit[] = beacons.map((batch) => (spec.format === 'msgpack' ? new Blob([new Uint8Array(pack(batch))]) : JSON.stringify(batch)))
  const headers = { authorization: `Bearer ${spec.token}`, 'content-type': spec.format === 'msgpack' ? 'application/msgpack' : 'application/json' }
  let inFlight = 0
  let sent = 0
  let failed = 0
  let ok = 0
  let okAtMark = 0
  let markedAt = 0
  const started = performance.now()
  let stopping = false
  process.on('message', (m) => {
    if (m === 'mark') {
      okAtMark = ok
      markedAt = performance.now()
    } else stopping = true
  })
  while (!stopping) {
    const due = Math.floor(((performance.now() - started) / 1000) * requestsPerSec)
    while (sent < due && inFlight < 64) {
      inFlight++
      const body = bodies[sent % bodies.length] as BodyInit
      sent++
      fetch(`${spec.url}/api/v2/analytics/metrics`, { method: 'POST', headers, body })
        .then(async (r) => {
          await r.arrayBuffer()
          if (r.status !== 200) failed++
          else ok++
        })
        .catch(() => failed++)
        .finally(() => inFlight--)
    }
    await sleep(2)
  }
  const okSinceMark = ok - okAtMark
  const seconds = (performance.now() - markedAt) / 1000
  while (inFlight > 0) await sleep(10)
  process.send?.({ sent, failed, samplesPerSec: (okSinceMark * BEACONS_PER_REQUEST) / seconds })
}

if (process.env.TM_BENCH_TRIGGERS_BACKGROUND) {
  const spec = JSON.parse(process.env.TM_BENCH_TRIGGERS_BACKGROUND) as BackgroundSpec
  void backgroundLoad(spec).then(() => process.disconnect())
}

interface ProbeSpec {
  ingestUrl: string
  ingestToken: string
  natsUrl: string
  /** The admin's nkey seed file: may subscribe to tm.triggers.> . */
  natsSeedFile: string
  tenantId: string
  triggerTags: Record<string, string>
  rounds: number
  /** The first round's grid time (event time, ms), far enough back for every round. */
  base: number
}

interface ProbeResult {
  latencies: number[]
  ingestLeg: number[]
  missed: number
  stoppedAfter?: number
}

/**
 * The rounds, in a process of their own (the autoscaler's side and a client elsewhere): the completing beacon's
 * send and its event's arrival are timed on an event loop that does nothing else. In the Tidemark process
 * (embedded), both timestamps waited for the busy loop they measure, a turn each.
 */
async function probeRounds(spec: ProbeSpec): Promise<ProbeResult> {
  const nc = await connect({ servers: spec.natsUrl, authenticator: nkeyAuthenticator(new TextEncoder().encode(fs.readFileSync(spec.natsSeedFile, 'utf8').trim())) })
  // Events as they reach a plain subscriber (JetStream delivers to core subscribers as it stores).
  const arrivals = new Map<number, number>()
  const sub = nc.subscribe(`tm.triggers.${spec.tenantId}.>`, {
    callback: (_err, msg) => {
      const e = msg.json<TriggerEvent>()
      if (e.rule === RULE && e.state === 'firing' && e.change === 'alert') arrivals.set(e.at, performance.now())
    },
  })
  await nc.flush()
  const postSpike = async (value: number, ts: number): Promise<void> => {
    const r = await fetch(`${spec.ingestUrl}/api/v2/analytics/metrics`, {
      method: 'POST',
      headers: { authorization: `Bearer ${spec.ingestToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ bench_spike: value, ts, tags: spec.triggerTags }),
    })
    await r.arrayBuffer()
    if (r.status !== 200) throw new Error(`trigger beacon: HTTP ${r.status}`)
  }
  const result: ProbeResult = { latencies: [], ingestLeg: [], missed: 0 }
  let missedInARow = 0
  let base = spec.base
  for (let k = 0; k < spec.rounds; k++) {
    base += ROUND_MS
    // The condition's sample at the grid time, then a reset sample after it (the alert resolves before the next round).
    await postSpike(200, base)
    const t0 = performance.now()
    await postSpike(200, base + LATENESS_MS + 1)
    // The ingest leg: until the completing beacon's POST was answered (JetStream holds it).
    result.ingestLeg.push(performance.now() - t0)
    const deadline = t0 + 5000
    while (!arrivals.has(base) && performance.now() < deadline) await sleep(0.5)
    const at = arrivals.get(base)
    if (at === undefined) {
      result.missed++
      missedInARow++
    } else {
      missedInARow = 0
      result.latencies.push(at - t0)
    }
    await postSpike(0, base + LATENESS_MS + 2)
    if ((k + 1) % 25 === 0) process.stderr.write(`  ${k + 1}/${spec.rounds} rounds, last ${result.latencies.at(-1)?.toFixed(1)} ms, ${result.missed} missed\n`)
    if (missedInARow >= 5) {
      result.stoppedAfter = k + 1
      break
    }
  }
  sub.unsubscribe()
  await nc.close()
  return result
}

if (process.env.TM_BENCH_TRIGGERS_PROBE) {
  const spec = JSON.parse(process.env.TM_BENCH_TRIGGERS_PROBE) as ProbeSpec
  void probeRounds(spec).then(
    (result) => process.send?.(result, () => process.disconnect()),
    (err: unknown) => {
      process.stderr.write(`trigger rounds failed: ${err instanceof Error ? err.stack : String(err)}\n`)
      process.exit(1)
    }
  )
}


/** Where the bench talks to Tidemark, whichever way it runs. */
interface Topology {
  name: 'embedded' | 'split'
  ingestUrl: string
  apiUrl: string
  tenant: CreatedTenant
  partitions: number
  /** A connection that may subscribe to tm.triggers.> (admin). */
  nc: NatsConnection
  /** Where the rounds' own process connects as the same admin user. */
  natsUrl: string
  natsSeedFile: string
  /** The engine's stream figures, when it runs in this process. */
  streamStats(): StreamRuntimeStats | undefined
  stop(): Promise<void>
}

async function embedded(anomalyScores: boolean, storageNice: number): Promise<Topology> {
  const stack = await startTidemarkStack({ anomalyScores, storageNice, usageIntervalMs: USAGE_INTERVAL_MS })
  const { natsUrl, natsNkey } = stack.config
  if (natsUrl === undefined || natsNkey === undefined) throw new Error('the bench stack connects to its nats-server with an nkey')
  return {
    name: 'embedded',
    ingestUrl: stack.url,
    apiUrl: stack.url,
    tenant: stack.tenant,
    partitions: stack.config.partitions,
    nc: stack.app.runtime.nc,
    natsUrl,
    natsSeedFile: natsNkey,
    streamStats: () => stack.app.stream?.stats(),
    stop: () => stack.stop(),
  }
}

const TIDEMARK_BIN = new URL('../bin/tidemark.mjs', import.meta.url).pathname

/** Starts `tidemark <roles>` and answers its URL once it logs "tidemark ready". */
function startProcess(roles: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [TIDEMARK_BIN, ...roles], { env: { ...env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      out += chunk
      const match = /"url":"(http:\/\/[^"]+)".*"msg":"tidemark ready"/.exec(out)
      if (match) {
        resolve({ url: match[1] as string, child })
        out = ''
      } else if (out.length > 1_000_000) out = out.slice(-100_000)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`tidemark ${roles.join(' ')} exited with ${code}: ${out.slice(-2000)}`)))
  })
}

async function split(storageNice: number): Promise<Topology> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-split-'))
  const adminToken = randomBytes(24).toString('hex')
  const nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir: path.join(root, 'nats') })
  const children: ChildProcess[] = []
  const seedOf = (user: 'admin' | 'ingest'): string => {
    const auth = nats.authFor(user)
    if (auth.kind !== 'nkey') throw new Error('the supervised server has nkey users')
    return auth.seedFile
  }
  const env = (user: 'admin' | 'ingest', dir: string): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NATS_URL: nats.url,
    NATS_NKEY: seedOf(user),
    PORT: '0',
    HOST: '127.0.0.1',
    TIDEMARK_ADMIN_TOKEN: adminToken,
    TIDEMARK_DATA_DIR: path.join(root, dir),
    TIDEMARK_STORAGE_NICE: String(storageNice),
    TIDEMARK_USAGE_INTERVAL_MS: String(USAGE_INTERVAL_MS),
  })
  const stop = async (): Promise<void> => {
    for (const c of children) c.kill('SIGTERM')
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)))
    await nats.stop()
    fs.rmSync(root, { recursive: true, force: true })
  }
  try {
    // The engine (with query, sharing its chDB) first: it creates the streams the ingest process waits for.
    const engine = await startProcess(['engine', 'query'], env('admin', 'engine'))
    children.push(engine.child)
    const ingest = await startProcess(['ingest'], env('ingest', 'ingest'))
    children.push(ingest.child)
    const created = await fetch(`${engine.url}/api/v2/tenants`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench' }) })
    if (created.status !== 201) throw new Error(`creating the bench tenant failed: ${created.status} ${await created.text()}`)
    const tenant = (await created.json()) as CreatedTenant
    const nc = await connect({ servers: nats.url, authenticator: nkeyAuthenticator(new TextEncoder().encode(fs.readFileSync(seedOf('admin'), 'utf8').trim())) })
    return {
      name: 'split',
      ingestUrl: ingest.url,
      apiUrl: engine.url,
      tenant,
      partitions: 16,
      nc,
      natsUrl: nats.url,
      natsSeedFile: seedOf('admin'),
      streamStats: () => undefined,
      stop: async () => {
        await nc.close()
        await stop()
      },
    }
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
}

/** Waits (up to a minute) until the partition's log ends with a config marker: the tenant's rule is in effect from there. */
async function markedIn(nc: NatsConnection, partition: number): Promise<void> {
  const jsm = await jetstreamManager(nc)
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const last = await jsm.streams.getMessage(BEACONS_STREAM, { last_by_subj: beaconSubject(partition) }).catch(() => undefined)
    if (last?.header?.get(KIND_HEADER) === CONFIG_KIND) return
    await sleep(100)
  }
  throw new Error(`partition ${partition}: the rule change was not marked within a minute`)
}

const round2 = (n: number): number => Math.round(n * 100) / 100

export async function triggersScenario(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '300' },
      rate: { type: 'string', default: '100000' },
      warmup: { type: 'string', default: '3' },
      topology: { type: 'string', default: 'embedded' },
      anomaly: { type: 'string', default: 'on' },
      'storage-nice': { type: 'string', default: '19' },
      'load-nice': { type: 'string', default: '19' },
      'load-format': { type: 'string', default: 'json' },
    },
  })
  const loadFormat = values['load-format'] as LoadFormat
  if (loadFormat !== 'json' && loadFormat !== 'msgpack') throw new RangeError(`--load-format is json or msgpack (got "${loadFormat}")`)
  if (values.topology !== 'embedded' && values.topology !== 'split') throw new RangeError(`--topology is embedded or split (got "${values.topology}")`)
  if (values.anomaly !== 'on' && values.anomaly !== 'off') throw new RangeError(`--anomaly is on or off (got "${values.anomaly}")`)
  const niceOf = (name: 'storage-nice' | 'load-nice'): number => {
    const n = Number(values[name])
    if (!Number.isInteger(n) || n < 0 || n > 19) throw new RangeError(`--${name} is a whole number from 0 to 19 (got "${values[name]}")`)
    return n
  }
  const storageNice = niceOf('storage-nice')
  const loadNice = niceOf('load-nice')
  const rounds = Number(values.rounds)
  const rate = Number(values.rate)
  const stack = values.topology === 'split' ? await split(storageNice) : await embedded(values.anomaly === 'on', storageNice)
  const problems: string[] = []
  // Killed in finally if a round throws: its IPC channel would otherwise keep this process alive (seen: a bench
  // that failed on a 503 hung with its load still running).
  let background: ChildProcess | undefined
  let prober: ChildProcess | undefined
  try {
    const { tenant, partitions } = stack
    const adminHeaders = { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' }
    const put = await fetch(`${stack.apiUrl}/api/v2/rules`, {
      method: 'PUT',
      headers: adminHeaders,
      body: JSON.stringify({ groups: [{ name: 'bench', interval: '1s', rules: [{ alert: RULE, expr: 'bench_spike > 100', labels: { severity: 'bench' } }] }] }),
    })
    if (put.status !== 200) throw new Error(`PUT /api/v2/rules: ${put.status} ${await put.text()}`)
    const triggerTags = { host: 'trigger' }
    const triggerPartition = partitionOf(tenant.id, seriesKey('bench_spike', triggerTags), partitions)
    // The rule takes effect where its change is marked in the partition's log (docs/stream.md, Config markers):
    // wait for the trigger partition's marker before the rounds, or the first ones would be decided without it.
    await markedIn(stack.nc, triggerPartition)
    const hosts: string[] = []
    for (let i = 0; hosts.length < BACKGROUND_HOSTS; i++) {
      const host = `bg-${i}`
      if (partitionOf(tenant.id, seriesKey('cpu_usage', { host }), partitions) !== triggerPartition) hosts.push(host)
    }

    const loadProcess = fork(new URL(import.meta.url), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, TM_BENCH_TRIGGERS_BACKGROUND: JSON.stringify({ url: stack.ingestUrl, token: tenant.ingestToken, hosts, samplesPerSec: rate, format: loadFormat } satisfies BackgroundSpec) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    background = loadProcess
    if (loadNice > 0 && loadProcess.pid !== undefined) os.setPriority(loadProcess.pid, loadNice)
    const backgroundDone = new Promise<{ sent: number; failed: number; samplesPerSec: number }>((resolve) =>
      loadProcess.once('message', (m) => resolve(m as { sent: number; failed: number; samplesPerSec: number }))
    )
    process.stderr.write(`  background load: ${rate.toLocaleString('en-US')} samples/s over ${hosts.length} hosts; warming up ${values.warmup} s\n`)
    await sleep(Number(values.warmup) * 1000)

    // Past event time, on the 1 s grid, far enough back for every round.
    const base = Math.floor((Date.now() - (rounds + 10) * ROUND_MS) / 1000) * 1000
    const probe = fork(new URL(import.meta.url), [], {
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        TM_BENCH_TRIGGERS_PROBE: JSON.stringify({
          ingestUrl: stack.ingestUrl,
          ingestToken: tenant.ingestToken,
          natsUrl: stack.natsUrl,
          natsSeedFile: stack.natsSeedFile,
          tenantId: tenant.id,
          triggerTags,
          rounds,
          base,
        } satisfies ProbeSpec),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    prober = probe
    const probeDone = new Promise<ProbeResult>((resolve, reject) => {
      probe.once('message', (m) => resolve(m as ProbeResult))
      probe.once('exit', (code) => reject(new Error(`the trigger rounds' process exited with ${code} before answering`)))
    })
    loadProcess.send('mark')
    const cpuStart = cpuSnapshot()
    // The Tidemark process is this one when embedded: how long its event loop (ingest, storage, readers, leases) was held up.
    const loopDelay = monitorEventLoopDelay({ resolution: 10 })
    loopDelay.enable()
    const measureStart = performance.now()
    const { latencies, ingestLeg, missed, stoppedAfter } = await probeDone
    const measuredSec = (performance.now() - measureStart) / 1000
    const cpu = cpuSince(cpuStart)
    loopDelay.disable()
    loadProcess.send('stop')
    const load = await backgroundDone
    // Acknowledged by ingest (a 200 means JetStream holds them) over the measured rounds.
    const backgroundSamplesPerSec = load.samplesPerSec
    if (stoppedAfter !== undefined) problems.push(`stopped after round ${stoppedAfter}: five rounds in a row saw no event within 5 s (the engine is not keeping up)`)
    if (missed > 0) problems.push(`${missed} of ${rounds} rounds saw no event within 5 s`)
    if (load.failed > 0) problems.push(`${load.failed} background requests failed`)
    const sorted = [...latencies].sort((a, b) => a - b)
    const streamStats = stack.streamStats()
    const results = {
      p50Ms: round2(quantile(sorted, 0.5)),
      p99Ms: round2(quantile(sorted, 0.99)),
      backgroundSamplesPerSec: Math.round(backgroundSamplesPerSec),
      targetSamplesPerSec: rate,
      topology: stack.name,
      anomalyScores: values.anomaly === 'on',
      storageNice,
      loadNice,
      loadFormat,
      rounds,
      measured: latencies.length,
      maxMs: round2(sorted.at(-1) ?? NaN),
      p90Ms: round2(quantile(sorted, 0.9)),
      ingestLegMs: (() => {
        const leg = [...ingestLeg].sort((a, b) => a - b)
        return { p50: round2(quantile(leg, 0.5)), p99: round2(quantile(leg, 0.99)) }
      })(),
      measuredSec: round2(measuredSec),
      backgroundRequests: load,
      serverCpu: cpu,
      // The Tidemark process's event loop only when it is this process (embedded).
      eventLoopDelayMs: stack.name !== 'embedded' ? undefined : { p50: round2(loopDelay.percentile(50) / 1e6), p99: round2(loopDelay.percentile(99) / 1e6), max: round2(loopDelay.max / 1e6) },
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
        `  of which the POST until JetStream held the beacon: p50 ${results.ingestLegMs.p50} ms, p99 ${results.ingestLegMs.p99} ms\n` +
        `  background ${results.backgroundSamplesPerSec.toLocaleString('en-US')} samples/s (target ${rate.toLocaleString('en-US')})\n` +
        (results.eventLoopDelayMs ? `  event loop delay p99 ${results.eventLoopDelayMs.p99} ms, max ${results.eventLoopDelayMs.max} ms; server CPU ${JSON.stringify(cpu)}\n` : '') +
        `  written to ${file}\n` +
        (problems.length > 0 ? `  PROBLEMS: ${problems.join('; ')}\n` : '')
    )
    return problems.length === 0 ? 0 : 1
  } finally {
    for (const child of [background, prober]) if (child && child.exitCode === null && child.signalCode === null) child.kill()
    await stack.stop()
  }
}
