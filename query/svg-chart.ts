// A time-series chart as a self-contained SVG document, for reports and embeds
// (GET /api/v2/charts/<metric>.svg). Pure functions of the data: no DOM, no
// library, no external resource (system fonts only), so the same input always
// gives the same bytes. Every text that comes from data (titles, tag values) is
// XML-escaped here, at the one place text enters the document.
import { KIND_UNITS, unitScale, type MetricKind, type UnitScale } from '../engine/index.ts'

export type ChartTheme = 'light' | 'dark'

export interface ChartInput {
  title: string
  /** A second line: the range, step and filters, already in words. */
  subtitle: string
  kind: MetricKind
  /** What the line shows: avg, p95, count… (count is in samples whatever the metric's kind). */
  stat: string
  fromMs: number
  toMs: number
  stepMs: number
  /** Bucket starts, epoch ms, one per value. */
  t: readonly number[]
  /** null: no data in that bucket (a gap in the line). */
  values: readonly (number | null)[]
  /** A min–max band around the line, aligned with t. */
  band?: { min: readonly (number | null)[]; max: readonly (number | null)[] }
  width: number
  height: number
  theme: ChartTheme
}

const PALETTES: Record<ChartTheme, { background: string; text: string; muted: string; grid: string; line: string; band: string }> = {
  light: { background: '#ffffff', text: '#1f2937', muted: '#6b7280', grid: '#e5e7eb', line: '#2563eb', band: '#93c5fd' },
  dark: { background: '#111827', text: '#e5e7eb', muted: '#9ca3af', grid: '#374151', line: '#60a5fa', band: '#1e40af' },
}

const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
/** Room for value labels on the left, the title above, time labels below. */
const MARGIN = { left: 72, right: 20, top: 52, bottom: 30 }

/** The five characters XML gives meaning to; safe in text and in double- or single-quoted attributes. */
export function escapeXml(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are not allowed in XML 1.0 at all: drop them.
  const cleaned = text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
  return cleaned.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** 1, 2 or 5 times a power of ten, the smallest at least `rough`. */
function niceStep(rough: number): number {
  const power = 10 ** Math.floor(Math.log10(rough))
  const f = rough / power
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power
}

/** Round tick values covering [min, max], about `count` of them; the first ≤ min and the last ≥ max. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1
    return niceTicks(min - pad, max + pad, count)
  }
  const step = niceStep((max - min) / Math.max(1, count - 1))
  const first = Math.floor(min / step) * step
  const ticks: number[] = []
  // Rounded to the step's decimals so 0.1 + 0.2 reads 0.3, not 0.30000000000000004.
  const decimals = Math.max(0, -Math.floor(Math.log10(step)))
  for (let v = first; v < max + step * 0.5; v += step) ticks.push(Number(v.toFixed(decimals)))
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toFixed(decimals)))
  return ticks
}

/** The axis's unit: values are divided by scale and followed by suffix, one unit for every tick (engine/model/units.ts). */
export function axisUnit(kind: MetricKind, stat: string, maxAbs: number): UnitScale {
  // count is in samples whatever the metric measures.
  return stat === 'count' ? { scale: 1, suffix: '' } : unitScale(KIND_UNITS[kind], maxAbs)
}

const TICK_FORMAT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 })

/** A tick label: a fixed locale, so a chart reads the same whichever server drew it. */
export function formatTick(value: number, unit: UnitScale): string {
  const scaled = value / unit.scale
  return (Math.abs(scaled) >= 1e6 ? scaled.toExponential(1) : TICK_FORMAT.format(scaled)) + unit.suffix
}

/** Intervals time ticks may step by, from a second to a month (30 days). */
const TIME_INTERVALS_MS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000].map(
  (s) => s * 1000
)

