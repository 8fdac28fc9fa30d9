// One run of the storage-cost scenario, in a process of its own (a fresh chDB,
// fresh ClickHouse thread pools, nothing else's threads): blocks of rows as
// storage makes them at its linger, encoded by storage's encode worker and
// inserted with storage's statement, at a fixed rate, into a fresh schema (all
// migrations, then the variant's changes). Reports the CPU each thread used,
// by thread name, over the measured seconds. Argument: a JSON StorageCostSpec;
// the result is written to stdout as one JSON line.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { encodeBatch, type Sample } from '../engine/index.ts'
import { openClickHouse } from '../engine/clickhouse/clickhouse-store.ts'
import { processThreads, threadStat } from '../engine/clickhouse/thread-priority.ts'
import { setEncodeWorkerNice } from '../engine/storage/row-binary-encoder.ts'
import { applySchema } from '../engine/runtime.ts'
import { insertFile, rowBinaryFileOf } from './direct-insert.ts'
import { timingOf, type Timing } from './report.ts'
import { STORAGE_COST_VARIANTS, type StorageCostSpec } from './storage-cost-variants.ts'

export interface ThreadCpu {
  tid: number
  name: string
  seconds: number
  nice: number
}

export interface StorageCostRun {
  spec: StorageCostSpec
  rows: number
  inserts: number
  measuredSec: number
  /** Rows inserted per measured second: below the rate when chDB could not keep up. */
  rowsPerSec: number
  /** CPU seconds of the whole process over the measured seconds (threads that ended included). */
  processCpuSec: number
  /** CPU seconds per thread name (ClickHouse's names; `node (main)` the bench's own event loop, `node` Node's other threads: the encode worker, V8, libuv). */
  byName: Record<string, number>
  /** The busiest threads. */
  threads: ThreadCpu[]
  insertMs: Timing
  /** The run's event loop delay over the measured seconds, ms: what chDB's threads leave the main thread (compare --nice 0 and 10). */
  eventLoopDelayMs: { p50: number; p99: number; max: number }
  /** Active parts per table at the end. */
  parts: Record<string, number>
  /** Bytes on disk a row of samples (its active parts at the end): what a codec saves or costs in space. */
  samplesBytesPerRow: number
}

/** CPU seconds and nice value of each thread; threads that end meanwhile are missing. */
function threadTimes(): Map<number, { name: string; seconds: number; nice: number }> {
  const times = new Map<number, { name: string; seconds: number; nice: number }>()
  for (const { tid, name } of processThreads()) {
    const stat = threadStat(tid)
    if (stat) times.set(tid, { name: tid === process.pid ? 'node (main)' : name, seconds: stat.cpuSeconds, nice: stat.nice })
  }
  return times
}

