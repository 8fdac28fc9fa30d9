// The e2e scenario: msgpack batches from HTTP to queryable, sustained, on the
// embedded stack (`tidemark start`'s roles in one process: ingest, engine,
// storage and query, chDB in process), beside raw chDB inserts of the same
// rows in the same run.
//
// 1. Starts the stack (bench/tidemark-stack.ts), tenant quota off: the figure
//    is the pipeline's, not a tenant's limit.
// 2. Baseline: the rows of the load's body, 100,000 a statement (storage's
//    largest insert), encoded once to RowBinary by storage's own encoder and
//    inserted again and again under fresh tokens into the same samples table
//    (its rollup views included) with storage's own statement. Timed is the
//    INSERT alone.
// 3. Load: a child process (bench/e2e-load.ts) posts msgpack bodies of
//    --beacons beacons on --connections connections; warm-up, then measured.
//    While measured, it also sends probes (one beacon with a tag of its own)
//    and polls GET /api/v2/analytics/aggregate until each is counted.
// 4. After the load, waits until ClickHouse holds every published sample.
//
// samplesPerSec is the load's samples that reached ClickHouse from the start of
// the measured load until storage settled after it, over that time: a backlog
// left at the end is paid for, so the rate is what the whole pipeline sustains,
// not what ingest accepted. The engine's anomaly scores (a row for every sample
// it scores) are rows storage writes too, but not samples anyone sent: they are
// counted apart (rowsPerSec).
//
// Run: npm run bench -- e2e [--duration 20] [--warmup 3] [--connections 8] [--beacons 1000] </dev/null
// Writes bench/results/e2e.json {samplesPerSec, rawInsertPerSec, freshnessMs: {p50, p99}}, and
// bench/results/e2e-detail.json with everything behind them.
import { fork } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { pack } from 'msgpackr'
import type { ClickHouseStore, Sample } from '../engine/index.ts'
import { insertFile, rowBinaryFile } from './direct-insert.ts'
import { cpuSince, cpuSnapshot } from './cpu-usage.ts'
import { wholeNumberFlags } from './flags.ts'
import type { E2eLoadResult, E2eLoadSpec, E2eProgress } from './e2e-load.ts'
import { int, machineInfo, quantile, writeResults } from './report.ts'
import { startTidemarkStack } from './tidemark-stack.ts'

const HELP = `npm run bench -- e2e [--duration N] [--warmup N] [--connections N] [--beacons N] [--raw-seconds N] [--rate N]   (</dev/null)

msgpack bodies of --beacons beacons (default 1000, 2 metrics each) posted on --connections
connections (default 8) to the embedded stack for --duration seconds (default 20) after
--warmup (default 3), with freshness probes; beside raw chDB inserts of the same rows for
--raw-seconds (default 5). --rate N offers at most N samples a second (paced, open loop;
default 0: as fast as the connections are answered), to read freshness below saturation.
Writes bench/results/e2e.json.
`

const LOAD = new URL('./e2e-load.ts', import.meta.url)
/** Rows in one raw insert: storage's largest (storageBatchRows' default). */
const RAW_BATCH_ROWS = 100_000

/** The load's body: the ingest-batch scenario's beacons (2 metrics, 50 pages). */
function beacons(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({ page_views: 1, load_time: i % 1000, tags: { page: `/p${i % 50}` } }))
}

/** The samples ingest makes of those beacons, repeated to `rows`. */
function samplesOf(tenant: string, list: Record<string, unknown>[], rows: number): Sample[] {
  const now = Date.now()
  const samples: Sample[] = []
  while (samples.length < rows) {
    for (const beacon of list) {
      const tags = beacon.tags as Record<string, string>
      for (const [name, value] of Object.entries(beacon)) if (name !== 'tags' && samples.length < rows) samples.push([tenant, name, now, value as number, tags, now])
    }
  }
  return samples
}

/** Raw inserts of `samples` (one RowBinary file, storage's statement) for about `seconds`: rows a second of the INSERTs alone. */
async function rawInsertRate(store: ClickHouseStore, dir: string, samples: Sample[], seconds: number): Promise<{ perSec: number; rows: number; inserts: number; insertMs: number[] }> {
  const { file, rows } = await rowBinaryFile(dir, samples)
  try {
    const insertMs: number[] = []
    const started = performance.now()
    while (performance.now() - started < seconds * 1000 || insertMs.length < 2) insertMs.push(await insertFile(store, file, `e2e-raw-${process.pid}-${insertMs.length}`))
    const totalMs = insertMs.reduce((a, b) => a + b, 0)
    return { perSec: (rows * insertMs.length) / (totalMs / 1000), rows: rows * insertMs.length, inserts: insertMs.length, insertMs }
  } finally {
    fs.rmSync(file, { force: true })
  }
}

