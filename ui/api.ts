// The dashboard's only way to the server: the read API over HTTP, with the
// tenant apiKey as a bearer token.

import type { AggregateResponse, CacheResponse, MetricInfo, PerformanceResponse, SitesSummaryResponse, SqlColumnarAnswer, TriggersResponse, UsageAnswer } from '../query/read-contract.ts'

export type {
  AggregateResponse,
  AggregateSeries,
  AggregateTotals,
  CacheResponse,
  MetricInfo,
  PerformanceResponse,
  SitesSummaryResponse,
  SqlColumnarAnswer,
  TriggerHistoryItem,
  TriggersResponse,
  UsageAnswer,
  UsageQuota,
} from '../query/read-contract.ts'

/** GET/PUT /api/v2/retention: days each kind of row is kept, null for ever. */
export interface RetentionPolicy {
  rawDays: number | null
  rollup1mDays: number | null
  rollup1hDays: number | null
}

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

async function throwApiError(response: Response, text?: string): Promise<never> {
  let body: { message?: unknown; code?: unknown } | undefined
  try {
    body = JSON.parse(text ?? (await response.text())) as typeof body
  } catch {
    // A proxy's HTML error page: report the status rather than a parse error.
  }
  const message = typeof body?.message === 'string' ? body.message : `HTTP ${response.status} ${response.statusText}`
  throw new ApiError(message, response.status, typeof body?.code === 'string' ? body.code : undefined)
}

async function readJson<T>(route: string, response: Response): Promise<T> {
  const text = await response.text()
  if (!response.ok) return throwApiError(response, text)
  try {
    return JSON.parse(text) as T
  } catch {
    throw new ApiError(`The server answered ${route} with something other than JSON`, response.status, undefined)
  }
}

async function getJson<T>(route: string, apiKey: string, signal: AbortSignal): Promise<T> {
  return readJson<T>(route, await fetch(route, { headers: { authorization: `Bearer ${apiKey}` }, signal }))
}

async function sendJson<T>(route: string, apiKey: string, body: unknown, signal: AbortSignal, method = 'POST'): Promise<T> {
  const response = await fetch(route, { method, headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body), signal })
  return readJson<T>(route, response)
}

export async function fetchMetricNames(apiKey: string, signal: AbortSignal): Promise<MetricInfo[]> {
  const body = await getJson<{ metrics: MetricInfo[] }>('/api/v2/analytics/metric-names', apiKey, signal)
  return body.metrics
}

export function fetchAggregate(
  apiKey: string,
  query: { metric: string; fromMs: number; toMs: number; stepS?: number; tags?: Record<string, string> },
  signal: AbortSignal
): Promise<AggregateResponse> {
  // Without a step the server picks one that gives about 300 buckets for the range.
  const params = new URLSearchParams({ metric: query.metric, from: String(query.fromMs), to: String(query.toMs) })
  if (query.stepS) params.set('step', String(query.stepS))
  for (const [name, value] of Object.entries(query.tags ?? {})) params.append('tag', `${name}:${value}`)
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

export function fetchUsage(apiKey: string, range: TimeRange, signal: AbortSignal): Promise<UsageAnswer> {
  return getJson<UsageAnswer>(`/api/v2/usage?${rangeParams(range)}`, apiKey, signal)
}

/** POST /api/v2/query, columnar: one array per column, time columns as epoch ms. */
export async function runSql(apiKey: string, sql: string, signal: AbortSignal): Promise<SqlColumnarAnswer> {
  return sendJson<SqlColumnarAnswer>('/api/v2/query?format=columnar', apiKey, { sql }, signal)
}

/** The same statement as CSV, for a download. */
export async function runSqlCsv(apiKey: string, sql: string, signal: AbortSignal): Promise<Blob> {
  const response = await fetch('/api/v2/query?format=csv', { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ sql }), signal })
  if (!response.ok) await throwApiError(response)
  return response.blob()
}

export function fetchRetention(apiKey: string, signal: AbortSignal): Promise<RetentionPolicy> {
  return getJson<RetentionPolicy>('/api/v2/retention', apiKey, signal)
}

export function saveRetention(apiKey: string, policy: RetentionPolicy, signal: AbortSignal): Promise<RetentionPolicy> {
  return sendJson<RetentionPolicy>('/api/v2/retention', apiKey, policy, signal, 'PUT')
}
