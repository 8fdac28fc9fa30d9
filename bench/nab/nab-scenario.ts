// `npm run bench -- nab [folder]`: the anomaly scorer on the Numenta Anomaly
// Benchmark. Scores every file of a folder in NAB's layout with the engine's
// scorer (engine/anomaly/), writes NAB's result CSVs, scores them the way NAB
// does (nab-scorer.ts: best threshold per profile, and the product's fixed
// default threshold), measures points/s single-threaded and over a worker pool,
// and writes bench/results/nab.json. Exit code 0 for a clean run, 1 when a
// check failed (pool and single thread disagree), 2 for a usage error.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DEFAULT_THRESHOLD, SNAPSHOT_STATE_BYTES, STATE_BYTES } from '../../engine/anomaly/index.ts'
import { int, machineInfo, writeResults } from '../report.ts'
import { readCorpus, type NabFile } from './corpus.ts'
import { PROFILE_NAMES, probationaryRows, scoreCorpus, type ProfileName, type ScoredFile } from './nab-scorer.ts'
import { writeResultCsv } from './result-csv.ts'
import { scoreSeries } from './score-file.ts'
import { printNabSummary, type GroupScore } from './nab-summary.ts'
import { overPool, singleThread } from './throughput.ts'

const DETECTOR = 'tidemark'
const DEFAULT_FOLDER = fileURLToPath(new URL('./', import.meta.url))
const DEFAULT_OUT = fileURLToPath(new URL('../results/nab/', import.meta.url))

const HELP = `npm run bench -- nab [folder] [options]

Scores every data file of a folder in NAB's layout (data/<category>/<file>.csv,
labels/combined_windows.json) with Tidemark's anomaly scorer, writes NAB's result
CSVs, scores them with NAB's method, and writes bench/results/nab.json.
folder defaults to bench/nab (the repository's subset of NAB).

options:
  --workers N     worker threads of the throughput pool          (default 2)
  --seconds N     seconds each throughput measurement aims at    (default 3)
  --threshold X   the fixed threshold reported beside NAB's best (default ${DEFAULT_THRESHOLD}, the product's)
  --out DIR       where the result CSVs go                        (default bench/results/nab)
  -h, --help      this text

See bench/README.md (section nab) and docs/anomaly.md.
`

interface NabOptions {
  folder: string
  workers: number
  seconds: number
  threshold: number
  out: string
}

function parse(argv: string[]): NabOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      workers: { type: 'string', default: '2' },
      seconds: { type: 'string', default: '3' },
      threshold: { type: 'string', default: String(DEFAULT_THRESHOLD) },
      out: { type: 'string', default: DEFAULT_OUT },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) return 'help'
  if (positionals.length > 1) throw new RangeError(`one folder at a time (got ${positionals.join(', ')})`)
  const number = (flag: string, text: string, min: number, max: number, whole: boolean): number => {
    const n = Number(text)
    if (!Number.isFinite(n) || n < min || n > max || (whole && !Number.isInteger(n))) throw new RangeError(`--${flag} must be ${whole ? 'a whole number' : 'a number'} from ${min} to ${max} (got "${text}")`)
    return n
  }
  const folder = path.resolve(positionals[0] ?? DEFAULT_FOLDER)
  if (!fs.existsSync(path.join(folder, 'data')) || !fs.existsSync(path.join(folder, 'labels', 'combined_windows.json')))
    throw new RangeError(`${folder} is not in NAB's layout: it needs data/<category>/<file>.csv and labels/combined_windows.json`)
  return {
    folder,
    workers: number('workers', values.workers, 1, 64, true),
    seconds: number('seconds', values.seconds, 0.1, 600, false),
    threshold: number('threshold', values.threshold, 0, 1, false),
    out: path.resolve(values.out),
  }
}

/** Categories scored together: artificialNoAnomaly has no windows to normalise by, so it joins artificialWithAnomaly. */
const groupOf = (name: string): string => (name.split('/')[0] as string).replace(/(No|With)Anomaly$/, '')

function groupScores(scored: ScoredFile[]): GroupScore[] {
  const groups = [...new Set(scored.map((f) => groupOf(f.name)))]
  return groups.flatMap((group) => {
    const members = scored.filter((f) => groupOf(f.name) === group)
    if (members.every((f) => f.windows.length === 0)) return []
    const r = scoreCorpus(members)
    return [{ group, files: members.length, standard: round(r.standard.score), rewardLowFP: round(r.rewardLowFP.score), rewardLowFN: round(r.rewardLowFN.score), threshold: round(r.standard.threshold, 4) }]
  })
}

