// The dashboard's only way to the server: the read API over HTTP, with the
// tenant apiKey as a bearer token.

import type { AggregateResponse, CacheResponse, MetricInfo, PerformanceResponse, SitesSummaryResponse, TriggersResponse } from '../query/read-contract.ts'

export type {
  AggregateResponse,
  AggregateSeries,
  AggregateTotals,
  CacheResponse,
  MetricInfo,
  PerformanceResponse,
  SitesSummaryResponse,
  TriggerHistoryItem,
  TriggersResponse,
} from '../query/read-contract.ts'

export interface TimeRange {
  fromMs: number
  toMs: number
}

/** A non-2xx answer; `message` is the server's own sentence, fit to show as is. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined
  ) {
    super(message)
    this.name = 'ApiError'
  }

  /** The key itself is wrong (unknown, or an ingestToken): retrying cannot help. */
  get rejectsKey(): boolean {
    return this.status === 401 || this.status === 403
  }

  /** The reporting routes answer 404 when the tenant has sent none of the metrics they read: an empty view, not a fault. */
  get meansNoData(): boolean {
    return this.status === 404
  }
}

async function getJson<T>(route: string, apiKey: string, signal: AbortSignal): Promise<T> {
  const response = await fetch(route, { headers: { authorization: `Bearer ${apiKey}` }, signal })
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    // A proxy's HTML error page: report the status rather than a parse error.
  }
  if (!response.ok) {
    const error = body as { message?: unknown; code?: unknown } | undefined
    const message = typeof error?.message === 'string' ? error.message : `HTTP ${response.status} ${response.statusText}`
    throw new ApiError(message, response.status, typeof error?.code === 'string' ? error.code : undefined)
  }
  if (body === undefined) throw new ApiError(`The server answered ${route} with something other than JSON`, response.status, undefined)
  return body as T
}

export async function fetchMetricNames(apiKey: string, signal: AbortSignal): Promise<MetricInfo[]> {
  const body = await getJson<{ metrics: MetricInfo[] }>('/api/v2/analytics/metric-names', apiKey, signal)
  return body.metrics
}

export function fetchAggregate(apiKey: string, query: { metric: string; fromMs: number; toMs: number }, signal: AbortSignal): Promise<AggregateResponse> {
  // No step: the server picks one that gives about 300 buckets for the range.
  const params = new URLSearchParams({ metric: query.metric, from: String(query.fromMs), to: String(query.toMs) })
  return getJson<AggregateResponse>(`/api/v2/analytics/aggregate?${params}`, apiKey, signal)
}

function rangeParams(range: TimeRange): URLSearchParams {
  return new URLSearchParams({ from: String(range.fromMs), to: String(range.toMs) })
}

export function fetchPerformance(apiKey: string, range: TimeRange, signal: AbortSignal): Promise<PerformanceResponse> {
  return getJson<PerformanceResponse>(`/api/v2/analytics/performance?${rangeParams(range)}`, apiKey, signal)
}

export function fetchCache(apiKey: string, range: TimeRange, signal: AbortSignal): Promise<CacheResponse> {
  return getJson<CacheResponse>(`/api/v2/analytics/cache?${rangeParams(range)}`, apiKey, signal)
}

export function fetchSitesSummary(apiKey: string, range: TimeRange, signal: AbortSignal): Promise<SitesSummaryResponse> {
  return getJson<SitesSummaryResponse>(`/api/v2/analytics/sites-summary?${rangeParams(range)}`, apiKey, signal)
}

export function fetchTriggers(apiKey: string, range: TimeRange, signal: AbortSignal): Promise<TriggersResponse> {
  const params = rangeParams(range)
  params.set('limit', '1000')
  return getJson<TriggersResponse>(`/api/v2/triggers?${params}`, apiKey, signal)
}
