// GET /api/v2/charts/<metric>.svg: one metric of the credential's tenant as an
// SVG chart drawn on the server (query/svg-chart.ts), for reports and embeds.
// The range and tag filters are the aggregate route's, read through the same
// aggregate query, so the chart and /api/v2/analytics/aggregate agree.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { metricKind, METRIC_NAME_PATTERN, requireRole, tenantOf, type ClickHouseStore, type TenantRegistry } from '../engine/index.ts'
import { aggregate } from './aggregate-query.ts'
import { RANGE_QUERY, TAG_QUERY } from './aggregate-route.ts'
import { requireKnownMetrics } from './bucket-query.ts'
import type { AggregateSeries } from './read-contract.ts'
import { renderChart, type ChartTheme } from './svg-chart.ts'
import { parseTagFilters, type TagFilter } from './tag-filters.ts'
import { resolveRange, type TimeRange } from './time-range.ts'

export const CHART_STATS = ['avg', 'min', 'max', 'sum', 'count', 'p95'] as const
type ChartStat = (typeof CHART_STATS)[number]

/** Bounds that keep a document small and legible: under 200 px the labels overlap, past 2000 nothing gains. */
export const CHART_SIZE = { width: { minimum: 200, maximum: 2000, default: 800 }, height: { minimum: 100, maximum: 1200, default: 300 } }

export const ChartParamsSchema = Type.Object({ metric: Type.String({ pattern: METRIC_NAME_PATTERN, description: 'a metric name' }) }, { additionalProperties: false })

export const ChartQuerySchema = Type.Object(
  {
    ...RANGE_QUERY,
    tag: TAG_QUERY,
    stat: Type.Optional(Type.Union(CHART_STATS.map((s) => Type.Literal(s)), { description: 'what the line shows (default avg, with a min–max band)' })),
    width: Type.Optional(Type.Integer({ ...CHART_SIZE.width, description: 'pixels' })),
    height: Type.Optional(Type.Integer({ ...CHART_SIZE.height, description: 'pixels' })),
    theme: Type.Optional(Type.Union([Type.Literal('light'), Type.Literal('dark')])),
    title: Type.Optional(Type.String({ minLength: 1, maxLength: 120, description: 'the chart title (default: the metric name)' })),
  },
  { additionalProperties: false }
)

/** Charts change as data arrives: a browser or report may keep one a minute, and no shared cache may keep it at all. */
const CACHE_CONTROL = 'private, max-age=60'
/** An SVG opened on its own is a document that could run script: this one needs none, nor anything fetched. */
const CONTENT_SECURITY_POLICY = "default-src 'none'"

function utcMinute(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ')
}

function subtitleOf(stat: ChartStat, range: TimeRange, filters: readonly TagFilter[]): string {
  const what = stat === 'avg' ? 'avg (band: min–max)' : stat
  const filterText = filters.map((f) => `${f.name}=${f.values.join('|')}`).join(', ')
  return [what, `${utcMinute(range.fromMs)} – ${utcMinute(range.toMs)} UTC`, `step ${range.stepS} s`, ...(filterText ? [filterText] : [])].join(' · ')
}

/** The line's values: null where a bucket holds no sample (a gap), count included, so a gap always reads as one. */
function valuesOf(series: AggregateSeries, stat: ChartStat): (number | null)[] {
  if (stat === 'count') return series.count.map((c) => (c > 0 ? c : null))
  return (series[stat] as (number | null)[] | undefined) ?? series.t.map(() => null)
}

export function registerChartsRoute(app: FastifyInstance, options: { tenants: TenantRegistry; store: ClickHouseStore }): void {
  app.get(
    '/api/v2/charts/:metric.svg',
    { schema: { params: ChartParamsSchema, querystring: ChartQuerySchema }, onRequest: requireRole(options.tenants, 'read') },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const { metric } = request.params as Static<typeof ChartParamsSchema>
      const query = request.query as Static<typeof ChartQuerySchema>
      const range = resolveRange(query)
      const filters = parseTagFilters(query.tag)
      const stat: ChartStat = query.stat ?? 'avg'
      const tenant = tenantOf(request)
      await requireKnownMetrics(options.store, tenant, [metric])
      const { series } = await aggregate(options.store, tenant, metric, range, undefined, { stats: stat === 'p95' ? ['quantiles'] : [], filters })
      const svg = renderChart({
        title: query.title ?? metric,
        subtitle: subtitleOf(stat, range, filters),
        kind: metricKind(metric),
        stat,
        fromMs: range.fromMs,
        toMs: range.toMs,
        stepMs: range.stepS * 1000,
        t: series.t,
        values: valuesOf(series, stat),
        ...(stat === 'avg' ? { band: { min: series.min, max: series.max } } : {}),
        width: query.width ?? CHART_SIZE.width.default,
        height: query.height ?? CHART_SIZE.height.default,
        theme: (query.theme ?? 'light') as ChartTheme,
      })
      return reply.header('Content-Type', 'image/svg+xml; charset=utf-8').header('Cache-Control', CACHE_CONTROL).header('X-Content-Type-Options', 'nosniff').header('Content-Security-Policy', CONTENT_SECURITY_POLICY).send(svg)
    }
  )
}
