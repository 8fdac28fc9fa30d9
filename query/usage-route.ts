// GET /api/v2/usage?from=&to= (apiKey): what the tenant's ingest credential did
// in the range, summed over every ingest process: requests, samples made
// durable, body bytes, requests rate-limited and otherwise refused. Read from
// the system tenant's usage samples tagged with the credential's tenant
// (engine/tenancy/usage-series.ts), so a tenant reads its own usage and no one else's.
import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { requireRole, tenantOf, USAGE_METRICS, USAGE_TENANT, USAGE_TENANT_TAG, type ClickHouseStore, type TenantRegistry, type UsageCounter } from '../engine/index.ts'
import { QueryErrors } from './errors.ts'
import { parseInstant } from './time-range.ts'

const Query = Type.Object({ from: Type.Optional(Type.String({ maxLength: 40 })), to: Type.Optional(Type.String({ maxLength: 40 })) }, { additionalProperties: false })

export function registerUsageRoutes(app: FastifyInstance, options: { tenants: TenantRegistry; store: ClickHouseStore }): void {
  const { store } = options
  const counters = Object.keys(USAGE_METRICS) as UsageCounter[]
  app.get('/api/v2/usage', { schema: { querystring: Query }, onRequest: requireRole(options.tenants, 'read') }, async (request) => {
    const query = request.query as { from?: string; to?: string }
    const to = parseInstant(query.to, 'to', Date.now())
    const from = parseInstant(query.from, 'from', to - 86_400_000)
    if (from >= to) throw new QueryErrors.InvalidRange(`from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`)
    let rows: { metric: string; total: number }[]
    try {
      rows = await store.rows<{ metric: string; total: number }>(
        `SELECT metric, sum(value) AS total FROM ${store.database}.samples
          WHERE tenant = {system:String} AND tags[{tag:String}] = {tenant:String}
            AND ts >= fromUnixTimestamp64Milli({fromMs:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({toMs:Int64}, 'UTC')
          GROUP BY metric`,
        { system: USAGE_TENANT, tag: USAGE_TENANT_TAG, tenant: tenantOf(request), fromMs: from, toMs: to }
      )
    } catch (err) {
      throw new QueryErrors.StorageUnavailable({ cause: err })
    }
    const totals = Object.fromEntries(counters.map((c) => [c, 0])) as Record<UsageCounter, number>
    for (const row of rows) {
      const counter = counters.find((c) => USAGE_METRICS[c] === row.metric)
      if (counter) totals[counter] = Number(row.total)
    }
    return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), ...totals }
  })
}