function processSeconds(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

/** One storage message: `n` samples of the e2e bench's shape (2 metrics, `pages` pages), and with scores one anomaly_score row for each. */
function message(n: number, pages: number, scores: boolean, start: number, now: number): Uint8Array {
  const samples: Sample[] = []
  const metrics = ['page_views', 'load_time']
  for (let i = 0; samples.length < n; i++) {
    const k = start + i
    const metric = metrics[k % 2] as string
    const page = `/p${Math.floor(k / 2) % pages}`
    const ts = now - (k % 100)
    samples.push(['bench', metric, ts, metric === 'page_views' ? 1 : k % 1000, { page }, now])
    if (scores && samples.length < n) samples.push(['bench', 'anomaly_score', ts, (k % 97) / 97, { metric, page }, now])
  }
  return encodeBatch(samples)
}

/** A unit of CPU work for the main thread's busy share: sums hashes of numbers. */
function workUnit(n: number): number {
  let h = 0
  for (let i = 0; i < n; i++) h = (Math.imul(h ^ i, 0x9e3779b1) + 7) | 0
  return h
}

/** Starts keeping the main thread `pct` % busy (ticks every 10 ms, each a unit calibrated to pct/10 ms on an idle thread); returns the stop. */
function keepMainBusy(pct: number): () => void {
  if (pct <= 0) return () => {}
  let n = 1_000_000
  const started = performance.now()
  workUnit(n)
  n = Math.max(1000, Math.round((n * (pct / 10)) / Math.max(0.01, performance.now() - started)))
  let sink = 0
  const timer = setInterval(() => (sink ^= workUnit(n)), 10)
  return () => clearInterval(timer)
}

async function run(spec: StorageCostSpec): Promise<StorageCostRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-storage-cost-'))
  try {
    // As the engine opens it (TIDEMARK_STORAGE_NICE); storage's writer gives the encode worker the same value.
    const store = await openClickHouse({ chdbPath: path.join(dir, 'chdb'), database: 'tidemark', threadNice: spec.nice })
    setEncodeWorkerNice(store.threadNice)
    await applySchema(store)
    for (const sql of STORAGE_COST_VARIANTS[spec.variant]?.sql('tidemark') ?? []) await store.command(sql)
    if (!spec.merges) await store.command('SYSTEM STOP MERGES')
    const blockRows = Math.min(spec.batchRows, Math.max(1, Math.round((spec.rate * spec.lingerMs) / 1000)))
    const gapMs = (blockRows / spec.rate) * 1000
    const perMessage = 1000
    let seq = 0
    let rows = 0
    let inserts = 0
    const insertMs: number[] = []
    const insertBlock = async (): Promise<void> => {
      const now = Date.now()
      const datas: Uint8Array[] = []
      const seqs: number[] = []
      for (let r = 0; r < blockRows; r += perMessage) {
        datas.push(message(Math.min(perMessage, blockRows - r), spec.pages, spec.scores, seq * perMessage, now))
        seqs.push(++seq)
      }
      const { file, rows: n } = await rowBinaryFileOf(dir, datas, seqs)
      try {
        insertMs.push(await insertFile(store, file, `cost-${seq}`))
      } finally {
        fs.rmSync(file, { force: true })
      }
      rows += n
      inserts++
    }
    // Blocks on a fixed schedule; one behind is inserted at once (storage queues too), never two at a time (chDB runs one).
    const loop = async (untilMs: number): Promise<void> => {
      let next = performance.now()
      while (performance.now() < untilMs) {
        await insertBlock()
        next += gapMs
        const wait = next - performance.now()
        if (wait > 0) await sleep(wait)
      }
    }
    await loop(performance.now() + spec.warmupSec * 1000)
    const before = threadTimes()
    const cpuBefore = processSeconds()
    const rowsBefore = rows
    const insertsBefore = inserts
    insertMs.length = 0
    const delay = monitorEventLoopDelay({ resolution: 10 })
    const stopBusy = keepMainBusy(spec.mainBusyPct)
    delay.enable()
    const started = performance.now()
    await loop(started + spec.seconds * 1000)
    delay.disable()
    stopBusy()
    const measuredSec = (performance.now() - started) / 1000
    const after = threadTimes()
    const processCpuSec = processSeconds() - cpuBefore
    const threads: ThreadCpu[] = []
    const byName: Record<string, number> = {}
    for (const [tid, t] of after) {
      const seconds = t.seconds - (before.get(tid)?.seconds ?? 0)
      threads.push({ tid, name: t.name, seconds: round(seconds), nice: t.nice })
      byName[t.name] = (byName[t.name] ?? 0) + seconds
    }
    const live = Object.values(byName).reduce((a, b) => a + b, 0)
    // Threads that ended during the run took their times with them: the process total has them.
    byName['(ended threads)'] = Math.max(0, processCpuSec - live)
    for (const k of Object.keys(byName)) byName[k] = round(byName[k] as number)
    threads.sort((a, b) => b.seconds - a.seconds)
    const partRows = await store.rows<{ table: string; parts: string; bytes: string; rows: string }>(
      `SELECT table, count() AS parts, sum(bytes_on_disk) AS bytes, sum(rows) AS rows FROM system.parts WHERE database = 'tidemark' AND active GROUP BY table ORDER BY table`
    )
    const disk = partRows.find((p) => p.table === 'samples')
    await store.close()
    return {
      spec,
      rows: rows - rowsBefore,
      inserts: inserts - insertsBefore,
      measuredSec: round(measuredSec),
      rowsPerSec: Math.round((rows - rowsBefore) / measuredSec),
      processCpuSec: round(processCpuSec),
      byName,
      threads: threads.slice(0, 12),
      insertMs: timingOf(insertMs),
      eventLoopDelayMs: { p50: round(delay.percentile(50) / 1e6), p99: round(delay.percentile(99) / 1e6), max: round(delay.max / 1e6) },
      parts: Object.fromEntries(partRows.map((p) => [p.table, Number(p.parts)])),
      samplesBytesPerRow: disk && Number(disk.rows) > 0 ? round(Number(disk.bytes) / Number(disk.rows)) : 0,
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const round = (n: number): number => Math.round(n * 100) / 100

run(JSON.parse(process.argv[2] ?? '{}') as StorageCostSpec).then(
  (result) => {
    process.stdout.write(JSON.stringify(result) + '\n')
    process.exit(0)
  },
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`)
    process.exit(1)
  }
)