/** Ticks on whole UTC intervals inside [fromMs, toMs], at most about `maxTicks`, with their labels. */
export function timeTicks(fromMs: number, toMs: number, maxTicks: number): { t: number; label: string }[] {
  const span = toMs - fromMs
  const interval = TIME_INTERVALS_MS.find((i) => span / i <= maxTicks) ?? TIME_INTERVALS_MS[TIME_INTERVALS_MS.length - 1]!
  const ticks: { t: number; label: string }[] = []
  for (let t = Math.ceil(fromMs / interval) * interval; t <= toMs; t += interval) {
    const iso = new Date(t).toISOString() // 2026-11-22T06:52:33.000Z: always UTC
    const label = interval >= 86_400_000 ? iso.slice(5, 10) : interval < 60_000 ? iso.slice(11, 19) : iso.slice(11, 16)
    ticks.push({ t, label })
  }
  return ticks
}

export interface ChartLayout {
  plot: { left: number; top: number; right: number; bottom: number }
  /** x of a bucket: its middle, so a bucket's point sits over the time it covers. */
  x(t: number): number
  y(value: number): number
  valueTicks: number[]
  unit: UnitScale
}

/** Rounded to a tenth of a pixel: enough for any screen, and keeps documents short. */
const px = (n: number): number => Math.round(n * 10) / 10

export function layoutFor(input: ChartInput): ChartLayout {
  const plot = { left: MARGIN.left, top: MARGIN.top, right: input.width - MARGIN.right, bottom: input.height - MARGIN.bottom }
  const shown = [...input.values, ...(input.band?.min ?? []), ...(input.band?.max ?? [])].filter((v): v is number => v !== null && Number.isFinite(v))
  let lo = shown.length > 0 ? Math.min(...shown) : 0
  const hi = shown.length > 0 ? Math.max(...shown) : 1
  // Counts, durations, sizes and percentages are never negative: their axis starts at 0, so heights compare honestly.
  if (input.kind !== 'gauge' || input.stat === 'count') lo = Math.min(0, lo)
  const unit = axisUnit(input.kind, input.stat, Math.max(Math.abs(lo), Math.abs(hi)))
  const targetTicks = Math.max(2, Math.min(8, Math.floor((plot.bottom - plot.top) / 40)))
  const valueTicks = niceTicks(lo / unit.scale, hi / unit.scale, targetTicks).map((v) => v * unit.scale)
  const [vMin, vMax] = [valueTicks[0]!, valueTicks[valueTicks.length - 1]!]
  const span = Math.max(1, input.toMs - input.fromMs)
  return {
    plot,
    x: (t) => px(plot.left + ((t + input.stepMs / 2 - input.fromMs) / span) * (plot.right - plot.left)),
    y: (v) => px(plot.bottom - ((v - vMin) / (vMax - vMin)) * (plot.bottom - plot.top)),
    valueTicks,
    unit,
  }
}

/** Index runs with a value: each becomes one subpath, so a bucket without data breaks the line. */
export function runsOf(values: readonly (number | null)[]): number[][] {
  const runs: number[][] = []
  let run: number[] = []
  values.forEach((v, i) => {
    if (v !== null && Number.isFinite(v)) run.push(i)
    else if (run.length > 0) {
      runs.push(run)
      run = []
    }
  })
  if (run.length > 0) runs.push(run)
  return runs
}

function linePath(input: ChartInput, layout: ChartLayout): string {
  // A run of one point draws nothing as a path: isolatedPoints gives it a dot instead.
  return runsOf(input.values)
    .filter((run) => run.length > 1)
    .map((run) => run.map((i, k) => `${k === 0 ? 'M' : 'L'}${layout.x(input.t[i]!)} ${layout.y(input.values[i]!)}`).join(''))
    .join('')
}

function bandPath(input: ChartInput, layout: ChartLayout): string {
  const band = input.band
  if (!band) return ''
  const both = input.t.map((_, i) => (band.min[i] != null && band.max[i] != null ? 0 : null))
  return runsOf(both)
    .map((run) => {
      const upper = run.map((i) => `${layout.x(input.t[i]!)} ${layout.y(band.max[i]!)}`)
      const lower = [...run].reverse().map((i) => `${layout.x(input.t[i]!)} ${layout.y(band.min[i]!)}`)
      return `M${[...upper, ...lower].join('L')}Z`
    })
    .join('')
}

