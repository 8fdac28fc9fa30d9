// The ingest-batch scenario: how many samples a second POST /api/v2/analytics/metrics
// takes as msgpack bodies of 1,000 beacons, with the ingest role alone in its own
// process (`tidemark ingest`, bench/ingest-process.ts: no storage consuming, no
// query), as a share of what raw JetStream
// publishing of the same batches achieves from the same client library (NATS.js,
// same connection, same message ids, acks awaited) on the same machine in the
// same run. The baseline is the ceiling: ingest adds HTTP, auth, msgpack decode,
// schema validation, partitioning and encoding in front of the same publishes.
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { jetstream } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { pack } from 'msgpackr'
import { beaconSubject, encodeBatch, loadConfig, partitionOf, seriesKey, type Sample } from '../engine/index.ts'
// The connection ingest makes (same client options), for the raw publishing it is measured against.
import { connectNats } from '../engine/nats/jetstream-setup.ts'
import { pidCpuSeconds } from './cpu-usage.ts'
import { startIngestProcess, type IngestProcess } from './ingest-process.ts'
import type { BatchLoadResult, BatchLoadSpec } from './ingest-batch-load.ts'
import { int, machineInfo, writeResults } from './report.ts'

const HELP = `npm run bench -- ingest-batch [--duration N] [--warmup N] [--connections N] [--beacons N] [--cpu-prof DIR]

msgpack bodies of --beacons beacons (default 1000, 2 metrics each, 100 series) posted to
the ingest role alone, against raw JetStream publishing of the same batches from the
same client; writes bench/results/ingest-batch.json. --cpu-prof DIR writes a CPU
profile of the ingest process (node --cpu-prof) into DIR.
`

const LOAD = new URL('./ingest-batch-load.ts', import.meta.url)

function beacons(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({ page_views: 1, load_time: i % 1000, tags: { page: `/p${i % 50}` } }))
}

/** The batches ingest makes of one body: its samples by partition, at most `maxSamples` a message. */
interface Batch {
  partition: number
  data: Uint8Array
}

function batchesOf(tenant: string, list: Record<string, unknown>[], partitions: number, maxSamples: number): Batch[] {
  const byPartition = new Map<number, Sample[]>()
  const now = Date.now()
  for (const beacon of list) {
    const tags = beacon.tags as Record<string, string>
    for (const [name, value] of Object.entries(beacon)) {
      if (name === 'tags') continue
      const partition = partitionOf(tenant, seriesKey(name, tags), partitions)
      let samples = byPartition.get(partition)
      if (!samples) byPartition.set(partition, (samples = []))
      samples.push([tenant, name, now, value as number, tags, now])
    }
  }
  const batches: Batch[] = []
  for (const [partition, samples] of byPartition) {
    for (let i = 0; i < samples.length; i += maxSamples) batches.push({ partition, data: encodeBatch(samples.slice(i, i + maxSamples)) })
  }
  return batches
}

/** Publishes the batches round and round with `window` publishes awaiting their ack, for durationSec; samples a second. */
async function rawPublish(nc: NatsConnection, batches: Batch[], samplesPerBody: number, window: number, durationSec: number): Promise<number> {
  const js = jetstream(nc)
  const prefix = randomBytes(6).toString('hex')
  let sequence = 0
  let bodies = 0
  const end = Date.now() + durationSec * 1000
  const started = Date.now()
  // One "body" is the set of batches one request makes: published together, as ingest would.
  const worker = async (): Promise<void> => {
    while (Date.now() < end) {
      await Promise.all(batches.map((b) => js.publish(beaconSubject(b.partition), b.data, { msgID: `${prefix}-${++sequence}` })))
      bodies++
    }
  }
  await Promise.all(Array.from({ length: window }, worker))
  return (bodies * samplesPerBody) / ((Date.now() - started) / 1000)
}

/** The load's result, with the CPU seconds its process used (read as it reports, warm-up included). */
function runLoad(spec: BatchLoadSpec): Promise<BatchLoadResult & { loadGeneratorCpuSec?: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(LOAD, [JSON.stringify(spec)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    let result: (BatchLoadResult & { loadGeneratorCpuSec?: number }) | undefined
    child.on('message', (message: BatchLoadResult) => (result = { ...message, loadGeneratorCpuSec: child.pid === undefined ? undefined : pidCpuSeconds(child.pid) }))
    child.on('error', reject)
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`the load process exited with code ${code}`))))
  })
}

