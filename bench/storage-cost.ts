// `npm run bench -- storage-cost`: what storing a row costs in CPU, and which
// threads pay it. Each run (bench/storage-cost-run.ts) is a process of its own
// with a fresh chDB: blocks of rows as storage makes them at its linger,
// encoded by storage's worker and inserted with storage's statement at a fixed
// rate, the CPU of every thread read from /proc over the measured seconds.
// CPU seconds per million rows hardly move with the neighbours' load (wall-clock
// rates do), so variants measured minutes apart compare; the load average is
// reported beside them all the same.
import { spawn } from 'node:child_process'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { machineInfo, writeResults } from './report.ts'
import type { StorageCostRun } from './storage-cost-run.ts'
import { STORAGE_COST_VARIANTS, type StorageCostSpec } from './storage-cost-variants.ts'

const RUN = fileURLToPath(new URL('./storage-cost-run.ts', import.meta.url))

const HELP = `npm run bench -- storage-cost [options]      (run with </dev/null)

Rows through storage's encoder and INSERT into a fresh chDB at fixed rates, one
process per run; CPU seconds per million rows by thread name, and parts.

options:
  --rates LIST      rows/s, comma-separated                 (default 100000,250000)
  --variants LIST   schema variants, comma-separated         (default base; "all" for every one)
  --seconds N       measured seconds per run                 (default 20)
  --warmup N        unmeasured seconds before                (default 3)
  --linger N        ms of rows per insert, as TIDEMARK_STORAGE_LINGER_MS (default 500)
  --batch-rows N    most rows per insert, as TIDEMARK_STORAGE_BATCH_ROWS (default 100000)
  --pages N         pages per metric (2 metrics)             (default 50)
  --scores on|off   an anomaly_score row beside every sample (default on)
  --merges on|off   off: SYSTEM STOP MERGES, the inserts' CPU alone (default on)
  --main-busy PCT   keep the run's event loop PCT % busy, as the engine's is under load (default 0): its delay then
                    shows what chDB's threads leave it (compare --nice 0 and 10)
  --nice N          nice of chDB's threads and the encode worker, as TIDEMARK_STORAGE_NICE (default 0)
  -h, --help

variants:
${Object.entries(STORAGE_COST_VARIANTS)
  .map(([name, v]) => `  ${name.padEnd(20)}${v.what}`)
  .join('\n')}
`

/** ClickHouse's names for the threads that run an INSERT's pipeline (the views' SELECTs included). */
const isInsertThread = (n: string): boolean => n === 'ThreadPool' || n.startsWith('Query') || n === '(ended threads)'

/** Thread names grouped as the summary shows them. */
const GROUPS: Record<string, (name: string) => boolean> = {
  merges: (n) => n === 'MergeMutate',
  insert: isInsertThread,
  'other chDB': (n) => !n.startsWith('node') && n !== 'MergeMutate' && !isInsertThread(n),
  'node (main)': (n) => n === 'node (main)',
  'node (other)': (n) => n === 'node',
}

function groupsOf(run: StorageCostRun): Record<string, number> {
  const perM = 1e6 / Math.max(1, run.rows)
  const out: Record<string, number> = {}
  for (const [group, has] of Object.entries(GROUPS)) {
    let s = 0
    for (const [name, seconds] of Object.entries(run.byName)) if (has(name)) s += seconds
    out[group] = Math.round(s * perM * 100) / 100
  }
  return out
}

function list(value: string, what: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean)
  if (items.length === 0) throw new RangeError(`--${what} needs at least one value`)
  return items
}

function whole(value: string, flag: string, min: number): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) throw new RangeError(`--${flag} must be a whole number from ${min} (got "${value}")`)
  return n
}

/** One run in its own process; its stdin is /dev/null (chDB reads it, DESIGN.md). */
function runOne(spec: StorageCostSpec): Promise<StorageCostRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', RUN, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`storage-cost run ${spec.variant} at ${spec.rate} rows/s exited with ${code}`))
      resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as StorageCostRun)
    })
  })
}

