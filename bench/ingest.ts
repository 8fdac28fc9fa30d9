// The ingest scenario: how many beacons per second POST /api/v2/analytics/metrics
// takes with the real path behind it (auth, schema validation, JetStream publish
// acknowledged before the 2xx), as a share of what a bare fastify route parsing
// the same body takes on the same machine in the same run. Twice: first the
// ingest role alone in its own process (`tidemark ingest`, its own nats-server,
// nothing consuming) against the bare route in a process of its own: the
// headline `ratio`; then embedded (`tidemark start`: storage into chDB in the same
// process) against the bare route in that process: the `embedded*` figures. Each
// variant loads the baseline first, then Tidemark, then waits for publishing (and,
// embedded, storage) to settle, so no load overlaps another's leftovers.
import { setTimeout as sleep } from 'node:timers/promises'
import { startBaselineProcess, startBaselineServer, type BaselineServer } from './baseline-server.ts'
import { startIngestProcess, type IngestProcess } from './ingest-process.ts'
import { runLoad, type LoadResult } from './load.ts'
import { sampleCountProblems } from './sample-count.ts'
import { int, machineInfo, printSummary, writeResults, type SummaryRow } from './report.ts'
import { startTidemarkStack, type TidemarkStack } from './tidemark-stack.ts'

export interface IngestOptions {
  durationSec: number
  warmupSec: number
  connections: number
  /** Beacons per request of the extra batched variant; 0 skips it. */
  batch: number
  /** Measures the ingest role alone only, not the embedded process too. */
  aloneOnly?: boolean
  /** Writes a CPU profile (node --cpu-prof) of the ingest-alone process into this folder. */
  cpuProfileDir?: string
}

/** Two metrics, so one beacon is two samples. */
const BEACON = { page_views: 1, load_time: 420 }
const SAMPLES_PER_BEACON = Object.keys(BEACON).length

/** Publishing (and, embedded, storage) once settled after a load; counts are cumulative. */
interface Settled {
  /** Samples JetStream acknowledged to the publisher. */
  published: number
  /** Samples of the bench tenant in ClickHouse; the ingest role alone stores nothing. */
  stored?: number
  catchUpMs: number
  complete: boolean
}

/** One Tidemark to load and the bare route it is compared with. */
interface Target {
  /** `alone`: `tidemark ingest` in its own process; `embedded`: every role in this process. */
  setup: 'alone' | 'embedded'
  url: string
  ingestToken: string
  baseline: BaselineServer
  /** The process serving Tidemark when it is not this one: its CPU is reported. */
  serverPid?: number
  settle(): Promise<Settled>
}

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
  /**
   * CPU microseconds of the server's own process per 2xx request, Tidemark and the baseline (alone only: embedded,
   * the process holds chDB and the bench too). Steadier than the rates on a shared machine: it does not depend
   * on how much of the machine the neighbours left.
   */
  cpuUsPerRequest?: { tidemark: number; baseline: number }
  /** Samples of 2xx answers, warm-up included: every one must be published (and, embedded, reach ClickHouse). */
  acceptedSamples: number
  storage: Settled
  tidemark: LoadResult
  baseline: LoadResult
}

