// The NAB run's summary table on stdout: scores per profile at NAB's best
// threshold and at the product's fixed one, per category group, and the cost.
import { int } from '../report.ts'

export interface GroupScore {
  group: string
  files: number
  standard: number
  rewardLowFP: number
  rewardLowFN: number
  threshold: number
}

export interface NabSummary {
  standard: number
  rewardLowFP: number
  rewardLowFN: number
  threshold: { standard: number; rewardLowFP: number; rewardLowFN: number }
  atDefaultThreshold: { threshold: number; standard: number; rewardLowFP: number; rewardLowFN: number }
  points: number
  pointsPerSec: number
  pointsPerSecSingleThread: number
  workers: number
  files: number
  stateBytesPerSeries: number
  snapshotBytesPerSeries?: number
  groups: GroupScore[]
  loadAverage: number[]
  problems: string[]
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (c: string[]): string => c.map((v, i) => (i === 0 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

export function printNabSummary(r: NabSummary, resultsFile: string): void {
  const f = (n: number): string => n.toFixed(2)
  const rows = [
    ['NAB best threshold', f(r.standard), f(r.rewardLowFP), f(r.rewardLowFN), `${r.threshold.standard} / ${r.threshold.rewardLowFP} / ${r.threshold.rewardLowFN}`],
    [`fixed threshold ${r.atDefaultThreshold.threshold}`, f(r.atDefaultThreshold.standard), f(r.atDefaultThreshold.rewardLowFP), f(r.atDefaultThreshold.rewardLowFN), String(r.atDefaultThreshold.threshold)],
    ...r.groups.map((g) => [`  ${g.group} (${g.files} files, own best)`, f(g.standard), f(g.rewardLowFP), f(g.rewardLowFN), String(g.threshold)]),
  ]
  let out = `\n${table(['tidemark on NAB', 'standard', 'low FP', 'low FN', 'threshold'], rows)}\n\n`
  out += `${r.files} files, ${int(r.points)} points; ${int(r.pointsPerSec)} points/s over ${r.workers} worker threads, ${int(r.pointsPerSecSingleThread)} points/s in one thread; state ${int(r.stateBytesPerSeries)} bytes per series${r.snapshotBytesPerSeries ? ` (${int(r.snapshotBytesPerSeries)} in the engine's snapshot)` : ''}\n`
  out += `load average ${r.loadAverage.join(' ')} (2 cores shared: throughput varies with the neighbours); results in ${resultsFile}\n`
  if (r.problems.length > 0) {
    const bar = '!'.repeat(78)
    out += `\n${bar}\n!! THIS RUN HAD ERRORS\n${r.problems.map((p) => `!!   ${p}\n`).join('')}${bar}\n`
  }
  process.stdout.write(out)
}
