// PerformanceDashboard: response_time, db_query_time and memory_usage, each a
// chart of p50/p95/p99 per step (from /analytics/performance) with the range's
// figures above it, and trigger transitions as vertical markers on every chart.
import uPlot from 'uplot'
import type { PerformanceResponse } from './api.ts'
import { cssVar, followSize, formatTicks, nameChart, formatValue, timeChartOptions, valueAxis, type ChartContext } from './chart-kit.ts'
import { element, Figures, Panel } from './panel.ts'

const METRICS = [
  { name: 'response_time', title: 'Response time', unit: 'ms' },
  { name: 'db_query_time', title: 'DB query time', unit: 'ms' },
  // memory_usage is a percent in the metric catalogue.
  { name: 'memory_usage', title: 'Memory usage', unit: '%' },
] as const

const QUANTILES = [
  { key: 'p50', colour: '--series-1' },
  { key: 'p95', colour: '--series-2' },
  { key: 'p99', colour: '--series-3' },
] as const

const HEIGHT = 200

interface MetricView {
  figures: Figures
  plot: uPlot
  box: HTMLElement
}

export class PerformanceDashboard {
  readonly panel: Panel
  private readonly views = new Map<string, MetricView>()

  constructor(parent: HTMLElement, context: ChartContext) {
    this.panel = new Panel(parent, 'performance', 'Performance')
    const legend = element('p', 'legend', 'Markers: ')
    for (const state of ['pending', 'firing', 'resolved']) {
      const key = element('span', `marker marker-${state}`, state)
      legend.append(key, ' ')
    }
    this.panel.body.append(legend)
    for (const metric of METRICS) {
      const box = element('div', 'metric-box')
      box.dataset.testid = `performance-${metric.name}`
      box.append(element('h3', undefined, metric.title))
      const figures = new Figures(box, `perf-${metric.name}`, [
        { key: 'count', label: 'samples' },
        { key: 'avg', label: 'avg' },
        { key: 'p50', label: 'p50' },
        { key: 'p95', label: 'p95' },
        { key: 'p99', label: 'p99' },
      ])
      const chartBox = element('div', 'chart')
      box.append(chartBox)
      nameChart(chartBox, `${metric.title}: p50, p95 and p99 over the range`, figures.root)
      this.panel.body.append(box)
      const base = timeChartOptions(context, HEIGHT, chartBox.clientWidth || 600)
      const plot = new uPlot(
        {
          ...base,
          // spanGaps: a metric sampled less often than the step would otherwise read as dashes.
          series: [
            {},
            ...QUANTILES.map((q) => ({ label: q.key, stroke: () => cssVar(q.colour), width: 1.5, spanGaps: true, value: (_u: uPlot, v: number | null) => formatValue(v, metric.unit) })),
          ],
          axes: [...(base.axes ?? []), valueAxis({ values: (_u, splits) => formatTicks(splits, metric.unit) })],
        },
        [[], [], [], []],
        chartBox
      )
      followSize(plot, chartBox, () => HEIGHT)
      this.views.set(metric.name, { figures, plot, box })
    }
  }

  /** The charts of the view, for tests and the console. */
  plots(): Record<string, uPlot> {
    return Object.fromEntries([...this.views].map(([name, view]) => [name, view.plot]))
  }

  show(response: PerformanceResponse): void {
    for (const metric of METRICS) {
      const view = this.views.get(metric.name)!
      const total = response.total[metric.name]
      // A metric the tenant never sent is left out rather than drawn as an empty frame.
      view.box.hidden = !total || total.count === 0
      view.figures.set('count', total ? total.count.toLocaleString() : '–')
      for (const figure of ['avg', 'p50', 'p95', 'p99'] as const) view.figures.set(figure, formatValue(total?.[figure], metric.unit))
      const { t } = response.series
      view.plot.setData([t, ...QUANTILES.map((q) => response.series[`${metric.name}_${q.key}`] ?? t.map(() => null))] as uPlot.AlignedData)
    }
    this.panel.set('ready')
  }

  /** Redraws the markers when the trigger history arrives after the series. */
  redraw(): void {
    for (const view of this.views.values()) view.plot.redraw(false)
  }
}
