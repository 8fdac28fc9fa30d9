// MultiSiteAggregator: visits and unique visitors per site and in total (from
// /analytics/sites-summary, the browser tracker's pageviews), a sparkline per
// site and one chart of the total.
import uPlot from 'uplot'
import type { SitesSummaryResponse } from './api.ts'
import { cssVar, followSize, nameChart, timeChartOptions, valueAxis, type ChartContext } from './chart-kit.ts'
import { element, Figures, Panel } from './panel.ts'

const HEIGHT = 200
const SPARK_W = 120
const SPARK_H = 24

/** A polyline of the values, scaled to its own maximum: the shape of a site's traffic, not its size. */
function sparkline(values: number[]): SVGSVGElement {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg')
  svg.setAttribute('viewBox', `0 0 ${SPARK_W} ${SPARK_H}`)
  svg.setAttribute('width', String(SPARK_W))
  svg.setAttribute('height', String(SPARK_H))
  svg.setAttribute('class', 'sparkline')
  svg.setAttribute('aria-hidden', 'true')
  const max = Math.max(1, ...values)
  const dx = values.length > 1 ? SPARK_W / (values.length - 1) : 0
  const points = values.map((v, i) => `${(i * dx).toFixed(1)},${(SPARK_H - 1 - (v / max) * (SPARK_H - 2)).toFixed(1)}`).join(' ')
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline')
  line.setAttribute('points', points)
  svg.append(line)
  return svg
}

const integer = (n: number): string => n.toLocaleString()

export class SitesPanel {
  readonly panel: Panel
  readonly plot: uPlot
  private readonly figures: Figures
  private readonly rows: HTMLTableSectionElement

  constructor(parent: HTMLElement, context: ChartContext) {
    this.panel = new Panel(parent, 'sites', 'Sites')
    this.figures = new Figures(this.panel.body, 'sites-total', [
      { key: 'visits', label: 'visits, all sites' },
      { key: 'visitors', label: 'unique visitors' },
      { key: 'page_views', label: 'page views' },
    ])
    const chartBox = element('div', 'chart')
    this.panel.body.append(chartBox)
    nameChart(chartBox, 'Visits and unique visitors per step, all sites', this.figures.root)
    const base = timeChartOptions(context, HEIGHT, chartBox.clientWidth || 600)
    this.plot = new uPlot(
      {
        ...base,
        series: [
          {},
          { label: 'visits', stroke: () => cssVar('--series-1'), width: 2 },
          { label: 'visitors', stroke: () => cssVar('--series-2'), width: 2 },
        ],
        axes: [...(base.axes ?? []), valueAxis()],
      },
      [[], [], []],
      chartBox
    )
    followSize(this.plot, chartBox, () => HEIGHT)
    const table = element('table', 'data-table')
    table.dataset.testid = 'sites-table'
    const head = element('thead')
    const headRow = element('tr')
    for (const title of ['site', 'visits', 'unique visitors', 'page views']) headRow.append(element('th', title === 'site' ? undefined : 'num', title))
    headRow.append(element('th', undefined, 'visits over the range'))
    head.append(headRow)
    this.rows = element('tbody')
    table.append(head, this.rows)
    this.panel.body.append(table)
  }

  show(response: SitesSummaryResponse): void {
    const { total, series, sites } = response
    if (sites.length === 0 || total.page_views + total.visits === 0) {
      this.panel.set('empty', 'No site traffic in this range: add a site (POST /api/v2/sites or tidemark site create) and its <script> tag to your pages, or widen the range.')
      return
    }
    this.figures.set('visits', integer(total.visits))
    this.figures.set('visitors', integer(total.visitors))
    this.figures.set('page_views', integer(total.page_views))
    this.plot.setData([series.t, series.visits, series.visitors])
    this.rows.replaceChildren(
      ...sites.map((site) => {
        const row = element('tr')
        row.dataset.site = site.site
        row.append(
          element('td', undefined, site.name ?? `${site.site} (deleted)`),
          element('td', 'num', integer(site.total.visits)),
          element('td', 'num', integer(site.total.visitors)),
          element('td', 'num', integer(site.total.page_views))
        )
        const spark = element('td')
        spark.append(sparkline(site.series.visits))
        row.append(spark)
        return row
      })
    )
    this.panel.set('ready')
  }
}
