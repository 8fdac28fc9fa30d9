// POST /api/v2/tenants (admin token): creates a tenant and its two
// credentials. The tokens are shown once, here; only their digests are kept.
import type { FastifyError, FastifyInstance } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import type { ErrorObject } from 'ajv'
import { EngineErrors, fieldProblems, requireAdmin, TENANT_NAME_PATTERN, type TenantRegistry } from '../engine/index.ts'

export const CreateTenantSchema = Type.Object(
  {
    name: Type.String({ pattern: TENANT_NAME_PATTERN, description: '1 to 64 lower-case letters, digits, - and _, starting with a letter or digit' }),
  },
  { additionalProperties: false }
)

/**
 * A name that breaks the rule gets TM_ENGINE_TENANT_NAME_INVALID, the code the
 * registry gives every other caller (the CLI) for the same rule; a body of
 * another shape (no name, a name that is not a string, extra keys) keeps the
 * validation error, TM_HTTP_INVALID_REQUEST with its fields.
 */
function creationError(body: unknown, validationError: FastifyError): Error {
  const problems = validationError.validation ?? []
  const name = (body as { name?: unknown } | null)?.name
  if (typeof name !== 'string' || !problems.some((e) => e.instancePath === '/name' && e.keyword === 'pattern')) return validationError
  const fields = fieldProblems(problems as ErrorObject[]).filter((f) => f.field === 'name')
  return Object.assign(new EngineErrors.TenantNameInvalid(name), { fields })
}

export function registerTenantRoutes(app: FastifyInstance, options: { tenants: TenantRegistry; adminToken: string }): void {
  const authorize = requireAdmin(options.adminToken)
  app.post('/api/v2/tenants', { schema: { body: CreateTenantSchema }, attachValidation: true, onRequest: authorize }, async (request, reply) => {
    if (request.validationError) throw creationError(request.body, request.validationError as FastifyError)
    const { name } = request.body as Static<typeof CreateTenantSchema>
    const created = await options.tenants.create(name)
    return reply.code(201).send(created)
  })
  app.get('/api/v2/tenants', { onRequest: authorize }, async () => ({ tenants: await options.tenants.list() }))
}
