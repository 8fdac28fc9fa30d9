// The MultiSiteAggregator's figures, from the browser tracker's pageviews
// table: page views, visits and unique visitors per site and across the
// tenant's sites, per step.
//
// A visit is one visitor's pageviews on one site with gaps under 30 minutes:
// a pageview starts a visit when the same visitor's previous pageview on that
// site is 30 minutes old or more (or there is none). The visit is counted in
// the bucket of its first pageview; pageviews up to 30 minutes before the
// range are read to tell a continuation from a start. Visitor ids change with
// the day's salt, so a visit running over midnight (UTC) counts as two.
//
// Unique visitors per site count the site's visitor ids; the total counts the
// tenant-wide ids (hash of the same salt, the tenant, IP and User-Agent), so a
// visitor of two sites counts once in the total, never as two.
import type { ClickHouseStore } from '../engine/index.ts'
import { MAX_ROWS_READ, readRows } from './bucket-query.ts'
import type { SiteSeries, SitesSummaryResponse, SiteTotals } from './read-contract.ts'
import type { TimeRange } from './time-range.ts'

/** A gap this long or longer between two pageviews of a visitor on a site starts a new visit. */
export const VISIT_GAP_MS = 30 * 60_000
export const SITES_SOURCE = 'pageviews'

interface SummaryRow {
  /** The site id; null: every site. */
  site: string | null
  bucket: number | string | null
  page_views: number | string
  visits: number | string
  visitors: number | string
}

function summarySql(db: string): string {
  // The tenant comes from the credential and is bound as a parameter, never spliced into the text.
  return `SELECT site, intDiv(ms, {stepMs:Int64}) * {stepMs:Int64} AS bucket,
      count() AS page_views, countIf(starts) AS visits,
      if(site IS NULL, uniqExact(tenant_visitor), uniqExact(visitor)) AS visitors
    FROM (
      SELECT site, visitor, tenant_visitor, toUnixTimestamp64Milli(ts) AS ms,
        ms - lagInFrame(ms, 1, toInt64(0)) OVER (PARTITION BY site, visitor ORDER BY ts, id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) >= {gapMs:Int64} AS starts
      FROM ${db}.pageviews FINAL
      WHERE tenant = {tenant:String}
        AND ts >= fromUnixTimestamp64Milli({lookbackMs:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({toMs:Int64}, 'UTC')
    )
    WHERE ms >= {fromMs:Int64}
    GROUP BY CUBE(site, bucket) ORDER BY site NULLS FIRST, bucket NULLS FIRST
    SETTINGS group_by_use_nulls = 1, max_execution_time = 30, max_rows_to_read = ${MAX_ROWS_READ}, read_overflow_mode = 'throw'`
}

function columnsOf(rows: readonly SummaryRow[], range: TimeRange): { total: SiteTotals; series: SiteSeries } {
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
    const figures = { page_views: Number(row.page_views), visits: Number(row.visits), visitors: Number(row.visitors) }
    if (row.bucket === null) {
      Object.assign(total, figures)
      continue
    }
    const i = (Number(row.bucket) - range.fromMs) / stepMs
    series.page_views[i] = figures.page_views
    series.visits[i] = figures.visits
    series.visitors[i] = figures.visitors
  }
  return { total, series }
}

/**
 * The tenant's figures over the range. `sites` names the tenant's registered sites: each is listed (with its
 * name) even without a pageview; a deleted site whose pageviews remain is listed by its id.
 */
export async function sitesSummary(store: ClickHouseStore, tenant: string, range: TimeRange, sites: readonly { id: string; name: string }[] = []): Promise<SitesSummaryResponse> {
  const rows = await readRows<SummaryRow>(store, summarySql(store.database), {
    tenant,
    stepMs: range.stepS * 1000,
    fromMs: range.fromMs,
    toMs: range.toMs,
    lookbackMs: range.fromMs - VISIT_GAP_MS,
    gapMs: VISIT_GAP_MS,
  })
  const bySite = new Map<string | null, SummaryRow[]>()
  for (const site of sites) bySite.set(site.id, [])
  for (const row of rows) {
    const list = bySite.get(row.site)
    if (list) list.push(row)
    else bySite.set(row.site, [row])
  }
  const names = new Map(sites.map((s) => [s.id, s.name]))
  const overall = columnsOf(bySite.get(null) ?? [], range)
  const perSite = [...bySite]
    .filter((entry): entry is [string, SummaryRow[]] => entry[0] !== null)
    .map(([site, siteRows]) => ({ site, ...(names.has(site) ? { name: names.get(site) } : {}), ...columnsOf(siteRows, range) }))
    .sort((a, b) => b.total.page_views - a.total.page_views || a.site.localeCompare(b.site))
  return { from: range.fromMs, to: range.toMs, step: range.stepS, source: SITES_SOURCE, total: overall.total, series: overall.series, sites: perSite }
}
