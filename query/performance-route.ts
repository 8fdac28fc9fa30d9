// GET /api/v2/analytics/performance: response_time, db_query_time and
// memory_usage per step, each as avg, p50, p95 and p99 (the
// PerformanceDashboard's figures), in aligned columns as the aggregate
// answers. One statement reads all three, grouped by metric; quantiles come
// from the hourly rollup's sketches at steps of whole hours, raw rows
// otherwise (bucket-query.ts). The names are the ones the
// performance_metrics view pivots (engine/clickhouse/migrations/002).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { PERFORMANCE_METRICS, QUANTILES_FN, requireRole, tenantOf, type ClickHouseStore, type TenantRegistry } from '../engine/index.ts'
import { RANGE_QUERY, TAG_QUERY } from './aggregate-route.ts'
import { readBuckets, requireKnownMetrics, rowsByGroup } from './bucket-query.ts'
import type { PerformanceResponse, PerformanceTotals } from './read-contract.ts'
import { sendReport, type Columns } from './report-csv.ts'
import { parseTagFilters } from './tag-filters.ts'
import { resolveRange, type TimeRange } from './time-range.ts'

const FIGURES = ['avg', 'p50', 'p95', 'p99'] as const

export const PerformanceQuerySchema = Type.Object(
  {
    ...RANGE_QUERY,
    tag: TAG_QUERY,
  },
  { additionalProperties: false }
)

const measures = [
  { name: 'count', raw: 'count()', rollup: 'sum(count)' },
  { name: 'sum', raw: 'sum(value)', rollup: 'sum(sum)' },
  { name: 'quantiles', raw: `${QUANTILES_FN}(value)`, rollup: `${QUANTILES_FN.replace('(', 'Merge(')}(quantiles)` },
]

export async function performance(store: ClickHouseStore, tenant: string, range: TimeRange, filters = parseTagFilters(undefined)): Promise<PerformanceResponse> {
  const { rows, table } = await readBuckets(store, tenant, range, { metrics: PERFORMANCE_METRICS, measures, needsSketches: true, groupBy: { metric: true }, filters })
  const stepMs = range.stepS * 1000
  const t = Array.from({ length: range.points }, (_, i) => range.fromMs + i * stepMs)
  const series: PerformanceResponse['series'] = { t } as PerformanceResponse['series']
  const total: Record<string, PerformanceTotals> = {}
  const byMetric = rowsByGroup(rows)
  for (const metric of PERFORMANCE_METRICS) {
    for (const f of FIGURES) series[`${metric}_${f}`] = t.map(() => null)
    total[metric] = { count: 0, avg: null, p50: null, p95: null, p99: null }
    for (const row of byMetric.get(metric) ?? []) {
      const count = Number(row.count)
      if (count === 0) continue
      const q = row.quantiles as number[]
      const figures = { avg: Number(row.sum) / count, p50: q[0] ?? null, p95: q[1] ?? null, p99: q[2] ?? null }
      if (row.bucket === null) total[metric] = { count, ...figures }
      else for (const f of FIGURES) series[`${metric}_${f}`]![(row.bucket - range.fromMs) / stepMs] = figures[f]
    }
  }
  return { from: range.fromMs, to: range.toMs, step: range.stepS, source: table, metrics: [...PERFORMANCE_METRICS], total, series }
}

export function registerPerformanceRoute(app: FastifyInstance, options: { tenants: TenantRegistry; store: ClickHouseStore }): void {
  app.get(
    '/api/v2/analytics/performance',
    { schema: { querystring: PerformanceQuerySchema }, onRequest: requireRole(options.tenants, 'read') },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const query = request.query as Static<typeof PerformanceQuerySchema>
      const range = resolveRange(query)
      const filters = parseTagFilters(query.tag)
      const tenant = tenantOf(request)
      const answer = await performance(options.store, tenant, range, filters)
      // A tenant that sent none of the three has no performance data to chart: say so, naming them. Asked
      // only when the range holds none of them (samples counted mean a known metric).
      if (Object.values(answer.total).every((t) => t.count === 0)) await requireKnownMetrics(options.store, tenant, PERFORMANCE_METRICS, false)
      return sendReport(request, reply, answer, () => [{ series: answer.series as unknown as Columns }])
    }
  )
}
