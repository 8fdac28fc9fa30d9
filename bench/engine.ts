// Measures samples per second through the windows and rules of one worker
// (decode + pipeline with the default rules beside the windows, the work a
// window thread does per batch) against a baseline that only decodes the same
// batches, both in this thread; windows alone are reported beside; then through the real
// pool, with batches transferred to worker threads; then end to end: the same
// batches in a JetStream of a nats-server of its own, replayed by a
// StreamRuntime (leases, readers, pool) until every partition has applied them.
// The anomaly scorers' cost per worker (engine-cost.ts): the same pipeline with
// and without a scorer per series, each in a fresh worker thread (scorerCost =
// the extra time per sample), and the time one snapshot of every scorer takes.
// The pool and end-to-end runs load the rules module in the threads, with the
// default rules and their 15 s evaluation grid, as a Tidemark engine does.
// Run: npm run bench -- engine [--samples 1000000] [--series 500] [--partitions 4] [--threads 2] [--out file.json]
// Prints and writes bench/results/engine.json: {samplesPerSec, baselinePerSec, ratio, …}.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { jetstream } from '@nats-io/jetstream'
import { decodeBatch } from '../engine/model/beacon-batch.ts'
import { connectNats, setupJetStream } from '../engine/nats/jetstream-setup.ts'
import { SupervisedNatsServer } from '../engine/nats/nats-endpoint.ts'
import { beaconSubject } from '../engine/nats/subjects.ts'
import type { StreamOutput } from '../engine/stream/series-evaluator.ts'
import { DEFAULT_STREAM_SETTINGS, loadStreamSettings, pipelineSettings } from '../engine/stream/stream-config.ts'
import { StreamRuntime } from '../engine/stream/stream-runtime.ts'
import { PartitionPipeline } from '../engine/stream/window-pipeline.ts'
import { WindowWorkerPool } from '../engine/stream/worker-pool.ts'
import { DEFAULT_RULES } from '../engine/rules/default-rules.ts'
import { compileRuleFile } from '../engine/rules/rule-file.ts'
import { STREAM_RULES_MODULE, withConfig, type StreamRulesConfig } from '../engine/rules/stream-rules.ts'
import { measureScorerCost } from './engine-cost.ts'
import { engineBenchBatches } from './engine-data.ts'

const RESULT_FILE = path.join(path.dirname(new URL(import.meta.url).pathname), 'results', 'engine.json')

