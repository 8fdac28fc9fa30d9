// NAB's result files: one CSV per data file, <out>/<detector>/<category>/<detector>_<file>.csv
// with columns timestamp,value,anomaly_score,label (label 1 inside a labelled window),
// the layout NAB's own scorer and plots read.
import fs from 'node:fs'
import path from 'node:path'
import type { NabFile } from './corpus.ts'

export function writeResultCsv(outDir: string, detector: string, file: NabFile, scores: Float64Array): string {
  const [category, base] = file.name.split('/') as [string, string]
  const target = path.join(outDir, detector, category, `${detector}_${base}`)
  fs.mkdirSync(path.dirname(target), { recursive: true })
  const lines = ['timestamp,value,anomaly_score,label']
  for (let i = 0; i < scores.length; i++) {
    const t = file.timestamps[i] as number
    const label = file.windows.some(([a, b]) => a <= t && t <= b) ? 1 : 0
    lines.push(`${file.timestampText[i]},${file.values[i]},${scores[i]},${label}`)
  }
  fs.writeFileSync(target, lines.join('\n') + '\n')
  return target
}
