// One uPlot chart for one metric: avg as a line inside its min-max band, and
// the sample count as bars on a second axis. Created once; refreshes only swap
// its data, so the cursor, legend and canvas survive every tick.
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { AggregateSeries } from './api.ts'
import { followSize, formatTicks, formatValue, timeChartOptions, valueAxis, type ChartContext, type Unit } from './chart-kit.ts'

const BLUE = '#1f6feb'
const EDGE = '#8db4f2'
const BAND = 'rgba(31, 111, 235, 0.12)'
const GREY = 'rgba(110, 118, 129, 0.35)'

/**
 * How many buckets a line may bridge: twice the usual spacing between filled
 * buckets. A metric sent once a minute, charted in 15 s buckets, then reads as
 * a line, while a pause longer than its rhythm still shows as a break.
 */
function bridgeableSpan(count: number[]): number {
  const spans: number[] = []
  let previous = -1
  for (let i = 0; i < count.length; i++) {
    if ((count[i] ?? 0) === 0) continue
    if (previous >= 0) spans.push(i - previous)
    previous = i
  }
  spans.sort((a, b) => a - b)
  return 2 * (spans[Math.floor(spans.length / 2)] ?? 1)
}

function chartHeight(): number {
  return Math.round(Math.min(420, Math.max(220, window.innerHeight * 0.45)))
}

export class AnalyticsChart {
  readonly plot: uPlot
  /** In buckets; set from each answer's counts by show(). */
  private bridge = 2
  /** The metric's unit (engine/model/units.ts), for the axis and the legend. */
  private unit: Unit = ''

  constructor(container: HTMLElement, context: ChartContext) {
    const gaps = this.keepWideGaps.bind(this)
    const filter = this.loneBuckets.bind(this)
    const inUnit = (_u: uPlot, v: number | null): string => formatValue(v, this.unit)
    const edge = { value: inUnit, stroke: EDGE, width: 1, dash: [4, 4], gaps, points: { show: false, filter, size: 5 } }
    const base = timeChartOptions(context, chartHeight(), container.clientWidth)
    const options: uPlot.Options = {
      ...base,
      // Counts keep to the lower third, under the values they qualify.
      scales: { ...base.scales, count: { range: (_u, _min, max) => [0, 3 * Math.max(1, max)] } },
      series: [
        {},
        { label: 'avg', value: inUnit, stroke: BLUE, width: 2, gaps, points: { filter, size: 6 } },
        { label: 'min', ...edge },
        { label: 'max', ...edge },
        { label: 'count', scale: 'count', fill: GREY, stroke: GREY, paths: uPlot.paths.bars?.({ size: [0.8, 40] }), points: { show: false } },
      ],
      // Fill from max (3) down to min (2).
      bands: [{ series: [3, 2], fill: BAND }],
      axes: [...(base.axes ?? []), valueAxis({ label: 'value', values: (_u, splits) => formatTicks(splits, this.unit) }), valueAxis({ scale: 'count', side: 1, label: 'count', grid: { show: false } })],
    }
    this.plot = new uPlot(options, [[], [], [], [], []], container)
    followSize(this.plot, container, chartHeight)
  }

  show(series: AggregateSeries, unit: Unit = ''): void {
    this.unit = unit
    this.bridge = bridgeableSpan(series.count)
    this.plot.setData([series.t, series.avg, series.min, series.max, series.count])
  }

  clear(): void {
    this.plot.setData([[], [], [], [], []])
  }

  /** uPlot's gaps are canvas-pixel spans between the filled buckets either side; the narrow ones are bridged. */
  private keepWideGaps(u: uPlot, _seriesIdx: number, _idx0: number, _idx1: number, nullGaps: uPlot.Series.Gaps): uPlot.Series.Gaps {
    const t = u.data[0]
    if (t.length < 2) return nullGaps
    const bucketPx = u.valToPos(t[1]!, 'x', true) - u.valToPos(t[0]!, 'x', true)
    return nullGaps.filter(([from, to]) => to - from > (this.bridge + 0.5) * bucketPx)
  }

  /** A bucket no line reaches (its gaps on both sides too wide to bridge) gets a dot, so a lone sample stays visible. */
  private loneBuckets(u: uPlot, seriesIdx: number, show: boolean): number[] | null {
    if (show) return null
    const ys = u.data[seriesIdx] ?? []
    const lone: number[] = []
    let previous = -Infinity
    for (let i = 0; i < ys.length; i++) {
      if (ys[i] == null) continue
      let next = i + 1
      while (next < ys.length && ys[next] == null) next++
      if (i - previous > this.bridge && (next >= ys.length || next - i > this.bridge)) lone.push(i)
      previous = i
    }
    return lone.length > 0 ? lone : null
  }
}
