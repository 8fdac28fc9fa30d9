// The anomaly band under a performance chart: the highest anomaly score of each
// step (the engine stores scores as samples of `anomaly_score` tagged
// `metric=<scored metric>`), drawn as a filled strip on a 0–1 scale with the
// threshold dashed across it. Shown only while there are scores to draw.
import uPlot from 'uplot'
import { axisWidth, cssVar, followSize, nameChart, timeChartOptions, valueAxis, type ChartContext } from './chart-kit.ts'
import { element } from './panel.ts'

/** The engine's default anomaly threshold: a score at or above it counts as an anomaly. */
export const ANOMALY_THRESHOLD = 0.5
const HEIGHT = 90

/** Max score per bucket, aligned to `t` (bucket starts): null where no score fell. */
export function alignScores(t: readonly number[], scored: { t: readonly number[]; max: readonly (number | null)[] }): (number | null)[] {
  const byStart = new Map<number, number | null>()
  scored.t.forEach((start, i) => byStart.set(start, scored.max[i] ?? null))
  return t.map((start) => byStart.get(start) ?? null)
}

/** The threshold as a dashed line across the strip. */
const thresholdLine: uPlot.Plugin = {
  hooks: {
    draw: (u) => {
      const { ctx } = u
      const y = Math.round(u.valToPos(ANOMALY_THRESHOLD, 'y', true))
      ctx.save()
      ctx.strokeStyle = cssVar('--firing')
      ctx.lineWidth = devicePixelRatio
      ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio])
      ctx.beginPath()
      ctx.moveTo(u.bbox.left, y)
      ctx.lineTo(u.bbox.left + u.bbox.width, y)
      ctx.stroke()
      ctx.restore()
    },
  },
}

export class AnomalyStrip {
  readonly root: HTMLElement
  readonly plot: uPlot
  private readonly summary: HTMLElement
  /** Where the chart above has its plotting area, in CSS px from its left and right edges. */
  private frame = { left: 0, right: 0 }

  constructor(parent: HTMLElement, context: ChartContext, metric: { name: string; title: string }) {
    this.root = element('div', 'anomaly')
    this.root.dataset.testid = `anomaly-${metric.name}`
    this.root.hidden = true
    this.summary = element('p', 'legend')
    this.summary.dataset.testid = `anomaly-${metric.name}-summary`
    const chartBox = element('div', 'chart')
    nameChart(chartBox, `${metric.title}: the highest anomaly score of each step, 0 to 1, threshold ${ANOMALY_THRESHOLD}`)
    chartBox.setAttribute('aria-describedby', (this.summary.id = `anomaly-${metric.name}-text`))
    this.root.append(this.summary, chartBox)
    parent.append(this.root)
    const base = timeChartOptions(context, HEIGHT, chartBox.clientWidth || 600)
    this.plot = new uPlot(
      {
        ...base,
        scales: { ...base.scales, y: { range: [0, 1] } },
        legend: { show: false },
        series: [
          {},
          {
            label: 'anomaly score',
            stroke: () => cssVar('--anomaly'),
            fill: () => cssVar('--anomaly-fill'),
            width: 1.5,
            // A bar filling each scored step: scores are sparse, and a stepped line draws nothing for a lone one.
            paths: uPlot.paths.bars?.({ size: [1, Infinity], align: 1, gap: 0 }),
            points: { show: false },
          },
        ],
        // The time axis is the chart's above; here only the score's 0, threshold and 1.
        axes: [
          { show: false },
          // As wide as the chart's y axis (at least its own labels), so both plotting areas span the same x.
          valueAxis({ splits: () => [0, ANOMALY_THRESHOLD, 1], values: (_u, splits) => splits.map((v) => String(v)), size: (u, values) => Math.max(this.frame.left, axisWidth(u, values)) }),
        ],
        padding: [10, () => this.frame.right, 10, 0],
        plugins: [...(base.plugins ?? []), thresholdLine],
      },
      [[], []],
      chartBox
    )
    followSize(this.plot, chartBox, () => HEIGHT)
  }

  /** Lines the plotting area up with the chart above's (its draw hook calls this); lays out again only on a change. */
  alignWith(chart: uPlot): void {
    const ratio = uPlot.pxRatio
    const frame = { left: Math.round(chart.bbox.left / ratio), right: Math.round(chart.width - (chart.bbox.left + chart.bbox.width) / ratio) }
    if (frame.left === this.frame.left && frame.right === this.frame.right) return
    this.frame = frame
    this.plot.setSize({ width: this.plot.width, height: this.plot.height })
  }

  /** Scores aligned to the chart's buckets, or none (the strip hides). */
  show(t: number[], scores: (number | null)[] | undefined): void {
    const shown = scores?.filter((v): v is number => v !== null) ?? []
    this.root.hidden = shown.length === 0
    if (!scores || shown.length === 0) return
    const above = shown.filter((v) => v >= ANOMALY_THRESHOLD).length
    const peak = Math.max(...shown)
    this.summary.textContent = `Anomaly score, highest per step: peak ${peak.toFixed(2)}, ${above} ${above === 1 ? 'step' : 'steps'} at or above the threshold ${ANOMALY_THRESHOLD}`
    this.plot.setData([t, scores])
  }
}
