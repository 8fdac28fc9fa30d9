// POST /api/v2/analytics/cache: cache stats (hits, misses, size in KB, an
// optional cache name, ts and tags), one report or an array of them. Each
// report becomes a beacon of the three metrics the cache_stats view pivots, the
// name its `cache` tag, and goes the metrics route's way from there: the same
// durability (200 only once JetStream holds every sample), the same 503 naming
// what to resend (by report index), the same Idempotency-Key and body formats.
import type { FastifyInstance } from 'fastify'
import { CACHE_NAME_TAG, CACHE_STATS_METRICS, CacheStatsBodySchema, MAX_TAGS, type BeaconBody, type CacheStatsBody, type FieldProblem } from '../engine/index.ts'
import { registerBeaconRoute, type MetricsRouteOptions } from './metrics-route.ts'

export function cacheReportsToBeacons(body: unknown): { beacons: BeaconBody | BeaconBody[] } | { problems: FieldProblem[] } {
  const reports = (Array.isArray(body) ? body : [body]) as CacheStatsBody[]
  const problems: FieldProblem[] = []
  const beacons: BeaconBody[] = reports.map((report, i) => {
    const at = Array.isArray(body) ? `[${i}].` : ''
    let tags = report.tags
    if (report.name !== undefined) {
      if (tags && Object.hasOwn(tags, CACHE_NAME_TAG) && tags[CACHE_NAME_TAG] !== report.name) {
        problems.push({ field: `${at}tags.${CACHE_NAME_TAG}`, problem: `differs from name: the name is stored as the "${CACHE_NAME_TAG}" tag, give one of them` })
      }
      tags = { ...tags, [CACHE_NAME_TAG]: report.name }
      if (Object.keys(tags).length > MAX_TAGS) problems.push({ field: `${at}tags`, problem: `has ${MAX_TAGS} tags and the name makes one more: at most ${MAX_TAGS - 1} with a name` })
    }
    const beacon: BeaconBody = {
      [CACHE_STATS_METRICS.hits]: report.hits,
      [CACHE_STATS_METRICS.misses]: report.misses,
      [CACHE_STATS_METRICS.size_kb]: report.size_kb,
    }
    if (report.ts !== undefined) beacon.ts = report.ts
    if (tags) beacon.tags = tags
    return beacon
  })
  if (problems.length > 0) return { problems }
  return { beacons: Array.isArray(body) ? beacons : (beacons[0] as BeaconBody) }
}

export function registerCacheRoute(app: FastifyInstance, options: MetricsRouteOptions): void {
  registerBeaconRoute(app, options, { url: '/api/v2/analytics/cache', schema: CacheStatsBodySchema, toBeacons: cacheReportsToBeacons })
}
