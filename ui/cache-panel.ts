// AnalyticsCharts' cache view: hits and misses per step as bars, the hit ratio
// as a line, the size as the range's largest, from /analytics/cache.
import uPlot from 'uplot'
import type { CacheResponse } from './api.ts'
import { cssVar, followSize, formatTicks, nameChart, formatValue, timeChartOptions, valueAxis, type ChartContext } from './chart-kit.ts'
import { element, Figures, Panel } from './panel.ts'

const HEIGHT = 220

export class CachePanel {
  readonly panel: Panel
  readonly plot: uPlot
  private readonly figures: Figures

  constructor(parent: HTMLElement, context: ChartContext) {
    this.panel = new Panel(parent, 'cache', 'Cache')
    this.figures = new Figures(this.panel.body, 'cache', [
      { key: 'hits', label: 'hits' },
      { key: 'misses', label: 'misses' },
      { key: 'hitRatio', label: 'hit ratio' },
      { key: 'sizeKb', label: 'largest size' },
    ])
    const chartBox = element('div', 'chart')
    this.panel.body.append(chartBox)
    nameChart(chartBox, 'Cache hits and misses per step, and the hit ratio', this.figures.root)
    const base = timeChartOptions(context, HEIGHT, chartBox.clientWidth || 600)
    const bars = uPlot.paths.bars?.({ size: [0.6, 30] })
    this.plot = new uPlot(
      {
        ...base,
        scales: { ...base.scales, ratio: { range: [0, 100] } },
        series: [
          {},
          { label: 'hits', stroke: () => cssVar('--series-1'), fill: () => cssVar('--series-1-fill'), paths: bars },
          { label: 'misses', stroke: () => cssVar('--series-2'), fill: () => cssVar('--series-2-fill'), paths: bars },
          { label: 'hit ratio', scale: 'ratio', stroke: () => cssVar('--series-3'), width: 2, value: (_u, v) => formatValue(v, '%') },
        ],
        axes: [...(base.axes ?? []), valueAxis({ label: 'requests' }), valueAxis({ scale: 'ratio', side: 1, grid: { show: false }, values: (_u, s) => formatTicks(s, '%') })],
      },
      [[], [], [], []],
      chartBox
    )
    followSize(this.plot, chartBox, () => HEIGHT)
  }

  show(response: CacheResponse): void {
    const { total, series } = response
    this.figures.set('hits', total.hits.toLocaleString())
    this.figures.set('misses', total.misses.toLocaleString())
    this.figures.set('hitRatio', formatValue(total.hitRatio === null ? null : total.hitRatio * 100, '%'))
    this.figures.set('sizeKb', formatValue(total.sizeKb, 'KB'))
    const ratio = series.hitRatio.map((r) => (r === null ? null : r * 100))
    this.plot.setData([series.t, series.hits, series.misses, ratio] as uPlot.AlignedData)
    this.panel.set('ready')
  }
}
