// GET/PUT/DELETE /api/v2/tenants/<id>/quota (admin token): a tenant's ingest
// quota, stored in the tenants bucket (engine/tenancy/tenant-quotas.ts) where every
// ingest process watches it. PUT replaces it; DELETE goes back to the
// configured default (TIDEMARK_QUOTA_SAMPLES_PER_SEC, TIDEMARK_QUOTA_BURST).
import type { FastifyInstance } from 'fastify'
import type { KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { Type } from '@sinclair/typebox'
import { deleteQuota, openQuotaBucket, readQuota, requireAdmin, TenantQuotaSchema, writeQuota, type TenantQuota, type TenantRegistry } from '../engine/index.ts'
import { QueryErrors } from './errors.ts'

const Params = Type.Object({ id: Type.String({ pattern: '^t_[0-9a-f]{1,64}$' }) })

export interface QuotaRouteOptions {
  tenants: TenantRegistry
  adminToken: string
  /** The process's NATS connection (cli/tidemark-app.ts passes it); without one the routes are not served. */
  nc?: NatsConnection
}

/** The tenants bucket, opened at the first call and again after a failure (the engine may create the bucket later). */
export function lazyQuotaBucket(nc: NatsConnection): () => Promise<KV> {
  let bucket: Promise<KV> | undefined
  return () => (bucket ??= openQuotaBucket(nc).catch((err) => ((bucket = undefined), Promise.reject(err))))
}

export function registerQuotaRoutes(app: FastifyInstance, options: QuotaRouteOptions): void {
  const { nc } = options
  if (!nc) return
  const authorize = requireAdmin(options.adminToken)
  const kv = lazyQuotaBucket(nc)
  const tenantOrThrow = async (id: string): Promise<void> => {
    if (!(await options.tenants.get(id))) throw new QueryErrors.TenantNotFound(id)
  }
  const answer = (tenantId: string, own: TenantQuota | undefined) =>
    own ? { tenantId, source: 'tenant', ...own } : { tenantId, source: 'default', note: 'the ingest processes apply TIDEMARK_QUOTA_SAMPLES_PER_SEC and TIDEMARK_QUOTA_BURST' }

  app.get('/api/v2/tenants/:id/quota', { schema: { params: Params }, onRequest: authorize }, async (request) => {
    const { id } = request.params as { id: string }
    await tenantOrThrow(id)
    return answer(id, await readQuota(await kv(), id))
  })
  app.put('/api/v2/tenants/:id/quota', { schema: { params: Params, body: TenantQuotaSchema }, onRequest: authorize }, async (request) => {
    const { id } = request.params as { id: string }
    await tenantOrThrow(id)
    const quota = request.body as TenantQuota
    await writeQuota(await kv(), id, { samplesPerSec: quota.samplesPerSec, burst: quota.burst })
    return answer(id, quota)
  })
  app.delete('/api/v2/tenants/:id/quota', { schema: { params: Params }, onRequest: authorize }, async (request) => {
    const { id } = request.params as { id: string }
    await tenantOrThrow(id)
    await deleteQuota(await kv(), id)
    return answer(id, undefined)
  })
}
