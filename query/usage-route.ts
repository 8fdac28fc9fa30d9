// GET /api/v2/usage?from=&to= (apiKey): what the tenant's ingest credential did
// in the range, summed over every ingest process: requests, samples made
// durable, body bytes, requests rate-limited and otherwise refused. Read from
// the system tenant's usage samples tagged with the credential's tenant
// (engine/tenancy/usage-series.ts), so a tenant reads its own usage and no one else's.
// Beside them, the quota those requests met (its own from the tenants bucket, else
// the configured default) and the busiest minute's rate on one ingest process, the
// figure the quota bounds, so the tenant sees its usage against its quota.
import type { FastifyInstance } from 'fastify'
import type { NatsConnection } from '@nats-io/transport-node'
import { Type } from '@sinclair/typebox'
import { readQuota, requireRole, tenantOf, USAGE_METRICS, USAGE_TENANT, USAGE_TENANT_TAG, type ClickHouseStore, type TenantQuota, type TenantRegistry, type UsageCounter } from '../engine/index.ts'
import { QueryErrors } from './errors.ts'
import { lazyQuotaBucket } from './quota-route.ts'
import type { UsageAnswer, UsageQuota } from './read-contract.ts'
import { parseInstant } from './time-range.ts'

const Query = Type.Object({ from: Type.Optional(Type.String({ maxLength: 40 })), to: Type.Optional(Type.String({ maxLength: 40 })) }, { additionalProperties: false })

/** The usage tag naming the ingest process a count came from (ingest/usage.ts): the quota is per process. */
const PROCESS_TAG = 'process'

export interface UsageRouteOptions {
  tenants: TenantRegistry
  store: ClickHouseStore
  /** Where quotas are kept; without it the answer's quota is null. */
  nc?: NatsConnection
  /** The quota of a tenant with none of its own (TIDEMARK_QUOTA_SAMPLES_PER_SEC, TIDEMARK_QUOTA_BURST). */
  defaultQuota?: TenantQuota
}

export function registerUsageRoutes(app: FastifyInstance, options: UsageRouteOptions): void {
  const { store, nc } = options
  const counters = Object.keys(USAGE_METRICS) as UsageCounter[]
  const kv = nc ? lazyQuotaBucket(nc) : undefined

  /** The tenant's quota, or null when it cannot be read now: usage is still worth answering without it. */
  const quotaOf = async (tenantId: string, log: { warn(o: object, m: string): void }): Promise<UsageQuota | null> => {
    if (!kv) return options.defaultQuota ? { ...options.defaultQuota, source: 'default' } : null
    try {
      const own = await readQuota(await kv(), tenantId)
      if (own) return { samplesPerSec: own.samplesPerSec, burst: own.burst, source: 'tenant' }
      return options.defaultQuota ? { ...options.defaultQuota, source: 'default' } : null
    } catch (err) {
      log.warn({ err }, 'cannot read the quota for /api/v2/usage; answering without it')
      return null
    }
  }

  app.get('/api/v2/usage', { schema: { querystring: Query }, onRequest: requireRole(options.tenants, 'read') }, async (request): Promise<UsageAnswer> => {
    const query = request.query as { from?: string; to?: string }
    const to = parseInstant(query.to, 'to', Date.now())
    const from = parseInstant(query.from, 'from', to - 86_400_000)
    if (from >= to) throw new QueryErrors.InvalidRange(`from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`)
    const tenant = tenantOf(request)
    const params = { system: USAGE_TENANT, tag: USAGE_TENANT_TAG, tenant, fromMs: from, toMs: to, samples: USAGE_METRICS.samples, process: PROCESS_TAG }
    const where = `tenant = {system:String} AND tags[{tag:String}] = {tenant:String}
            AND ts >= fromUnixTimestamp64Milli({fromMs:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({toMs:Int64}, 'UTC')`
    const quota = quotaOf(tenant, request.log)
    let rows: { metric: string; total: number }[]
    let peak: { busiest: number }[]
    try {
      rows = await store.rows<{ metric: string; total: number }>(`SELECT metric, sum(value) AS total FROM ${store.database}.samples WHERE ${where} GROUP BY metric`, params)
      // Per process and minute: a quota bounds each ingest process's rate, and a minute spans several usage points.
      peak = await store.rows<{ busiest: number }>(
        `SELECT max(n) AS busiest FROM (
           SELECT sum(value) AS n FROM ${store.database}.samples WHERE ${where} AND metric = {samples:String}
           GROUP BY tags[{process:String}], toStartOfMinute(ts))`,
        params
      )
    } catch (err) {
      throw new QueryErrors.StorageUnavailable({ cause: err })
    }
    const totals = Object.fromEntries(counters.map((c) => [c, 0])) as Record<UsageCounter, number>
    for (const row of rows) {
      const counter = counters.find((c) => USAGE_METRICS[c] === row.metric)
      if (counter) totals[counter] = Number(row.total)
    }
    return {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      ...totals,
      peakSamplesPerSec: Number(peak[0]?.busiest ?? 0) / 60,
      quota: await quota,
    }
  })
}
