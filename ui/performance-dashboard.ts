// PerformanceDashboard: response_time, db_query_time and memory_usage, each a
// chart of p50/p95/p99 per step (from /analytics/performance) with the range's
// figures above it, trigger transitions as vertical markers on every chart, and
// under each chart its anomaly band (anomaly-strip.ts) when the engine has scored it.
import uPlot from 'uplot'
import type { PerformanceResponse } from './api.ts'
import { AnomalyStrip, alignScores } from './anomaly-strip.ts'
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
  anomaly: AnomalyStrip
}

export class PerformanceDashboard {
  readonly panel: Panel
  private readonly views = new Map<string, MetricView>()
  private last: PerformanceResponse | undefined

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
          axes: [
            ...(base.axes ?? []),
            valueAxis({ values: (_u, splits) => formatTicks(splits, metric.unit) }),
          ],
        },
        [[], [], [], []],
        chartBox
      )
      followSize(plot, chartBox, () => HEIGHT)
      const anomaly = new AnomalyStrip(box, context, metric)
      // The band lines up under the chart whatever width the chart's axis takes.
      plot.hooks.draw = [...(plot.hooks.draw ?? []), (u) => anomaly.alignWith(u)]
      this.views.set(metric.name, { figures, plot, box, anomaly })
    }
  }

  /** The charts of the view, for tests and the console. */
  plots(): Record<string, uPlot> {
    return Object.fromEntries([...this.views].flatMap(([name, view]) => [[name, view.plot], [`${name}_anomaly`, view.anomaly.plot]]))
  }

  show(response: PerformanceResponse): void {
    this.last = response
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

  /** The metrics the view charts: the ones anomaly scores are asked for. */
  metrics(): string[] {
    return METRICS.map((m) => m.name)
  }

  /** The step and buckets last shown, for asking the anomaly scores in the same buckets. */
  get buckets(): { step: number; t: number[] } | undefined {
    return this.last && { step: this.last.step, t: this.last.series.t }
  }

  /** Each metric's highest anomaly score per step (aggregate of anomaly_score, tag metric=<name>), aligned to the last buckets shown; none hides the band. */
  showAnomalies(scores: Record<string, { t: number[]; max: (number | null)[] } | undefined>): void {
    const t = this.last?.series.t ?? []
    for (const [name, view] of this.views) {
      const scored = scores[name]
      view.anomaly.show(t, scored && alignScores(t, scored))
    }
  }

  /** Redraws the markers when the trigger history arrives after the series. */
  redraw(): void {
    for (const view of this.views.values()) {
      view.plot.redraw(false)
      view.anomaly.plot.redraw(false)
    }
  }
}