export async function storageCostScenario(argv: string[]): Promise<number> {
  let specs: StorageCostSpec[]
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        rates: { type: 'string', default: '100000,250000' },
        variants: { type: 'string', default: 'base' },
        seconds: { type: 'string', default: '20' },
        warmup: { type: 'string', default: '3' },
        linger: { type: 'string', default: '500' },
        'batch-rows': { type: 'string', default: '100000' },
        pages: { type: 'string', default: '50' },
        scores: { type: 'string', default: 'on' },
        nice: { type: 'string', default: '0' },
        merges: { type: 'string', default: 'on' },
        'main-busy': { type: 'string', default: '0' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
    if (values.help) {
      process.stdout.write(HELP)
      return 0
    }
    const variants = values.variants === 'all' ? Object.keys(STORAGE_COST_VARIANTS) : list(values.variants, 'variants')
    for (const v of variants) if (!STORAGE_COST_VARIANTS[v]) throw new RangeError(`unknown variant "${v}"`)
    for (const flag of ['scores', 'merges'] as const) if (values[flag] !== 'on' && values[flag] !== 'off') throw new RangeError(`--${flag} is on or off (got "${values[flag]}")`)
    const nice = whole(values.nice, 'nice', 0)
    if (nice > 19) throw new RangeError('--nice is at most 19')
    const common = {
      seconds: whole(values.seconds, 'seconds', 1),
      warmupSec: whole(values.warmup, 'warmup', 0),
      lingerMs: whole(values.linger, 'linger', 1),
      batchRows: whole(values['batch-rows'], 'batch-rows', 1000),
      pages: whole(values.pages, 'pages', 1),
      scores: values.scores === 'on',
      merges: values.merges === 'on',
      mainBusyPct: Math.min(90, whole(values['main-busy'], 'main-busy', 0)),
      nice,
    }
    const rates = list(values.rates, 'rates').map((r) => whole(r, 'rates', 1000))
    specs = variants.flatMap((variant) => rates.map((rate) => ({ ...common, variant, rate })))
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`)
    return 2
  }
  const runs: Array<StorageCostRun & { loadAverage: number[]; perMillionRows: Record<string, number>; cpuSecPerMillionRows: number }> = []
  for (const spec of specs) {
    const loadBefore = os.loadavg()
    process.stderr.write(`storage-cost: ${spec.variant} at ${spec.rate.toLocaleString('en-US')} rows/s for ${spec.seconds} s (load average ${loadBefore[0]?.toFixed(2)})…\n`)
    const run = await runOne(spec)
    runs.push({
      ...run,
      loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
      cpuSecPerMillionRows: Math.round((run.processCpuSec / Math.max(1, run.rows)) * 1e8) / 100,
      perMillionRows: groupsOf(run),
    })
  }
  const file = writeResults('storage-cost', { machine: machineInfo(), runs })
  const header = ['variant', 'rows/s asked', 'rows/s done', 'CPU s/M rows', ...Object.keys(GROUPS), 'parts', 'samples B/row', 'insert p50/p99 ms', 'loop delay p99 ms', 'load']
  const rows = runs.map((r) => [
    r.spec.variant,
    r.spec.rate.toLocaleString('en-US'),
    r.rowsPerSec.toLocaleString('en-US'),
    r.cpuSecPerMillionRows.toFixed(2),
    ...Object.keys(GROUPS).map((g) => (r.perMillionRows[g] ?? 0).toFixed(2)),
    String(Object.values(r.parts).reduce((a, b) => a + b, 0)),
    String(r.samplesBytesPerRow),
    `${r.insertMs.p50Ms.toFixed(0)}/${r.insertMs.p99Ms.toFixed(0)}`,
    (r.eventLoopDelayMs?.p99 ?? 0).toFixed(0),
    (r.loadAverage[0] ?? 0).toFixed(2),
  ])
  process.stdout.write(`| ${header.join(' | ')} |\n| ${header.map(() => '---').join(' | ')} |\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n\n(CPU seconds per million rows stored; the groups split it by thread. ${file})\n`)
  return runs.every((r) => r.rows > 0) ? 0 : 1
}
