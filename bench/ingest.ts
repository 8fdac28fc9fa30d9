// The ingest scenario: how many beacons per second POST /api/v2/analytics/metrics
// takes with the real path behind it (auth, schema validation, JetStream publish
// acknowledged before the 2xx, storage into chDB in the same process), as a
// share of what a bare fastify route parsing the same body takes on the same
// machine in the same run. Each variant loads the baseline first, then Tidemark,
// then waits for storage to catch up, so no load overlaps another's leftovers.
import { startBaselineServer, type BaselineServer } from './baseline-server.ts'
import { runLoad, type LoadResult } from './load.ts'
import { sampleCountProblems } from './sample-count.ts'
import { int, machineInfo, printSummary, writeResults, type SummaryRow } from './report.ts'
import { startTidemarkStack, type StorageCatchUp, type TidemarkStack } from './tidemark-stack.ts'

export interface IngestOptions {
  durationSec: number
  warmupSec: number
  connections: number
  /** Beacons per request of the extra batched variant; 0 skips it. */
  batch: number
}

/** Two metrics, so one beacon is two samples. */
const BEACON = { page_views: 1, load_time: 420 }
const SAMPLES_PER_BEACON = Object.keys(BEACON).length

interface VariantResult {
  name: string
  beaconsPerRequest: number
  beaconsPerSec: number
  samplesPerSec: number
  requestsPerSec: number
  baselinePerSec: number
  ratio: number
  latencyMs: LoadResult['latencyMs']
  baselineLatencyMs: LoadResult['latencyMs']
  /** Samples of 2xx answers, warm-up included: every one must reach ClickHouse. */
  acceptedSamples: number
  storage: StorageCatchUp
  tidemark: LoadResult
  baseline: LoadResult
}

async function measureVariant(
  stack: TidemarkStack,
  baseline: BaselineServer,
  options: IngestOptions,
  name: string,
  beaconsPerRequest: number,
  /** Storage totals before this variant: the stack's counts are cumulative. */
  before: Pick<StorageCatchUp, 'stored' | 'published'>
): Promise<VariantResult> {
  const body = JSON.stringify(beaconsPerRequest === 1 ? BEACON : Array.from({ length: beaconsPerRequest }, () => BEACON))
  const load = { body, connections: options.connections, durationSec: options.durationSec, warmupSec: options.warmupSec }
  const json = { 'content-type': 'application/json' }
  const base = await runLoad({ ...load, label: `baseline ${name}`, url: baseline.url, headers: json })
  const tidemark = await runLoad({
    ...load,
    label: `tidemark ${name}`,
    url: `${stack.url}/api/v2/analytics/metrics`,
    headers: { ...json, authorization: `Bearer ${stack.tenant.ingestToken}` },
  })
  const storage = await stack.waitForStorage()
  // Rates count 2xx only: a refused beacon was not ingested.
  const beaconsPerSec = (tidemark.ok * beaconsPerRequest) / tidemark.durationSec
  const baselinePerSec = (base.ok * beaconsPerRequest) / base.durationSec
  return {
    name,
    beaconsPerRequest,
    beaconsPerSec: Math.round(beaconsPerSec),
    samplesPerSec: Math.round(beaconsPerSec * SAMPLES_PER_BEACON),
    requestsPerSec: Math.round(tidemark.ok / tidemark.durationSec),
    baselinePerSec: Math.round(baselinePerSec),
    ratio: baselinePerSec > 0 ? Number((beaconsPerSec / baselinePerSec).toFixed(4)) : 0,
    latencyMs: tidemark.latencyMs,
    baselineLatencyMs: base.latencyMs,
    acceptedSamples: (tidemark.ok + tidemark.warmup.ok) * beaconsPerRequest * SAMPLES_PER_BEACON,
    storage: { ...storage, stored: storage.stored - before.stored, published: storage.published - before.published },
    tidemark,
    baseline: base,
  }
}

function problemsOf(v: VariantResult): string[] {
  const problems: string[] = []
  for (const [who, r] of [['tidemark', v.tidemark], ['baseline', v.baseline]] as const) {
    const non2xx = r.non2xx + r.warmup.non2xx
    const errors = r.errors + r.warmup.errors
    if (non2xx + errors === 0) continue
    const codes = Object.entries(r.statusCodes)
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, n]) => `${code}: ${n}`)
    problems.push(
      `${who} ${v.name}: ${non2xx} non-2xx${codes.length ? ` (measured run: ${codes.join(', ')})` : ''}, ${errors} errors (${r.timeouts} timeouts), warm-up included`
    )
  }
  problems.push(...sampleCountProblems(v.name, { accepted: v.acceptedSamples, published: v.storage.published, stored: v.storage.stored, complete: v.storage.complete }))
  return problems
}

function cpuNote(who: string, r: LoadResult): string {
  const { benchProcessPct, loadGeneratorPct, machineStealPct } = r.cpu
  const steal = machineStealPct === undefined ? '' : `  steal ${machineStealPct}%`
  return `${who.padEnd(8)}  server process ${benchProcessPct}%  load generator ${loadGeneratorPct}%${steal}`
}