/** Points with no neighbour on either side: a path of one point draws nothing, so they get a dot. */
function isolatedPoints(input: ChartInput, layout: ChartLayout): string {
  return runsOf(input.values)
    .filter((run) => run.length === 1)
    .map(([i]) => `<circle cx="${layout.x(input.t[i!]!)}" cy="${layout.y(input.values[i!]!)}" r="2.5"/>`)
    .join('')
}

/** The SVG document. */
export function renderChart(input: ChartInput): string {
  const colors = PALETTES[input.theme]
  const layout = layoutFor(input)
  const { plot } = layout
  const label = `${input.title}: ${input.subtitle}`
  const hasData = input.values.some((v) => v !== null)
  const parts: string[] = []
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${input.width}" height="${input.height}" viewBox="0 0 ${input.width} ${input.height}" role="img" aria-label="${escapeXml(label)}" font-family="${escapeXml(FONT)}">`,
    `<title>${escapeXml(input.title)}</title>`,
    `<desc>${escapeXml(input.subtitle)}</desc>`,
    `<rect width="100%" height="100%" fill="${colors.background}"/>`,
    `<text x="${plot.left}" y="20" font-size="15" font-weight="600" fill="${colors.text}">${escapeXml(input.title)}</text>`,
    `<text x="${plot.left}" y="38" font-size="11" fill="${colors.muted}">${escapeXml(input.subtitle)}</text>`
  )
  parts.push(`<g class="value-axis" font-size="11" fill="${colors.muted}" text-anchor="end">`)
  for (const v of layout.valueTicks) {
    const y = layout.y(v)
    parts.push(`<line x1="${plot.left}" x2="${plot.right}" y1="${y}" y2="${y}" stroke="${colors.grid}" stroke-width="1"/>`)
    parts.push(`<text x="${plot.left - 6}" y="${y}" dy="0.32em" data-value="${v}">${escapeXml(formatTick(v, layout.unit))}</text>`)
  }
  parts.push('</g>')
  const maxTimeTicks = Math.max(2, Math.floor((plot.right - plot.left) / 90))
  parts.push(`<g class="time-axis" font-size="11" fill="${colors.muted}" text-anchor="middle">`)
  parts.push(`<line x1="${plot.left}" x2="${plot.right}" y1="${plot.bottom}" y2="${plot.bottom}" stroke="${colors.muted}" stroke-width="1"/>`)
  for (const tick of timeTicks(input.fromMs, input.toMs, maxTimeTicks)) {
    // Ticks mark instants, not buckets: placed without the half-step offset of layout.x.
    const x = px(plot.left + ((tick.t - input.fromMs) / Math.max(1, input.toMs - input.fromMs)) * (plot.right - plot.left))
    parts.push(`<line x1="${x}" x2="${x}" y1="${plot.bottom}" y2="${plot.bottom + 4}" stroke="${colors.muted}"/>`)
    parts.push(`<text x="${x}" y="${plot.bottom + 17}" data-t="${tick.t}">${tick.label}</text>`)
  }
  parts.push('</g>')
  const band = bandPath(input, layout)
  if (band) parts.push(`<path class="band" d="${band}" fill="${colors.band}" fill-opacity="0.35" stroke="none"/>`)
  const line = linePath(input, layout)
  if (line) parts.push(`<path class="line" d="${line}" fill="none" stroke="${colors.line}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>`)
  const dots = isolatedPoints(input, layout)
  if (dots) parts.push(`<g class="points" fill="${colors.line}">${dots}</g>`)
  if (!hasData) {
    parts.push(
      `<text x="${px((plot.left + plot.right) / 2)}" y="${px((plot.top + plot.bottom) / 2)}" text-anchor="middle" font-size="13" fill="${colors.muted}">No data in this range</text>`
    )
  }
  parts.push('</svg>')
  return `<?xml version="1.0" encoding="UTF-8"?>\n${parts.join('\n')}\n`
}
