// POST /api/v2/tenants (admin token): creates a tenant and its two
// credentials. The tokens are shown once, here; only their digests are kept.
import type { FastifyInstance } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { requireAdmin, type TenantRegistry } from '../engine/index.ts'

export const CreateTenantSchema = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9_-]*$', description: 'lower-case letters, digits, - and _' }) },
  { additionalProperties: false }
)

export function registerTenantRoutes(app: FastifyInstance, options: { tenants: TenantRegistry; adminToken: string }): void {
  const authorize = requireAdmin(options.adminToken)
  app.post('/api/v2/tenants', { schema: { body: CreateTenantSchema }, onRequest: authorize }, async (request, reply) => {
    const { name } = request.body as Static<typeof CreateTenantSchema>
    const created = await options.tenants.create(name)
    return reply.code(201).send(created)
  })
  app.get('/api/v2/tenants', { onRequest: authorize }, async () => ({ tenants: await options.tenants.list() }))
}