/** Above this much steal, the host's neighbours, not Tidemark, set the figures. */
const NOISY_STEAL_PCT = 10

function noisyLoads(variants: VariantResult[]): string[] {
  const noisy = variants.flatMap((v) =>
    [['baseline', v.baseline] as const, ['tidemark', v.tidemark] as const]
      .filter(([, r]) => (r.cpu.machineStealPct ?? 0) > NOISY_STEAL_PCT)
      .map(([who, r]) => `${who} ${v.name} (${r.cpu.machineStealPct}%)`)
  )
  return noisy.length > 0 ? [`!! the host took over ${NOISY_STEAL_PCT}% of the machine during ${noisy.join(', ')}: rerun when it is quieter`] : []
}

function row(v: VariantResult): SummaryRow {
  return {
    scenario: v.name === 'single' ? 'ingest' : `ingest ${v.name}`,
    perSec: v.beaconsPerSec,
    baselinePerSec: v.baselinePerSec,
    ratio: v.ratio,
    p50: v.latencyMs.p50,
    p99: v.latencyMs.p99,
    baselineP50: v.baselineLatencyMs.p50,
    baselineP99: v.baselineLatencyMs.p99,
    non2xx: v.tidemark.non2xx,
    errors: v.tidemark.errors,
  }
}

/** Runs the scenario, writes bench/results/ingest.json, prints the summary; false when the run had errors. */
export async function ingestScenario(options: IngestOptions): Promise<boolean> {
  process.stderr.write('starting Tidemark (nats-server, chDB) and the baseline server...\n')
  const stack = await startTidemarkStack()
  const variants: VariantResult[] = []
  try {
    const baseline = await startBaselineServer()
    try {
      const plan: Array<[string, number]> = [['single', 1]]
      if (options.batch > 0) plan.push([`batch${options.batch}`, options.batch])
      const totals = { stored: 0, published: 0 }
      for (const [name, beaconsPerRequest] of plan) {
        const variant = await measureVariant(stack, baseline, options, name, beaconsPerRequest, { ...totals })
        totals.stored += variant.storage.stored
        totals.published += variant.storage.published
        variants.push(variant)
      }
    } finally {
      await baseline.close()
    }
  } finally {
    await stack.stop()
  }

  const [headline] = variants as [VariantResult, ...VariantResult[]]
  const problems = variants.flatMap(problemsOf)
  const { config } = stack
  const clickhouse = stack.app.runtime.store?.mode
  const file = writeResults('ingest', {
    scenario: 'ingest',
    beaconsPerSec: headline.beaconsPerSec,
    baselinePerSec: headline.baselinePerSec,
    ratio: headline.ratio,
    samplesPerSec: headline.samplesPerSec,
    latencyMs: headline.latencyMs,
    baselineLatencyMs: headline.baselineLatencyMs,
    non2xx: headline.tidemark.non2xx,
    errors: headline.tidemark.errors,
    acceptedSamples: headline.acceptedSamples,
    publishedSamples: headline.storage.published,
    storedSamples: headline.storage.stored,
    clean: problems.length === 0,
    problems,
    durationSec: options.durationSec,
    warmupSec: options.warmupSec,
    connections: options.connections,
    body: BEACON,
    variants,
    tidemarkConfig: {
      partitions: config.partitions,
      publishBatchSamples: config.publishBatchSamples,
      storageBatchRows: config.storageBatchRows,
      storageLingerMs: config.storageLingerMs,
      clickhouse,
    },
    machine: machineInfo(),
    finishedAt: new Date().toISOString(),
  })

  const width = Math.max(...variants.map((v) => v.name.length))
  const notes = [
    `${options.connections} connections; each load ${options.durationSec} s measured after ${options.warmupSec} s warm-up, from its own process.`,
    `beacons/s counts 2xx only; a beacon is ${JSON.stringify(BEACON)}, ${SAMPLES_PER_BEACON} samples: ${int(headline.samplesPerSec)} samples/s.`,
    '',
    // Published exceeds answered by the requests in flight when a load stopped: the server finished them, the client had gone.
    'samples after each variant: stored in ClickHouse vs published to JetStream (must be equal), and answered 2xx:',
    ...variants.map(
      (v) =>
        `  ${v.name.padEnd(width)}  stored ${int(v.storage.stored)} vs published ${int(v.storage.published)}` +
        ` ${v.storage.stored === v.storage.published ? '(equal)' : `(MISMATCH: ${v.storage.stored > v.storage.published ? '+' : ''}${int(v.storage.stored - v.storage.published)})`},` +
        ` answered 2xx ${int(v.acceptedSamples)}, settled ${(v.storage.catchUpMs / 1000).toFixed(1)} s after the load ended`
    ),
    'CPU during the measured loads (100% = one core; steal: share of the whole machine the host took):',
    ...variants.flatMap((v) => [`  ${v.name.padEnd(width)}  ${cpuNote('baseline', v.baseline)}`, `  ${''.padEnd(width)}  ${cpuNote('tidemark', v.tidemark)}`]),
    ...noisyLoads(variants),
    '',
    `results: ${file}`,
  ]
  printSummary(variants.map(row), notes, problems)
  return problems.length === 0
}