async function measureVariant(
  target: Target,
  options: IngestOptions,
  name: string,
  beaconsPerRequest: number,
  /** Totals before this variant: the counts are cumulative. */
  before: { stored: number; published: number }
): Promise<VariantResult> {
  const body = JSON.stringify(beaconsPerRequest === 1 ? BEACON : Array.from({ length: beaconsPerRequest }, () => BEACON))
  const load = { body, connections: options.connections, durationSec: options.durationSec, warmupSec: options.warmupSec }
  const json = { 'content-type': 'application/json' }
  const { baseline, setup } = target
  const serverPid = (pid: number | undefined) => (pid !== undefined && pid !== process.pid ? { serverPid: pid } : {})
  const base = await runLoad({ ...load, label: `baseline ${setup} ${name}`, url: baseline.url, headers: json, ...serverPid(baseline.pid) })
  const tidemark = await runLoad({
    ...load,
    label: `tidemark ${setup} ${name}`,
    url: `${target.url}/api/v2/analytics/metrics`,
    headers: { ...json, authorization: `Bearer ${target.ingestToken}` },
    ...serverPid(target.serverPid),
  })
  const settled = await target.settle()
  const perRequest = (r: LoadResult): number | undefined =>
    r.cpu.serverProcessPct === undefined || r.ok === 0 ? undefined : Math.round((r.cpu.serverProcessPct / 100) * 1e6 / (r.ok / r.durationSec))
  const [tidemarkCpu, baselineCpu] = [perRequest(tidemark), perRequest(base)]
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
    ...(tidemarkCpu !== undefined && baselineCpu !== undefined ? { cpuUsPerRequest: { tidemark: tidemarkCpu, baseline: baselineCpu } } : {}),
    acceptedSamples: (tidemark.ok + tidemark.warmup.ok) * beaconsPerRequest * SAMPLES_PER_BEACON,
    storage: {
      ...settled,
      published: settled.published - before.published,
      ...(settled.stored === undefined ? {} : { stored: settled.stored - before.stored }),
    },
    tidemark,
    baseline: base,
  }
}

function problemsOf(setup: string, v: VariantResult): string[] {
  const problems: string[] = []
  const variant = `${setup} ${v.name}`
  for (const [who, r] of [['tidemark', v.tidemark], ['baseline', v.baseline]] as const) {
    const non2xx = r.non2xx + r.warmup.non2xx
    const errors = r.errors + r.warmup.errors
    if (non2xx + errors === 0) continue
    const codes = Object.entries(r.statusCodes)
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, n]) => `${code}: ${n}`)
    problems.push(
      `${who} ${variant}: ${non2xx} non-2xx${codes.length ? ` (measured run: ${codes.join(', ')})` : ''}, ${errors} errors (${r.timeouts} timeouts), warm-up included`
    )
  }
  const { stored, published, complete } = v.storage
  if (stored !== undefined) {
    problems.push(...sampleCountProblems(variant, { accepted: v.acceptedSamples, published, stored, complete }))
  } else {
    // Alone, nothing stores: a 2xx is sent only after JetStream's ack, so published must cover accepted.
    if (published < v.acceptedSamples) problems.push(`${variant}: ${v.acceptedSamples} samples answered 2xx but only ${published} published: the counts disagree`)
    if (!complete) problems.push(`${variant}: publishing did not settle (samples still waiting for JetStream)`)
  }
  return problems
}

function cpuNote(who: string, r: LoadResult): string {
  const { benchProcessPct, serverProcessPct, loadGeneratorPct, machineStealPct } = r.cpu
  const steal = machineStealPct === undefined ? '' : `  steal ${machineStealPct}%`
  const server = serverProcessPct === undefined ? `server process ${benchProcessPct}%` : `server process ${serverProcessPct}% (bench process ${benchProcessPct}%)`
  return `${who.padEnd(8)}  ${server}  load generator ${loadGeneratorPct}%${steal}`
}

/** Above this much steal, the host's neighbours, not Tidemark, set the figures. */
const NOISY_STEAL_PCT = 10

interface SetupResult {
  setup: Target['setup']
  variants: VariantResult[]
}

function noisyLoads(results: SetupResult[]): string[] {
  const noisy = results.flatMap(({ setup, variants }) =>
    variants.flatMap((v) =>
      [['baseline', v.baseline] as const, ['tidemark', v.tidemark] as const]
        .filter(([, r]) => (r.cpu.machineStealPct ?? 0) > NOISY_STEAL_PCT)
        .map(([who, r]) => `${who} ${setup} ${v.name} (${r.cpu.machineStealPct}%)`)
    )
  )
  return noisy.length > 0 ? [`!! the host took over ${NOISY_STEAL_PCT}% of the machine during ${noisy.join(', ')}: rerun when it is quieter`] : []
}