export async function e2eScenario(argv: string[]): Promise<number> {
  const flags = wholeNumberFlags(
    argv,
    {
      duration: { default: 20, min: 1 },
      warmup: { default: 3, min: 0 },
      connections: { default: 8, min: 1 },
      beacons: { default: 1000, min: 1 },
      'raw-seconds': { default: 5, min: 1 },
      rate: { default: 0, min: 0 },
    },
    HELP
  )
  if (typeof flags === 'number') return flags
  const { duration: durationSec, warmup: warmupSec, connections, beacons: beaconCount, 'raw-seconds': rawSeconds, rate: offeredSamplesPerSec } = flags

  const stack = await startTidemarkStack({ quotaSamplesPerSec: 0 })
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-e2e-'))
  try {
    const { app, tenant } = stack
    const store = app.runtime.store
    const storage = app.storage
    if (!store || !storage) throw new Error('the stack started without storage')
    const list = beacons(beaconCount)
    const samplesPerBody = beaconCount * 2

    process.stderr.write(`  raw chDB inserts of the same rows, ${int(RAW_BATCH_ROWS)} a statement (RowBinary file, storage's statement): ${rawSeconds} s\n`)
    const raw = await rawInsertRate(store, path.join(scratch, 'raw'), samplesOf('e2e-raw-insert', list, RAW_BATCH_ROWS), rawSeconds)
    process.stderr.write(`  raw chDB inserts: ${int(raw.perSec)} rows/s over ${raw.inserts} inserts\n`)

    const bodyFile = path.join(scratch, 'body.msgpack')
    fs.writeFileSync(bodyFile, pack(list))
    const spec: E2eLoadSpec = {
      url: app.url,
      ingestToken: tenant.ingestToken,
      apiKey: tenant.apiKey,
      bodyFile,
      connections,
      bodiesPerSec: offeredSamplesPerSec / samplesPerBody,
      probeGapMs: 250,
      pollMs: 50,
      probeTimeoutMs: 30_000,
    }
    process.stderr.write(`  POST msgpack bodies of ${beaconCount} beacons (${int(samplesPerBody)} samples) on ${connections} connections${offeredSamplesPerSec > 0 ? `, paced to ${int(offeredSamplesPerSec)} samples/s` : ''}: ${warmupSec} s warm-up, ${durationSec} s measured with freshness probes\n`)
    const child = fork(LOAD, [JSON.stringify(spec)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    let result: E2eLoadResult | undefined
    let lastOk = 0
    let lastRows = storage.stats.rows
    let lastAt = performance.now()
    const loadStarted = performance.now()
    child.on('message', (message: E2eProgress | E2eLoadResult) => {
      if (message.kind === 'done') {
        result = message
        return
      }
      const now = performance.now()
      const seconds = (now - lastAt) / 1000
      // Two reports close together (the child's timer caught up after a stall): wait for the next.
      if (seconds < 0.5) return
      const rows = storage.stats.rows
      const published = app.publisher?.stats.samples ?? 0
      process.stderr.write(
        `  e2e ${String(Math.round((now - loadStarted) / 1000)).padStart(4)} s  accepted ${int(((message.ok - lastOk) * samplesPerBody) / seconds).padStart(9)} samples/s` +
          `  stored ${int((rows - lastRows) / seconds).padStart(9)} rows/s  behind ${int(Math.max(0, published - rows)).padStart(9)}` +
          `  probes ${message.probes}${message.lastFreshnessMs === null ? '' : ` (last ${message.lastFreshnessMs} ms)`}\n`
      )
      lastOk = message.ok
      lastRows = rows
      lastAt = now
    })
    const exited = new Promise<number | null>((resolve, reject) => {
      child.on('error', reject)
      child.on('exit', resolve)
    })
    await new Promise((resolve) => setTimeout(resolve, warmupSec * 1000))
    const rowsAtStart = storage.stats.rows
    const samplesAtStart = await stack.storedSamples()
    const measureStarted = performance.now()
    const cpuStart = cpuSnapshot()
    child.send('measure')
    await new Promise((resolve) => setTimeout(resolve, durationSec * 1000))
    child.send('stop')
    const code = await exited
    if (!result) throw new Error(`the load process exited with code ${code} and no result`)
    const catchUp = await stack.waitForStorage()
    const settledAt = performance.now()
    const cpu = cpuSince(cpuStart)
    const windowSec = (settledAt - measureStarted) / 1000
    const storedSamples = (catchUp.complete ? catchUp.stored : await stack.storedSamples()) - samplesAtStart
    const storedRows = storage.stats.rows - rowsAtStart
    const samplesPerSec = storedSamples / windowSec
    const fresh = [...result.freshnessMs].sort((a, b) => a - b)
    const freshnessMs = { p50: quantile(fresh, 0.5), p99: quantile(fresh, 0.99) }
    const problems = [
      ...(result.non2xx > 0 ? [`${result.non2xx} non-2xx answers: ${JSON.stringify(result.statusCodes)}`] : []),
      ...(result.errors > 0 ? [`${result.errors} requests got no answer`] : []),
      ...(result.probeTimeouts > 0 ? [`${result.probeTimeouts} probes not visible within ${spec.probeTimeoutMs} ms`] : []),
      ...(fresh.length === 0 ? ['no probe became visible'] : []),
      ...(!catchUp.complete ? [`storage stopped making progress: ${catchUp.stored} of ${catchUp.published} samples stored`] : []),
      ...(catchUp.complete && catchUp.stored !== catchUp.published ? [`stored ${catchUp.stored} samples, published ${catchUp.published}`] : []),
    ]
    const file = writeResults('e2e', { samplesPerSec, rawInsertPerSec: raw.perSec, freshnessMs })
    writeResults('e2e-detail', {
      scenario: 'e2e',
      samplesPerSec,
      rawInsertPerSec: raw.perSec,
      ratio: samplesPerSec / raw.perSec,
      freshnessMs: { ...freshnessMs, max: fresh.at(-1) ?? null, probes: fresh.length, timeouts: result.probeTimeouts, pollMs: spec.pollMs, pollsPerProbe: result.pollsPerProbe },
      acceptedSamplesPerSec: (result.ok * samplesPerBody) / result.measuredSec,
      requestsPerSec: result.ok / result.measuredSec,
      latencyMs: result.latencyMs,
      // Every row storage wrote in the window: the samples, the engine's anomaly scores of them, ingest's usage.
      rowsPerSec: storedRows / windowSec,
      window: { measuredSec: result.measuredSec, drainSec: (settledAt - measureStarted) / 1000 - result.measuredSec, storedSamples, storedRows },
      storage: { stored: catchUp.stored, published: catchUp.published, catchUpMs: catchUp.catchUpMs, inserts: storage.stats.inserts },
      raw: { rowsPerInsert: RAW_BATCH_ROWS, inserts: raw.inserts, insertMs: raw.insertMs.map(Math.round) },
      durationSec,
      warmupSec,
      connections,
      offeredSamplesPerSec: offeredSamplesPerSec > 0 ? offeredSamplesPerSec : null,
      beaconsPerBody: beaconCount,
      samplesPerBody,
      non2xx: result.non2xx,
      errors: result.errors,
      cpu,
      tidemarkConfig: { partitions: stack.config.partitions, storageBatchRows: stack.config.storageBatchRows, storageLingerMs: stack.config.storageLingerMs, quotaSamplesPerSec: 0 },
      clean: problems.length === 0,
      problems,
      machine: machineInfo(),
      finishedAt: new Date().toISOString(),
    })
    process.stdout.write(
      `\ne2e            ${int(samplesPerSec)} samples/s HTTP to queryable (${int(storedSamples)} samples over ${windowSec.toFixed(1)} s: ${result.measuredSec.toFixed(1)} s of load and its drain)\n` +
        `stored rows    ${int(storedRows / windowSec)} rows/s (the samples, the engine's anomaly scores of them, usage)\n` +
        `accepted       ${int((result.ok * samplesPerBody) / result.measuredSec)} samples/s (${int(result.ok / result.measuredSec)} bodies/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms)\n` +
        `raw insert     ${int(raw.perSec)} rows/s (chDB, RowBinary file, ${int(RAW_BATCH_ROWS)} rows a statement, rollups included)\n` +
        `ratio          ${(samplesPerSec / raw.perSec).toFixed(3)}\n` +
        `freshness      p50 ${freshnessMs.p50} ms, p99 ${freshnessMs.p99} ms over ${fresh.length} probes (2xx to counted by the aggregate API, polled every ${spec.pollMs} ms)\n` +
        `cpu            bench process ${cpu.benchProcessPct} % (100 = one core), machine busy ${cpu.machineBusyPct ?? '?'} %, steal ${cpu.machineStealPct ?? '?'} %\n\nresults: ${file}\n`
    )
    if (problems.length > 0) process.stdout.write(`\n!! THIS RUN HAD ERRORS:\n${problems.map((p) => `!!   ${p}\n`).join('')}`)
    return problems.length === 0 ? 0 : 1
  } finally {
    await stack.stop().catch(() => {})
    fs.rmSync(scratch, { recursive: true, force: true })
  }
}