export async function engineScenario(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      samples: { type: 'string', default: '1000000' },
      // 500 series at 10 samples/s of event time: 1M samples span 200 s, so windows close and rules evaluate.
      series: { type: 'string', default: '500' },
      batch: { type: 'string', default: '1000' },
      partitions: { type: 'string', default: '4' },
      threads: { type: 'string', default: '2' },
      out: { type: 'string' },
    },
  })
  const SAMPLES = Number(values.samples)
  const SERIES = Number(values.series)
  const BATCH = Number(values.batch)
  const PARTITIONS = Number(values.partitions)
  const THREADS = Number(values.threads)
  const settings = pipelineSettings(DEFAULT_STREAM_SETTINGS)

  /** Fixed data: SERIES series of one tenant, 10 samples per series per second of event time, a little out of order. */
  const batches = (): Uint8Array[] => engineBenchBatches(SAMPLES, SERIES, BATCH)

  function perSecond(samples: number, ms: number): number {
    return Math.round(samples / (ms / 1000))
  }

  function runDecodeOnly(data: Uint8Array[]): number {
    const started = performance.now()
    let n = 0
    for (const d of data) n += decodeBatch(d).length
    if (n !== SAMPLES) throw new Error('decoded a different number of samples')
    return performance.now() - started
  }

  // The specification's default rules (cpu_usage > 80 for 5 m, memory, response time) beside the windows, as the engine runs them.
  const rulesConfig: StreamRulesConfig = { version: 'bench', base: DEFAULT_RULES, tenants: {} }
  const rules = withConfig(rulesConfig)
  // The partition broadcasts the watermark on the rules' grid too (the engine's evaluationIntervalMs; one group).
  const evaluationIntervalMs = Math.min(...compileRuleFile(DEFAULT_RULES, '(defaults)').groups.map((g) => g.intervalMs))
  const inThreads = { evaluatorModule: STREAM_RULES_MODULE, evaluatorConfig: rulesConfig, evaluatorConfigVersion: rulesConfig.version, evaluationIntervalMs }

  function runWindows(data: Uint8Array[], withRules = true): { ms: number; outputs: number } {
    const pipeline = new PartitionPipeline(0, settings, withRules ? { evaluators: rules, evaluationIntervalMs } : {})
    const outputs: StreamOutput[] = []
    const started = performance.now()
    data.forEach((d, seq) => pipeline.apply({ kind: 'batch', seq: seq + 1, samples: decodeBatch(d) }, outputs))
    const ms = performance.now() - started
    return { ms, outputs: outputs.length }
  }

  async function runPool(data: Uint8Array[], threads: number): Promise<number> {
    const pool = new WindowWorkerPool({ minThreads: threads, maxThreads: threads, lagMessages: Number.MAX_SAFE_INTEGER })
    try {
      await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => pool.run(p, { op: 'open', partition: p, generation: 1, n: 0, settings, ...inThreads })))
      const n = new Array<number>(PARTITIONS).fill(0)
      const started = performance.now()
      const inFlight: Promise<unknown>[] = []
      data.forEach((d, i) => {
        // Round-robin over partitions; each message gets its own copy, as a reader's would.
        const p = i % PARTITIONS
        const copy = new Uint8Array(d)
        inFlight.push(pool.run(p, { op: 'apply', partition: p, generation: 1, n: ++n[p]!, messages: [{ seq: n[p]!, data: copy }], checkpoint: false }, [copy.buffer as ArrayBuffer]))
      })
      await Promise.all(inFlight)
      return performance.now() - started
    } finally {
      await pool.close()
    }
  }

  /** Publishes the batches round-robin over the partitions, then times a fresh runtime replaying them all. */
  async function runEndToEnd(data: Uint8Array[], threads: number): Promise<number> {
    const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-window-bench-'))
    const nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir })
    const nc = await connectNats(nats.url, 'window-bench', { auth: nats.authFor('admin') })
    try {
      await setupJetStream(nc, { replicas: 1, partitions: PARTITIONS, storageAckWaitMs: 60_000 })
      const js = jetstream(nc)
      const lastSeq = new Map<number, number>()
      for (const [i, d] of data.entries()) {
        const p = i % PARTITIONS
        lastSeq.set(p, (await js.publish(beaconSubject(p), d, { msgID: `bench-${i}` })).seq)
      }
      const settings = loadStreamSettings({}, { minThreads: threads, maxThreads: threads, coldStartLookbackMs: 3_600_000 })
      const started = performance.now()
      const runtime = await StreamRuntime.start({
        nc,
        partitions: PARTITIONS,
        settings,
        engineId: `bench-${threads}`,
        sink: { publish: async () => {} },
        evaluatorModule: STREAM_RULES_MODULE,
        evaluatorConfig: () => ({ config: rulesConfig, version: rulesConfig.version, evaluationIntervalMs }),
      })
      while (!runtime.stats().partitions.every((p) => p.lastSeq >= (lastSeq.get(p.partition) ?? 0))) await sleep(10)
      const ms = performance.now() - started
      await runtime.stop()
      return ms
    } finally {
      await nc.close()
      await nats.stop()
      fs.rmSync(storeDir, { recursive: true, force: true })
    }
  }

  const data = batches()
  // Warm up both paths (JIT), then measure the better of three runs of each.
  runDecodeOnly(data)
  runWindows(data)
  const baselineMs = Math.min(runDecodeOnly(data), runDecodeOnly(data), runDecodeOnly(data))
  const windowRuns = [runWindows(data), runWindows(data), runWindows(data)]
  const windowsMs = Math.min(...windowRuns.map((r) => r.ms))
  runWindows(data, false)
  const windowsOnlyMs = Math.min(...[runWindows(data, false), runWindows(data, false), runWindows(data, false)].map((r) => r.ms))
  const scorer = await measureScorerCost({ samples: SAMPLES, series: SERIES, batch: BATCH })
  const pool1Ms = await runPool(data, 1)
  const poolNMs = await runPool(data, THREADS)
  const e2e1Ms = await runEndToEnd(data, 1)
  const e2eNMs = await runEndToEnd(data, THREADS)
  const result = {
    samples: SAMPLES,
    series: SERIES,
    batchSamples: BATCH,
    windows: settings.windows.map((w) => w.name),
    outputs: windowRuns[0]?.outputs,
    /** Decode + windows + the default rules, one thread. */
    samplesPerSec: perSecond(SAMPLES, windowsMs),
    /** Decode + windows without rules, one thread. */
    windowsOnlyPerSec: perSecond(SAMPLES, windowsOnlyMs),
    /** Decode only, one thread. */
    baselinePerSec: perSecond(SAMPLES, baselineMs),
    ratio: Number((baselineMs / windowsMs).toFixed(3)),
    /**
     * Per worker, each in a fresh thread: decode + windows + rules without and with an anomaly scorer per series
     * (a Tidemark engine's worker), the extra time per sample (0.2 = 20 % more), and one snapshot of every scorer.
     */
    scorer,
    /** Decode + windows + the default rules in piscina worker threads (batches copied and transferred). */
    pool: {
      partitions: PARTITIONS,
      [`threads1PerSec`]: perSecond(SAMPLES, pool1Ms),
      [`threads${THREADS}PerSec`]: perSecond(SAMPLES, poolNMs),
    },
    /** From JetStream through a StreamRuntime with the rules module (start-up included: leases, threads). */
    endToEnd: {
      partitions: PARTITIONS,
      [`threads1PerSec`]: perSecond(SAMPLES, e2e1Ms),
      [`threads${THREADS}PerSec`]: perSecond(SAMPLES, e2eNMs),
    },
  }
  console.log(JSON.stringify(result, null, 2))
  const out = values.out ?? RESULT_FILE
  fs.mkdirSync(path.dirname(out), { recursive: true })
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n')
  console.log(`written to ${out}`)
  return 0
}
