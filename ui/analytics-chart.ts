// One uPlot chart for one metric: avg as a line inside its min-max band, and
// the sample count as bars on a second axis. Created once; refreshes only swap
// its data, so the cursor, legend and canvas survive every tick.
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { AggregateSeries } from './api.ts'

const BLUE = '#1f6feb'
const EDGE = '#8db4f2'
const BAND = 'rgba(31, 111, 235, 0.12)'
const GREY = 'rgba(110, 118, 129, 0.35)'

/** Lines cannot draw a bucket whose neighbours are gaps: dot those, so a lone sample stays visible. */
function loneBuckets(u: uPlot, seriesIdx: number, show: boolean): number[] | null {
  if (show) return null
  const ys = u.data[seriesIdx] ?? []
  const lone: number[] = []
  for (let i = 0; i < ys.length; i++) if (ys[i] != null && ys[i - 1] == null && ys[i + 1] == null) lone.push(i)
  return lone.length > 0 ? lone : null
}

function chartHeight(): number {
  return Math.round(Math.min(420, Math.max(220, window.innerHeight * 0.45)))
}

export class AnalyticsChart {
  readonly plot: uPlot

  constructor(container: HTMLElement) {
    const edge = { stroke: EDGE, width: 1, dash: [4, 4], points: { show: false, filter: loneBuckets, size: 5 } }
    const options: uPlot.Options = {
      width: container.clientWidth,
      height: chartHeight(),
      // The API's bucket starts are epoch milliseconds.
      ms: 1,
      scales: { count: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      series: [
        {},
        { label: 'avg', stroke: BLUE, width: 2, points: { filter: loneBuckets, size: 6 } },
        { label: 'min', ...edge },
        { label: 'max', ...edge },
        { label: 'count', scale: 'count', fill: GREY, stroke: GREY, paths: uPlot.paths.bars?.({ size: [0.8, 40] }), points: { show: false } },
      ],
      // Fill from max (3) down to min (2).
      bands: [{ series: [3, 2], fill: BAND }],
      axes: [{}, { label: 'value' }, { scale: 'count', side: 1, label: 'count', grid: { show: false } }],
    }
    this.plot = new uPlot(options, [[], [], [], [], []], container)
    this.followSize(container)
  }

  show(series: AggregateSeries): void {
    this.plot.setData([series.t, series.avg, series.min, series.max, series.count])
  }

  clear(): void {
    this.plot.setData([[], [], [], [], []])
  }

  /**
   * Resizes fire in bursts; one setSize per frame is all the canvas needs. The
   * container is watched too, since a scrollbar appearing narrows it without a window resize.
   */
  private followSize(container: HTMLElement): void {
    let frame = 0
    const schedule = (): void => {
      cancelAnimationFrame(frame)
      frame = requestAnimationFrame(() => this.plot.setSize({ width: container.clientWidth, height: chartHeight() }))
    }
    new ResizeObserver(schedule).observe(container)
    window.addEventListener('resize', schedule)
  }
}
