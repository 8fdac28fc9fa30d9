// One table of what each metric kind is measured in, and one way of scaling a
// value to read well (1,250 ms reads 1.25 s; 2,048 KB reads 2 MB). Used by the
// server's SVG charts (query/svg-chart.ts) and by the dashboard, which imports
// this file directly: it is pure and tiny (no runtime imports), so the bundle
// carries only these few lines.
import type { MetricKind } from './metric-catalogue.ts'

/** The units values arrive in. KB is for figures the API reports in kilobytes (cache size). */
export type Unit = '' | 'ms' | '%' | 'B' | 'KB'

/** What a metric kind is measured in; counts and gauges have no unit. */
export const KIND_UNITS: Readonly<Record<MetricKind, Unit>> = { count: '', duration_ms: 'ms', percent: '%', bytes: 'B', gauge: '' }

/** The unit of a kind named by the API (metric-names), '' for none or an unknown kind. */
export function unitOfKind(kind: string | undefined): Unit {
  return kind !== undefined && Object.hasOwn(KIND_UNITS, kind) ? KIND_UNITS[kind as MetricKind] : ''
}

/** How to show values up to `maxAbs` in `unit`: divide by scale, then append suffix. */
export interface UnitScale {
  scale: number
  suffix: string
}

const SIZES = ['B', 'KB', 'MB', 'GB', 'TB', 'PB']

export function unitScale(unit: Unit, maxAbs: number): UnitScale {
  if (unit === 'ms') return maxAbs >= 1000 ? { scale: 1000, suffix: ' s' } : { scale: 1, suffix: ' ms' }
  if (unit === '%') return { scale: 1, suffix: ' %' }
  if (unit === 'B' || unit === 'KB') {
    // Sizes step by 1024; a figure in KB starts one rung up.
    const first = unit === 'KB' ? 1 : 0
    let k = 0
    while (first + k < SIZES.length - 1 && maxAbs >= 1024 ** (k + 1)) k++
    return { scale: 1024 ** k, suffix: ` ${SIZES[first + k]}` }
  }
  return { scale: 1, suffix: '' }
}

const DEFAULT_FORMAT = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 })

/** A figure in its unit, scaled by its own size; '–' for no value. */
export function formatInUnit(value: number | null | undefined, unit: Unit, format: Intl.NumberFormat = DEFAULT_FORMAT): string {
  if (value == null || Number.isNaN(value)) return '–'
  const { scale, suffix } = unitScale(unit, Math.abs(value))
  return format.format(value / scale) + suffix
}
