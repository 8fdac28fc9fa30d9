// GET and PUT /api/v2/retention: how long the tenant's raw samples and rollups
// are kept, with the tenant's apiKey (its owner's key: dashboard, SQL,
// settings). The tenant is the credential's. ClickHouse enforces a policy with
// a TTL rule per tenant (engine/clickhouse/retention.ts): expired rows go at the
// next merge of their part, within hours, and only that tenant's.
import type { FastifyInstance } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import {
  applyRetentionPolicies,
  getRetentionPolicy,
  MAX_RETENTION_DAYS,
  requireRole,
  setRetentionPolicy,
  tenantOf,
  type ClickHouseStore,
  type RetentionPolicy,
  type TenantRegistry,
} from '../engine/index.ts'
import { QueryErrors } from './errors.ts'

const Days = Type.Union([Type.Integer({ minimum: 1, maximum: MAX_RETENTION_DAYS }), Type.Null()], {
  description: `whole days from 1 to ${MAX_RETENTION_DAYS}, or null to keep them`,
})

export const RetentionBodySchema = Type.Object({ rawDays: Days, rollup1mDays: Days, rollup1hDays: Days }, { additionalProperties: false })

async function storage<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    throw new QueryErrors.StorageUnavailable({ cause: err })
  }
}

export function registerRetentionRoutes(app: FastifyInstance, options: { tenants: TenantRegistry; store: ClickHouseStore }): void {
  const authorize = requireRole(options.tenants, 'read')
  app.get('/api/v2/retention', { onRequest: authorize }, async (request): Promise<RetentionPolicy> => storage(() => getRetentionPolicy(options.store, tenantOf(request))))
  app.put('/api/v2/retention', { schema: { body: RetentionBodySchema }, onRequest: authorize }, async (request): Promise<RetentionPolicy> => {
    const policy = request.body as Static<typeof RetentionBodySchema>
    const tenant = tenantOf(request)
    await storage(async () => {
      await setRetentionPolicy(options.store, tenant, policy)
      await applyRetentionPolicies(options.store)
    })
    request.log.info({ tenant, policy }, 'retention policy set')
    return policy
  })
}
