// GET /api/v2/analytics/aggregate, /api/v2/analytics/sites-summary and
// /api/v2/analytics/metric-names, read with a tenant's apiKey. The tenant is
// the credential's, never a parameter.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { metricKind, METRIC_NAME_PATTERN, requireRole, tenantOf, type ClickHouseStore, type SiteRegistry, type TenantRegistry } from '../engine/index.ts'
import { aggregate, metricNames, type AggregateStat } from './aggregate-query.ts'
import { requireKnownMetrics } from './bucket-query.ts'
import type { AggregateResponse, AggregateSeries, MetricInfo } from './read-contract.ts'
import { sendReport, type Columns } from './report-csv.ts'
import { sitesSummary } from './sites-summary.ts'
import { MAX_TAG_FILTERS, parseTagFilters, TAG_NAME_PATTERN } from './tag-filters.ts'
import { resolveRange } from './time-range.ts'

// maxLength: the longest ISO form (nanoseconds and an offset) is 35 characters; a longer value is not an
// instant, and must not travel into the error message either.
const Instant = Type.String({ maxLength: 40, pattern: '^([0-9]{1,16}|[0-9]{4}-[0-9]{2}-[0-9]{2}T.*)$', description: 'epoch milliseconds or an ISO 8601 date-time' })

/** from, to and step: every reporting route takes them the same way (README, API). */
export const RANGE_QUERY = {
  from: Type.Optional(Instant),
  to: Type.Optional(Instant),
  step: Type.Optional(Type.Integer({ minimum: 1, maximum: 31 * 86400, description: 'bucket width in seconds' })),
}

/** name:value; the name and the value are checked in parseTagFilters (the message names the bad one). */
const TagFilterText = Type.String({ maxLength: 400, description: 'name:value' })
/** tag=name:value, repeated (query/tag-filters.ts). */
export const TAG_QUERY = Type.Optional(Type.Union([TagFilterText, Type.Array(TagFilterText, { maxItems: MAX_TAG_FILTERS })], { description: 'name:value, repeated' }))

export const AggregateQuerySchema = Type.Object(
  {
    metric: Type.String({ pattern: METRIC_NAME_PATTERN, description: 'a metric name' }),
    ...RANGE_QUERY,
    stats: Type.Optional(Type.String({ pattern: '^(quantiles|visitors)(,(quantiles|visitors))?$', description: 'quantiles, visitors or both, comma-separated' })),
    tag: TAG_QUERY,
    groupBy: Type.Optional(Type.String({ pattern: TAG_NAME_PATTERN, description: 'a tag name' })),
  },
  { additionalProperties: false }
)

export const SitesSummaryQuerySchema = Type.Object({ ...RANGE_QUERY }, { additionalProperties: false })

export interface AggregateRouteOptions {
  tenants: TenantRegistry
  store: ClickHouseStore
  /** The tenants' sites: sites-summary names them, and lists those without a pageview yet. */
  sites?: SiteRegistry
}

/** The CSV columns of an aggregate series: all but t, in the JSON's order. */
const seriesColumns = (series: AggregateSeries): Columns => series as unknown as Columns

export function registerAggregateRoutes(app: FastifyInstance, options: AggregateRouteOptions): void {
  const authorize = requireRole(options.tenants, 'read')

  app.get(
    '/api/v2/analytics/aggregate',
    { schema: { querystring: AggregateQuerySchema }, onRequest: authorize },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const query = request.query as Static<typeof AggregateQuerySchema>
      const range = resolveRange(query)
      const filters = parseTagFilters(query.tag)
      const tenant = tenantOf(request)
      const stats = query.stats ? ([...new Set(query.stats.split(','))] as AggregateStat[]) : []
      const result = await aggregate(options.store, tenant, query.metric, range, undefined, { stats, filters, groupBy: query.groupBy })
      // Only an empty answer asks whether the metric was ever sent (404 if not): one statement less on the
      // connection for every answer that has data, and the same answers (samples counted mean a known metric).
      if (result.total.count === 0) await requireKnownMetrics(options.store, tenant, [query.metric])
      const answer: AggregateResponse = {
        metric: query.metric,
        from: range.fromMs,
        to: range.toMs,
        step: range.stepS,
        source: result.source,
        ...(filters.length > 0 ? { filters: Object.fromEntries(filters.map((f) => [f.name, f.values])) } : {}),
        ...(query.groupBy !== undefined ? { groupBy: query.groupBy } : {}),
        total: result.total,
        series: result.series,
        ...(result.groups ? { groups: result.groups } : {}),
      }
      return sendReport(request, reply, answer, () =>
        answer.groups && answer.groupBy !== undefined
          ? answer.groups.map((g) => ({ keys: { [answer.groupBy!]: g.value }, series: seriesColumns(g.series) }))
          : [{ series: seriesColumns(answer.series) }]
      )
    }
  )

  app.get(
    '/api/v2/analytics/sites-summary',
    { schema: { querystring: SitesSummaryQuerySchema }, onRequest: authorize },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const query = request.query as Static<typeof SitesSummaryQuerySchema>
      const range = resolveRange(query)
      const tenant = tenantOf(request)
      const sites = (await options.sites?.list(tenant)) ?? []
      const answer = await sitesSummary(options.store, tenant, range, sites)
      return sendReport(request, reply, answer, () => [
        { keys: { scope: 'total', site: '' }, series: answer.series as unknown as Columns },
        ...answer.sites.map((s) => ({ keys: { scope: 'site', site: s.site }, series: s.series as unknown as Columns })),
      ])
    }
  )

  app.get('/api/v2/analytics/metric-names', { onRequest: authorize }, async (request): Promise<{ metrics: MetricInfo[] }> => {
    const tenant = tenantOf(request)
    const names = await metricNames(options.store, tenant)
    return { metrics: names.map((m) => ({ ...m, kind: metricKind(m.name) })) }
  })
}
