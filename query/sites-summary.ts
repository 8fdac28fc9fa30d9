// The MultiSiteAggregator's figures: page views, visits and distinct visitors
// per site and across the tenant's sites, per step. Built on ordinary beacons
// (`page_views` and `visits` with `site` and `visitor` tags), so a reporter
// sending those works today and the tracker will feed the same figures.
// Visitors are the `visitor` tag's uniq states: merged across sites, one person
// seen on two sites counts once in the total (sums of per-site counts would
// count them twice). Those states live in the hourly rollup only: a step of
// whole hours reads it, any other step raw rows.
import { VISITORS_FN, type ClickHouseStore } from '../engine/index.ts'
import { readBuckets, rowsByGroup, type BucketRow } from './bucket-query.ts'
import type { SiteSeries, SitesSummaryResponse, SiteTotals } from './read-contract.ts'
import type { TimeRange } from './time-range.ts'

export const SITE_TAG = 'site'
export const TRACKER_METRICS = ['page_views', 'visits'] as const

const measures = [
  ...TRACKER_METRICS.map((m) => ({ name: m, raw: `sumIf(value, metric = '${m}')`, rollup: `sumIf(sum, metric = '${m}')` })),
  { name: 'visitors', raw: VISITORS_FN, rollup: 'uniqMerge(visitors)' },
]

function columnsOf(rows: readonly BucketRow[], range: TimeRange): { total: SiteTotals; series: SiteSeries } {
  const stepMs = range.stepS * 1000
  const series: SiteSeries = { t: [], page_views: [], visits: [], visitors: [] }
  for (let i = 0; i < range.points; i++) {
    series.t.push(range.fromMs + i * stepMs)
    series.page_views.push(0)
    series.visits.push(0)
    series.visitors.push(0)
  }
  const total: SiteTotals = { page_views: 0, visits: 0, visitors: 0 }
  for (const row of rows) {
    const figures = { page_views: Number(row.page_views ?? 0), visits: Number(row.visits ?? 0), visitors: Number(row.visitors ?? 0) }
    if (row.bucket === null) {
      Object.assign(total, figures)
      continue
    }
    const i = (row.bucket - range.fromMs) / stepMs
    series.page_views[i] = figures.page_views
    series.visits[i] = figures.visits
    series.visitors[i] = figures.visitors
  }
  return { total, series }
}

export async function sitesSummary(store: ClickHouseStore, tenant: string, range: TimeRange): Promise<SitesSummaryResponse> {
  const { rows, table } = await readBuckets(store, tenant, range, {
    metrics: TRACKER_METRICS,
    measures,
    needsSketches: true,
    groupBy: { tag: SITE_TAG },
  })
  const byGroup = rowsByGroup(rows)
  const overall = columnsOf(byGroup.get(null) ?? [], range)
  const sites = [...byGroup]
    .filter((entry): entry is [string, BucketRow[]] => entry[0] !== null)
    .map(([site, siteRows]) => ({ site, ...columnsOf(siteRows, range) }))
    .sort((a, b) => b.total.page_views - a.total.page_views || a.site.localeCompare(b.site))
  return { from: range.fromMs, to: range.toMs, step: range.stepS, source: table, total: overall.total, series: overall.series, sites }
}