/** Per file at the standard profile's best threshold: windows hit and false positives (rows), for the docs and for reading a run. */
function perFile(files: NabFile[], scores: Float64Array[], threshold: number): Array<Record<string, string | number>> {
  return files.map((f, k) => {
    const s = scores[k] as Float64Array
    const start = probationaryRows(s.length)
    let hit = 0
    for (const [a, b] of f.windows) {
      let found = false
      for (let i = start; i < s.length && !found; i++) if ((f.timestamps[i] as number) >= a && (f.timestamps[i] as number) <= b && (s[i] as number) >= threshold) found = true
      if (found) hit++
    }
    let falsePositives = 0
    for (let i = start; i < s.length; i++) {
      const t = f.timestamps[i] as number
      if ((s[i] as number) >= threshold && !f.windows.some(([a, b]) => a <= t && t <= b)) falsePositives++
    }
    let max = 0
    for (let i = start; i < s.length; i++) if ((s[i] as number) > max) max = s[i] as number
    return { file: f.name, rows: s.length, windows: f.windows.length, windowsHit: hit, falsePositives, maxScore: Number(max.toFixed(4)) }
  })
}

const round = (n: number, digits = 2): number => Number(n.toFixed(digits))

export async function nabScenario(argv: string[]): Promise<number> {
  let options: NabOptions
  try {
    const parsed = parse(argv)
    if (parsed === 'help') {
      process.stdout.write(HELP)
      return 0
    }
    options = parsed
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`)
    return 2
  }
  const log = (line: string): void => void process.stderr.write(`${line}\n`)
  let files: NabFile[]
  try {
    files = readCorpus(options.folder)
  } catch (err) {
    process.stderr.write(`cannot read ${options.folder}: ${(err as Error).message}\n`)
    return 2
  }
  const tasks = files.map((f) => ({ timestamps: f.timestamps, values: f.values }))
  const points = tasks.reduce((n, t) => n + t.values.length, 0)
  log(`nab: ${files.length} files, ${int(points)} points from ${path.relative(process.cwd(), options.folder) || '.'}`)

  // Scores, one file at a time, with a line each.
  const scores: Float64Array[] = []
  files.forEach((f, k) => {
    const s = scoreSeries(tasks[k] as (typeof tasks)[number])
    scores.push(s)
    writeResultCsv(options.out, DETECTOR, f, s)
    let max = 0
    for (let i = probationaryRows(s.length); i < s.length; i++) if ((s[i] as number) > max) max = s[i] as number
    log(`  [${String(k + 1).padStart(2)}/${files.length}] ${f.name.padEnd(58)} ${String(s.length).padStart(6)} rows, ${f.windows.length} windows, max score ${max.toFixed(3)}`)
  })
  log(`nab: result CSVs in ${path.relative(process.cwd(), path.join(options.out, DETECTOR))}`)

  const scored: ScoredFile[] = files.map((f, k) => ({ name: f.name, timestamps: f.timestamps, windows: f.windows, scores: scores[k] as Float64Array }))
  const nab = scoreCorpus(scored, options.threshold)
  const groups = groupScores(scored)

  log(`nab: throughput, single thread (~${options.seconds} s)…`)
  const single = singleThread(tasks, options.seconds, () => undefined)
  log(`nab: throughput, ${options.workers} worker threads (~${options.seconds} s)…`)
  const pool = await overPool(tasks, options.workers, options.seconds, single.pointsPerSec, (done, total) => {
    if (done === total || done % (files.length * 10) === 0) log(`  ${int(done)}/${int(total)} series scored`)
  })

  // The pool must give the same scores as the main thread: the scorer is deterministic.
  const problems: string[] = []
  pool.scores.forEach((s, k) => {
    const mine = scores[k] as Float64Array
    if (s.length !== mine.length || s.some((v, i) => v !== mine[i])) problems.push(`${(files[k] as NabFile).name}: the pool's scores differ from the main thread's`)
  })

  const byProfile = <T>(pick: (p: ProfileName) => T): Record<ProfileName, T> => Object.fromEntries(PROFILE_NAMES.map((p) => [p, pick(p)])) as Record<ProfileName, T>
  const results = {
    standard: round(nab.standard.score),
    rewardLowFP: round(nab.rewardLowFP.score),
    rewardLowFN: round(nab.rewardLowFN.score),
    threshold: byProfile((p) => round(nab[p].threshold, 4)),
    atDefaultThreshold: { threshold: options.threshold, ...byProfile((p) => round(nab[p].atThreshold as number)) },
    points,
    pointsPerSec: Math.round(pool.pointsPerSec),
    pointsPerSecSingleThread: Math.round(single.pointsPerSec),
    workers: options.workers,
    files: files.length,
    stateBytesPerSeries: STATE_BYTES,
    /** What one series takes in the stream engine's partition snapshot: the state and the last message it holds. */
    snapshotBytesPerSeries: SNAPSHOT_STATE_BYTES,
    groups,
    perFile: perFile(files, scores, nab.standard.threshold),
    throughput: { singleThread: { points: single.points, seconds: round(single.seconds, 3) }, pool: { points: pool.points, seconds: round(pool.seconds, 3) } },
    folder: path.relative(process.cwd(), options.folder) || '.',
    resultCsvs: path.relative(process.cwd(), path.join(options.out, DETECTOR)),
    loadAverage: os.loadavg().map((l) => round(l)),
    machine: machineInfo(),
    clean: problems.length === 0,
    problems,
  }
  const file = writeResults('nab', results)
  printNabSummary(results, file)
  return problems.length === 0 ? 0 : 1
}
