// The shapes the read API answers in: the one columnar contract between the
// query tier and its clients. The dashboard imports these types (types only:
// it still talks to the server over HTTP alone).

export interface MetricInfo {
  name: string
  samples: number
  kind: string
}

export interface AggregateTotals {
  count: number
  sum: number | null
  avg: number | null
  min: number | null
  max: number | null
  /** With stats=quantiles: DDSketch quantiles, within 1 % of the value at that rank. */
  p50?: number | null
  p95?: number | null
  p99?: number | null
  /** With stats=visitors: distinct values of the `visitor` tag. */
  visitors?: number
}

/** Columnar, one entry per bucket, null in gaps: the shape uPlot draws. */
export interface AggregateSeries {
  /** Bucket starts, epoch ms. */
  t: number[]
  count: number[]
  sum: (number | null)[]
  avg: (number | null)[]
  min: (number | null)[]
  max: (number | null)[]
  p50?: (number | null)[]
  p95?: (number | null)[]
  p99?: (number | null)[]
  visitors?: number[]
}

/** One value of the groupBy tag, with its own totals and aligned series. */
export interface AggregateGroup {
  /** The tag's value; "" gathers the samples without the tag. */
  value: string
  total: AggregateTotals
  series: AggregateSeries
}

export interface AggregateResponse {
  metric: string
  from: number
  to: number
  step: number
  /** Which table answered: samples, series_1m or series_1h. */
  source: string
  /** The tag filters applied (tag=name:value), by name. */
  filters?: Record<string, string[]>
  /** With groupBy=<tag>: the tag split by. */
  groupBy?: string
  /** Over every group (and the only figures without groupBy). */
  total: AggregateTotals
  series: AggregateSeries
  /** With groupBy: one entry per tag value, most samples first, at most 100. */
  groups?: AggregateGroup[]
}

/** Tracker figures of one site, or of all: pageviews, visits (a visitor's pageviews with gaps under 30 min) and unique visitors. */
export interface SiteTotals {
  page_views: number
  visits: number
  visitors: number
}

export interface SiteSeries {
  t: number[]
  page_views: number[]
  visits: number[]
  visitors: number[]
}

/** GET /api/v2/analytics/sites-summary: the MultiSiteAggregator's figures from the tracker's pageviews, per site and in total. */
export interface SitesSummaryResponse {
  from: number
  to: number
  step: number
  source: string
  /** Across every site; visitors counted once however many sites they saw. */
  total: SiteTotals
  series: SiteSeries
  /** Most page views first; every registered site (with its name), and deleted sites that still have pageviews (id only). */
  sites: { site: string; name?: string; total: SiteTotals; series: SiteSeries }[]
}

/** The figures a performance metric has per step and over the range. */
export interface PerformanceTotals {
  count: number
  avg: number | null
  p50: number | null
  p95: number | null
  p99: number | null
}

/**
 * GET /api/v2/analytics/performance: response_time, db_query_time and memory_usage. series holds `t` and
 * one aligned column per metric and figure: `response_time_avg`, `response_time_p95`, … (null in gaps).
 */
export interface PerformanceResponse {
  from: number
  to: number
  step: number
  source: string
  metrics: string[]
  total: Record<string, PerformanceTotals>
  series: { t: number[] } & Record<string, (number | null)[]>
}

export interface CacheTotals {
  hits: number
  misses: number
  /** hits / (hits + misses); null without either. */
  hitRatio: number | null
  /** The largest size reported (cache_size_kb, or cache_size_bytes / 1024); null when none was. */
  sizeKb: number | null
}

/** GET /api/v2/analytics/cache: hits, misses, hit ratio and size per step, from the cache metrics. */
export interface CacheResponse {
  from: number
  to: number
  step: number
  source: string
  total: CacheTotals
  series: { t: number[]; hits: number[]; misses: number[]; hitRatio: (number | null)[]; sizeKb: (number | null)[] }
}

/** One trigger event as history keeps it (ClickHouse trigger_events). */
export interface TriggerHistoryItem {
  id: string
  rule: string
  group: string
  /** Event time, epoch ms. */
  at: number
  state: 'pending' | 'firing' | 'resolved' | 'inactive'
  change: 'alert' | 'escalate' | 'step_down'
  step: number
  previousStep: number
  action: string | null
  labels: Record<string, string>
  /** NaN and infinities as strings ("NaN", "+Inf", "-Inf"), as JSON has no such numbers. */
  value: number | string
}

/** GET /api/v2/triggers: newest first. */
export interface TriggersResponse {
  from: number
  to: number
  events: TriggerHistoryItem[]
  /** More events matched than limit: events holds the newest limit. */
  truncated: boolean
}

/** A metric's figures over one step. */
export interface LiveFigures {
  count: number
  sum: number | null
  avg: number | null
  min: number | null
  max: number | null
}

/** GET /api/v2/live, event `aggregate`: the figures of one closed step, for every metric asked (count 0 without samples). */
export interface LiveAggregate {
  /** Step width in seconds. */
  step: number
  /** The step's start, epoch ms. */
  t: number
  metrics: Record<string, LiveFigures>
}

/** GET /api/v2/live, event `trigger`: a transition as history keeps it. */
export type LiveTrigger = TriggerHistoryItem

/** A column of a SQL console answer: its name and ClickHouse type. */
export interface SqlColumn {
  name: string
  type: string
}

/** POST /api/v2/query, JSON: row-major values. */
export interface SqlJsonAnswer {
  columns: SqlColumn[]
  rows: unknown[][]
  rowCount: number
  /** More rows matched than maxRows; rows holds the first maxRows. */
  truncated: boolean
  elapsedMs: number
}

/** POST /api/v2/query?format=columnar: one array per column (uPlot's layout), Date/DateTime columns as epoch ms. */
export interface SqlColumnarAnswer extends Omit<SqlJsonAnswer, 'rows'> {
  data: unknown[][]
}

/** The quota an ingest credential meets: samples a second per ingest process (0: no limit) and burst. */
export interface UsageQuota {
  samplesPerSec: number
  burst: number
  source: 'tenant' | 'default'
}

/** GET /api/v2/usage: the ingest credential's counts over the range, and its quota (null when unreadable). */
export interface UsageAnswer {
  from: string
  to: string
  requests: number
  samples: number
  bytes: number
  rateLimited: number
  refused: number
  /** Samples a second in the busiest minute of one ingest process. */
  peakSamplesPerSec: number
  quota: UsageQuota | null
}
