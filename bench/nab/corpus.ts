// Reads a folder in NAB's layout: data/<category>/<file>.csv (timestamp,value)
// and labels/combined_windows.json ({"<category>/<file>.csv": [[start, end], …]}),
// and result folders in NAB's result layout (<detector>/<category>/<detector>_<file>.csv,
// plain or gzipped). Timestamps are read as UTC, as NAB's are naive datetimes.
import fs from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'

export interface NabFile {
  /** "<category>/<file>.csv", the key of combined_windows.json. */
  name: string
  timestamps: Float64Array
  values: Float64Array
  /** The timestamps as written in the file, for the result CSVs. */
  timestampText: string[]
  windows: Array<[number, number]>
}

/** "2014-04-10 07:15:00" or "2014-04-10 07:15:00.000000" (NAB's label format) as epoch ms, UTC. */
export function parseNabTime(text: string): number {
  const ms = Date.parse(`${text.trim().replace(' ', 'T')}Z`)
  if (Number.isNaN(ms)) throw new Error(`not a NAB timestamp: "${text}"`)
  return ms
}

function readText(file: string): string {
  const bytes = fs.readFileSync(file)
  return file.endsWith('.gz') ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8')
}

/** Rows of a CSV with a header, as the named columns; blank lines skipped. */
export function readColumns(file: string, columns: string[]): string[][] {
  const lines = readText(file).split(/\r?\n/)
  const header = (lines[0] ?? '').split(',').map((h) => h.trim())
  const index = columns.map((c) => {
    const i = header.indexOf(c)
    if (i < 0) throw new Error(`${file}: no "${c}" column (header: ${header.join(',')})`)
    return i
  })
  const out = columns.map((): string[] => [])
  for (let r = 1; r < lines.length; r++) {
    const line = lines[r] as string
    if (line.trim() === '') continue
    const cells = line.split(',')
    for (let c = 0; c < index.length; c++) (out[c] as string[]).push(cells[index[c] as number] ?? '')
  }
  return out
}

export function readLabels(folder: string): Record<string, Array<[string, string]>> {
  const file = path.join(folder, 'labels', 'combined_windows.json')
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, Array<[string, string]>>
}

/** Every data file of the folder that has labels, sorted by name. */
export function readCorpus(folder: string): NabFile[] {
  const dataDir = path.join(folder, 'data')
  if (!fs.existsSync(dataDir)) throw new Error(`${folder} is not in NAB's layout: no data/ folder`)
  const labels = readLabels(folder)
  const files: NabFile[] = []
  for (const category of fs.readdirSync(dataDir).sort()) {
    const dir = path.join(dataDir, category)
    if (!fs.statSync(dir).isDirectory()) continue
    for (const base of fs.readdirSync(dir).sort()) {
      if (!base.endsWith('.csv')) continue
      const name = `${category}/${base}`
      const windows = labels[name]
      if (!windows) throw new Error(`${name} has no entry in labels/combined_windows.json`)
      const [ts, vs] = readColumns(path.join(dir, base), ['timestamp', 'value']) as [string[], string[]]
      const values = Float64Array.from(vs, (v) => (v.trim() === '' ? Number.NaN : Number(v)))
      const bad = values.findIndex((v) => !Number.isFinite(v))
      if (bad >= 0) throw new Error(`${name} row ${bad + 2}: value "${vs[bad]}" is not a finite number`)
      files.push({
        name,
        timestampText: ts,
        timestamps: Float64Array.from(ts, parseNabTime),
        values,
        windows: windows.map(([a, b]) => [parseNabTime(a), parseNabTime(b)] as [number, number]),
      })
    }
  }
  if (files.length === 0) throw new Error(`no data files under ${dataDir}`)
  return files
}

/** A detector's anomaly scores for one data file, from NAB's result layout (`.csv` or `.csv.gz`). */
export function readResultScores(resultsDir: string, detector: string, name: string): Float64Array {
  const [category, base] = name.split('/') as [string, string]
  const stem = path.join(resultsDir, detector, category, `${detector}_${base}`)
  const file = fs.existsSync(stem) ? stem : `${stem}.gz`
  const [scores] = readColumns(file, ['anomaly_score']) as [string[]]
  return Float64Array.from(scores, Number)
}
