// GET /api/v2/analytics/cache: hits, misses, hit ratio and size per step, from
// the metrics a cache reporter sends (POST /api/v2/analytics/cache stores
// them): the names the cache_stats view pivots. Hits and misses add up over a
// step; the size is the largest reported in it (cache_size_kb, or
// cache_size_bytes / 1024), as the view reads it.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { CACHE_METRICS, requireRole, tenantOf, type ClickHouseStore, type TenantRegistry } from '../engine/index.ts'
import { RANGE_QUERY } from './aggregate-route.ts'
import { readBuckets, requireKnownMetrics, rowsByGroup } from './bucket-query.ts'
import type { CacheResponse, CacheTotals } from './read-contract.ts'
import { sendReport, type Columns } from './report-csv.ts'
import { resolveRange, type TimeRange } from './time-range.ts'


export const CacheQuerySchema = Type.Object({ ...RANGE_QUERY }, { additionalProperties: false })

const measures = [
  { name: 'sum', raw: 'sum(value)', rollup: 'sum(sum)' },
  { name: 'max', raw: 'max(value)', rollup: 'max(max)' },
]

const ratio = (hits: number, misses: number): number | null => (hits + misses > 0 ? hits / (hits + misses) : null)

export async function cacheReport(store: ClickHouseStore, tenant: string, range: TimeRange): Promise<CacheResponse> {
  const { rows, table } = await readBuckets(store, tenant, range, { metrics: Object.values(CACHE_METRICS), measures, groupBy: { metric: true } })
  const stepMs = range.stepS * 1000
  const t = Array.from({ length: range.points }, (_, i) => range.fromMs + i * stepMs)
  const series: CacheResponse['series'] = { t, hits: t.map(() => 0), misses: t.map(() => 0), hitRatio: t.map(() => null), sizeKb: t.map(() => null) }
  const total: CacheTotals = { hits: 0, misses: 0, hitRatio: null, sizeKb: null }
  const byMetric = rowsByGroup(rows)
  const sizes = new Map<number | null, { kb?: number; bytes?: number }>()
  for (const [metric, metricRows] of byMetric) {
    for (const row of metricRows) {
      const i = row.bucket === null ? -1 : (row.bucket - range.fromMs) / stepMs
      if (metric === CACHE_METRICS.hits || metric === CACHE_METRICS.misses) {
        const key = metric === CACHE_METRICS.hits ? 'hits' : 'misses'
        if (i < 0) total[key] = Number(row.sum)
        else series[key][i] = Number(row.sum)
      } else if (metric === CACHE_METRICS.sizeKb || metric === CACHE_METRICS.sizeBytes) {
        const size = sizes.get(row.bucket) ?? {}
        size[metric === CACHE_METRICS.sizeKb ? 'kb' : 'bytes'] = Number(row.max)
        sizes.set(row.bucket, size)
      }
    }
  }
  // As the view: the kilobytes when reported, else the bytes in kilobytes.
  for (const [bucket, size] of sizes) {
    const kb = size.kb ?? (size.bytes === undefined ? null : size.bytes / 1024)
    if (bucket === null) total.sizeKb = kb
    else series.sizeKb[(bucket - range.fromMs) / stepMs] = kb
  }
  series.hitRatio = t.map((_, i) => ratio(series.hits[i]!, series.misses[i]!))
  total.hitRatio = ratio(total.hits, total.misses)
  return { from: range.fromMs, to: range.toMs, step: range.stepS, source: table, total, series }
}

export function registerCacheRoute(app: FastifyInstance, options: { tenants: TenantRegistry; store: ClickHouseStore }): void {
  app.get(
    '/api/v2/analytics/cache',
    { schema: { querystring: CacheQuerySchema }, onRequest: requireRole(options.tenants, 'read') },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const query = request.query as Static<typeof CacheQuerySchema>
      const range = resolveRange(query)
      const tenant = tenantOf(request)
      await requireKnownMetrics(options.store, tenant, Object.values(CACHE_METRICS), false)
      const answer = await cacheReport(options.store, tenant, range)
      return sendReport(request, reply, answer, () => [{ series: answer.series as unknown as Columns }])
    }
  )
}