function row(setup: Target['setup'], v: VariantResult): SummaryRow {
  return {
    scenario: `ingest ${setup}${v.name === 'single' ? '' : ` ${v.name}`}`,
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

async function measureTarget(target: Target, options: IngestOptions): Promise<SetupResult> {
  const plan: Array<[string, number]> = [['single', 1]]
  if (options.batch > 0) plan.push([`batch${options.batch}`, options.batch])
  const totals = { stored: 0, published: 0 }
  const variants: VariantResult[] = []
  for (const [name, beaconsPerRequest] of plan) {
    const variant = await measureVariant(target, options, name, beaconsPerRequest, { ...totals })
    totals.stored += variant.storage.stored ?? 0
    totals.published += variant.storage.published
    variants.push(variant)
  }
  return { setup: target.setup, variants }
}

/** The ingest process's publisher counters, from its /metrics. */
async function publisherCounts(url: string): Promise<{ published: number; pending: number }> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
  return { published: value('tidemark_ingest_samples_total'), pending: value('tidemark_ingest_pending_samples') }
}

/** How long publishing may take to empty after a load before the run counts as broken. */
const PUBLISH_SETTLE_MS = 30_000

async function measureAlone(options: IngestOptions): Promise<SetupResult & { env: Record<string, string> }> {
  process.stderr.write('ingest alone: starting nats-server, `tidemark setup`, `tidemark ingest` and the baseline, each in its own process...\n')
  const ingest: IngestProcess = await startIngestProcess({ cpuProfileDir: options.cpuProfileDir })
  try {
    const baseline = await startBaselineProcess()
    try {
      const result = await measureTarget(
        {
          setup: 'alone',
          url: ingest.url,
          ingestToken: ingest.tenant.ingestToken,
          baseline,
          serverPid: ingest.pid,
          async settle() {
            const started = Date.now()
            for (;;) {
              const { published, pending } = await publisherCounts(ingest.url)
              const catchUpMs = Date.now() - started
              if (pending === 0 || catchUpMs > PUBLISH_SETTLE_MS) return { published, catchUpMs, complete: pending === 0 }
              await sleep(100)
            }
          },
        },
        options
      )
      return { ...result, env: ingest.env }
    } finally {
      await baseline.close()
    }
  } finally {
    await ingest.stop()
  }
}

async function measureEmbedded(options: IngestOptions): Promise<SetupResult & { stack: TidemarkStack }> {
  process.stderr.write('embedded: starting Tidemark (nats-server, chDB) and the baseline server in this process...\n')
  const stack = await startTidemarkStack()
  try {
    const baseline = await startBaselineServer()
    try {
      const target: Target = { setup: 'embedded', url: stack.url, ingestToken: stack.tenant.ingestToken, baseline, settle: () => stack.waitForStorage() }
      return { ...(await measureTarget(target, options)), stack }
    } finally {
      await baseline.close()
    }
  } finally {
    await stack.stop()
  }
}

/** The figures of a setup's single-beacon variant, under a key prefix ('' for the headline, 'embedded' beside it). */
function headlineFigures(prefix: string, v: VariantResult): Record<string, unknown> {
  const key = (name: string): string => (prefix === '' ? name : `${prefix}${name[0]?.toUpperCase()}${name.slice(1)}`)
  const figures: Record<string, unknown> = {
    beaconsPerSec: v.beaconsPerSec,
    baselinePerSec: v.baselinePerSec,
    ratio: v.ratio,
    samplesPerSec: v.samplesPerSec,
    latencyMs: v.latencyMs,
    baselineLatencyMs: v.baselineLatencyMs,
    ...(v.cpuUsPerRequest ? { cpuUsPerRequest: v.cpuUsPerRequest } : {}),
    non2xx: v.tidemark.non2xx,
    errors: v.tidemark.errors,
    acceptedSamples: v.acceptedSamples,
    publishedSamples: v.storage.published,
    // null alone: nothing stores there (the embedded figure has it).
    storedSamples: v.storage.stored ?? null,
  }
  return Object.fromEntries(Object.entries(figures).map(([name, value]) => [key(name), value]))
}

/** Runs the scenario, writes bench/results/ingest.json, prints the summary; false when the run had errors. */
export async function ingestScenario(options: IngestOptions): Promise<boolean> {
  const alone = await measureAlone(options)
  const embedded = options.aloneOnly ? undefined : await measureEmbedded(options)
  const results: SetupResult[] = embedded ? [alone, embedded] : [alone]
  const problems = results.flatMap(({ setup, variants }) => variants.flatMap((v) => problemsOf(setup, v)))
  const [headline] = alone.variants as [VariantResult, ...VariantResult[]]
  const embeddedHeadline = embedded?.variants[0]
  const config = embedded?.stack.config
  const file = writeResults('ingest', {
    scenario: 'ingest',
    setup: 'ingest role alone in its own process (tidemark ingest, own nats-server, nothing consuming) vs the bare route in its own process',
    ...headlineFigures('', headline),
    ...(embeddedHeadline ? headlineFigures('embedded', embeddedHeadline) : {}),
    clean: problems.length === 0,
    problems,
    durationSec: options.durationSec,
    warmupSec: options.warmupSec,
    connections: options.connections,
    body: BEACON,
    variants: alone.variants,
    ...(embedded ? { embeddedVariants: embedded.variants } : {}),
    ingestEnv: alone.env,
    ...(config
      ? {
          tidemarkConfig: {
            partitions: config.partitions,
            publishBatchSamples: config.publishBatchSamples,
            storageBatchRows: config.storageBatchRows,
            storageLingerMs: config.storageLingerMs,
            clickhouse: embedded?.stack.app.runtime.store?.mode,
          },
        }
      : {}),
    machine: machineInfo(),
    finishedAt: new Date().toISOString(),
  })

  const all = results.flatMap(({ setup, variants }) => variants.map((v) => ({ setup, v })))
  const width = Math.max(...all.map(({ setup, v }) => `${setup} ${v.name}`.length))
  const counts = ({ setup, v }: { setup: string; v: VariantResult }): string => {
    const name = `${setup} ${v.name}`.padEnd(width)
    const { stored, published } = v.storage
    const settled = `answered 2xx ${int(v.acceptedSamples)}, settled ${(v.storage.catchUpMs / 1000).toFixed(1)} s after the load ended`
    if (stored === undefined) return `  ${name}  published ${int(published)} (nothing stores alone), ${settled}`
    const verdict = stored === published ? '(equal)' : `(MISMATCH: ${stored > published ? '+' : ''}${int(stored - published)})`
    return `  ${name}  stored ${int(stored)} vs published ${int(published)} ${verdict}, ${settled}`
  }
  const notes = [
    `${options.connections} connections; each load ${options.durationSec} s measured after ${options.warmupSec} s warm-up, from its own process.`,
    `beacons/s counts 2xx only; a beacon is ${JSON.stringify(BEACON)}, ${SAMPLES_PER_BEACON} samples: ${int(headline.samplesPerSec)} samples/s alone.`,
    'alone: `tidemark ingest` and the bare route each in a process of their own (the headline ratio); embedded: every role and the bare route in this one.',
    '',
    // Published exceeds answered by the requests in flight when a load stopped: the server finished them, the client had gone.
    'samples after each variant: stored in ClickHouse vs published to JetStream (must be equal), and answered 2xx:',
    ...all.map(counts),
    'CPU during the measured loads (100% = one core; steal: share of the whole machine the host took):',
    ...all.flatMap(({ setup, v }) => [`  ${`${setup} ${v.name}`.padEnd(width)}  ${cpuNote('baseline', v.baseline)}`, `  ${''.padEnd(width)}  ${cpuNote('tidemark', v.tidemark)}`]),
    ...all
      .filter(({ v }) => v.cpuUsPerRequest)
      .map(({ setup, v }) => `  ${`${setup} ${v.name}`.padEnd(width)}  server CPU per request: tidemark ${v.cpuUsPerRequest?.tidemark} µs, baseline ${v.cpuUsPerRequest?.baseline} µs`),
    ...noisyLoads(results),
    '',
    `results: ${file}`,
  ]
  printSummary(
    results.flatMap(({ setup, variants }) => variants.map((v) => row(setup, v))),
    notes,
    problems
  )
  return problems.length === 0
}
