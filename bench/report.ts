// What a bench leaves behind: a JSON file under bench/results/ (gitignored, for
// tools and comparisons) and a summary table on stdout (for people), with any
// errors of the run in a banner that cannot be missed.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export interface SummaryRow {
  scenario: string
  perSec: number
  baselinePerSec: number
  ratio: number
  p50: number
  p99: number
  baselineP50: number
  baselineP99: number
  non2xx: number
  errors: number
}

export function machineInfo(): Record<string, string | number> {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
  }
}

/** Writes bench/results/<scenario>.json and returns its path relative to the working directory. */
export function writeResults(scenario: string, results: object): string {
  const file = fileURLToPath(new URL(`./results/${scenario}.json`, import.meta.url))
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n')
  return path.relative(process.cwd(), file)
}

/** The q-quantile (0 to 1) of ascending figures, nearest rank; NaN for none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
}

export interface Timing {
  p50Ms: number
  p95Ms: number
  p99Ms: number
  meanMs: number
}

/** p50, p95, p99 and mean of durations in ms, to 0.01 ms. */
export function timingOf(ms: readonly number[]): Timing {
  const sorted = [...ms].sort((a, b) => a - b)
  const round = (n: number): number => Math.round(n * 100) / 100
  return { p50Ms: round(quantile(sorted, 0.5)), p95Ms: round(quantile(sorted, 0.95)), p99Ms: round(quantile(sorted, 0.99)), meanMs: round(sorted.reduce((a, b) => a + b, 0) / sorted.length) }
}

/** A count or rate as people read it: 12,345. */
export const int = (n: number): string => Math.round(n).toLocaleString('en-US')

function table(rows: SummaryRow[]): string {
  const header = ['scenario', 'beacons/s', 'baseline/s', 'ratio', 'p50 ms', 'p99 ms', 'base p50', 'base p99', 'non-2xx', 'errors']
  const cells = rows.map((r) => [
    r.scenario,
    int(r.perSec),
    int(r.baselinePerSec),
    r.ratio.toFixed(3),
    String(r.p50),
    String(r.p99),
    String(r.baselineP50),
    String(r.baselineP99),
    int(r.non2xx),
    int(r.errors),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)))
  // The scenario name reads left-aligned; figures line up on the right.
  const line = (c: string[]): string => c.map((v, i) => (i === 0 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n')
}

export function printSummary(rows: SummaryRow[], notes: string[], problems: string[]): void {
  let out = `\n${table(rows)}\n\n${notes.map((n) => `${n}\n`).join('')}`
  if (problems.length > 0) {
    const bar = '!'.repeat(78)
    out += `\n${bar}\n!! THIS RUN HAD ERRORS: the figures above are not a clean measurement\n`
    out += problems.map((p) => `!!   ${p}\n`).join('')
    out += `${bar}\n`
  }
  process.stdout.write(out)
}
