// GET /api/v2/analytics/aggregate and /api/v2/analytics/metric-names, read
// with a tenant's apiKey. The tenant is the credential's, never a parameter.
import type { FastifyInstance } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { metricKind, METRIC_NAME_PATTERN, requireRole, tenantOf, type ClickHouseStore, type TenantRegistry } from '../engine/index.ts'
import { aggregate, metricNames, type AggregateStat } from './aggregate-query.ts'
import type { AggregateResponse, MetricInfo } from './read-contract.ts'
import { resolveRange } from './time-range.ts'

// maxLength: the longest ISO form (nanoseconds and an offset) is 35 characters; a longer value is not an
// instant, and must not travel into the error message either.
const Instant = Type.String({ maxLength: 40, pattern: '^([0-9]{1,16}|[0-9]{4}-[0-9]{2}-[0-9]{2}T.*)$', description: 'epoch milliseconds or an ISO 8601 date-time' })

export const AggregateQuerySchema = Type.Object(
  {
    metric: Type.String({ pattern: METRIC_NAME_PATTERN, description: 'a metric name' }),
    from: Type.Optional(Instant),
    to: Type.Optional(Instant),
    step: Type.Optional(Type.Integer({ minimum: 1, maximum: 31 * 86400, description: 'bucket width in seconds' })),
    stats: Type.Optional(Type.String({ pattern: '^(quantiles|visitors)(,(quantiles|visitors))?$', description: 'quantiles, visitors or both, comma-separated' })),
  },
  { additionalProperties: false }
)

export interface AggregateRouteOptions {
  tenants: TenantRegistry
  store: ClickHouseStore
}

export function registerAggregateRoutes(app: FastifyInstance, options: AggregateRouteOptions): void {
  const authorize = requireRole(options.tenants, 'read')

  app.get('/api/v2/analytics/aggregate', { schema: { querystring: AggregateQuerySchema }, onRequest: authorize }, async (request): Promise<AggregateResponse> => {
    const query = request.query as Static<typeof AggregateQuerySchema>
    const range = resolveRange(query)
    const tenant = tenantOf(request)
    const stats = query.stats ? ([...new Set(query.stats.split(','))] as AggregateStat[]) : []
    const result = await aggregate(options.store, tenant, query.metric, range, undefined, { stats })
    return {
      metric: query.metric,
      from: range.fromMs,
      to: range.toMs,
      step: range.stepS,
      source: result.source,
      total: result.total,
      series: result.series,
    }
  })

  app.get('/api/v2/analytics/metric-names', { onRequest: authorize }, async (request): Promise<{ metrics: MetricInfo[] }> => {
    const tenant = tenantOf(request)
    const names = await metricNames(options.store, tenant)
    return { metrics: names.map((m) => ({ ...m, kind: metricKind(m.name) })) }
  })
}