export async function ingestBatchScenario(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '16' },
      beacons: { type: 'string', default: '1000' },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(HELP)
    return 0
  }
  const durationSec = Number(values.duration)
  const warmupSec = Number(values.warmup)
  const connections = Number(values.connections)
  const beaconCount = Number(values.beacons)
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-batch-'))
  let ingest: IngestProcess | undefined
  let nc: NatsConnection | undefined
  try {
    // Quotas off: the figure is the tier's, not a tenant's limit. The defaults otherwise, as `tidemark ingest` reads them.
    const env = { TIDEMARK_QUOTA_SAMPLES_PER_SEC: '0' }
    const config = loadConfig(env)
    ingest = await startIngestProcess({ env, cpuProfileDir: values['cpu-prof'] === undefined ? undefined : path.resolve(values['cpu-prof']) })
    const { tenant } = ingest
    nc = await connectNats(ingest.nats.url, 'tidemark-bench-raw-publish', { auth: ingest.nats.auth })
    const list = beacons(beaconCount)
    const bodyFile = path.join(root, 'body.msgpack')
    fs.writeFileSync(bodyFile, pack(list))
    const samplesPerBody = beaconCount * 2
    const batches = batchesOf(tenant.id, list, config.partitions, config.publishBatchSamples)

    process.stderr.write(`  raw JetStream publish of the same ${batches.length} batches a body, ${connections} bodies in flight: ${warmupSec + durationSec} s\n`)
    await rawPublish(nc, batches, samplesPerBody, connections, warmupSec)
    const baselinePerSec = await rawPublish(nc, batches, samplesPerBody, connections, durationSec)

    process.stderr.write(`  POST msgpack bodies of ${beaconCount} beacons, ${connections} connections: ${warmupSec + durationSec} s\n`)
    const cpuBefore = { ingest: pidCpuSeconds(ingest.pid), nats: ingest.nats.pid === undefined ? undefined : pidCpuSeconds(ingest.nats.pid), at: Date.now() }
    const load = await runLoad({
      url: `${ingest.url}/api/v2/analytics/metrics`,
      headers: { authorization: `Bearer ${tenant.ingestToken}`, 'content-type': 'application/msgpack' },
      bodyFile,
      connections,
      durationSec,
      warmupSec,
    })
    // Over warm-up and measured run together (the load process runs both): 100 = one core.
    const cpuPct = (before: number | undefined, pid: number | undefined): number | undefined => {
      const now = pid === undefined ? undefined : pidCpuSeconds(pid)
      return before === undefined || now === undefined ? undefined : Math.round(((now - before) / ((Date.now() - cpuBefore.at) / 1000)) * 1000) / 10
    }
    const seconds = (Date.now() - cpuBefore.at) / 1000
    const ingestNow = pidCpuSeconds(ingest.pid)
    const ingestCpuSec = ingestNow === undefined || cpuBefore.ingest === undefined ? undefined : ingestNow - cpuBefore.ingest
    const cpu = {
      ingestProcessPct: cpuPct(cpuBefore.ingest, ingest.pid),
      natsServerPct: cpuPct(cpuBefore.nats, ingest.nats.pid),
      // autocannon's process from its start (about a second of loading TypeScript included).
      loadGeneratorPct: load.loadGeneratorCpuSec === undefined ? undefined : Math.round((load.loadGeneratorCpuSec / seconds) * 1000) / 10,
    }
    const samplesPerSec = (load.ok * samplesPerBody) / load.durationSec
    const ratio = samplesPerSec / baselinePerSec
    const problems = [
      ...(load.non2xx > 0 ? [`${load.non2xx} non-2xx answers: ${JSON.stringify(load.statusCodes)}`] : []),
      ...(load.errors > 0 ? [`${load.errors} requests got no answer`] : []),
    ]
    const file = writeResults('ingest-batch', {
      scenario: 'ingest-batch',
      durationSec,
      warmupSec,
      connections,
      beaconsPerBody: beaconCount,
      samplesPerBody,
      bodyBytes: fs.statSync(bodyFile).size,
      batchesPerBody: batches.length,
      samplesPerSec,
      baselinePerSec,
      ratio,
      requestsPerSec: load.ok / load.durationSec,
      latencyMs: load.latencyMs,
      non2xx: load.non2xx,
      errors: load.errors,
      cpu,
      // CPU milliseconds of the ingest process per body answered (warm-up included in both): steadier than the rate on a shared machine.
      ingestCpuMsPerBody: ingestCpuSec === undefined ? undefined : Math.round((ingestCpuSec / (load.ok + load.warmupOk)) * 1e4) / 10,
      tidemarkConfig: { partitions: config.partitions, publishBatchSamples: config.publishBatchSamples, roles: ['ingest'], env },
      machine: machineInfo(),
      finishedAt: new Date().toISOString(),
    })
    process.stdout.write(
      `\ningest-batch  ${int(samplesPerSec)} samples/s (${int(load.ok / load.durationSec)} bodies/s, p50 ${load.latencyMs.p50} ms, p99 ${load.latencyMs.p99} ms)\n` +
        `raw publish   ${int(baselinePerSec)} samples/s (the same ${batches.length} batches a body, NATS.js, acks awaited)\n` +
        `ratio         ${ratio.toFixed(3)}\n` +
        `CPU           ingest process ${cpu.ingestProcessPct ?? '?'}%, nats-server ${cpu.natsServerPct ?? '?'}%, load generator ${cpu.loadGeneratorPct ?? '?'}% (100 = one core, over the POST load); ingest ${ingestCpuSec === undefined ? '?' : ((ingestCpuSec / (load.ok + load.warmupOk)) * 1000).toFixed(2)} ms CPU a body\n\nresults: ${file}\n`
    )
    if (problems.length > 0) process.stdout.write(`\n!! THIS RUN HAD ERRORS:\n${problems.map((p) => `!!   ${p}\n`).join('')}`)
    return problems.length === 0 ? 0 : 1
  } finally {
    await nc?.close().catch(() => {})
    await ingest?.stop().catch(() => {})
    fs.rmSync(root, { recursive: true, force: true })
  }
}
