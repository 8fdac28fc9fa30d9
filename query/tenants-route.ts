// The tenant admin routes (admin token only; a tenant's own tokens get 401):
// create a tenant and its two credentials, list tenants, rotate a credential,
// delete a tenant. Tokens are shown once, when made; only digests are kept.
import type { FastifyError, FastifyInstance } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import type { ErrorObject } from 'ajv'
import { CREDENTIAL_ROLES, EngineErrors, fieldProblems, requireAdmin, TENANT_NAME_PATTERN, type CredentialName, type SiteRegistry, type TenantRegistry } from '../engine/index.ts'

export const CreateTenantSchema = Type.Object(
  {
    name: Type.String({ pattern: TENANT_NAME_PATTERN, description: '1 to 64 lower-case letters, digits, - and _, starting with a letter or digit' }),
  },
  { additionalProperties: false }
)

const credentialNames = Object.keys(CREDENTIAL_ROLES) as CredentialName[]

export const RotateCredentialSchema = Type.Object(
  {
    credential: Type.Union(
      credentialNames.map((name) => Type.Literal(name)),
      { description: 'which credential to replace: ingestToken (writes) or apiKey (reads)' }
    ),
  },
  { additionalProperties: false }
)

const TenantParams = Type.Object({ id: Type.String({ maxLength: 64 }) })

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

export function registerTenantRoutes(app: FastifyInstance, options: { tenants: TenantRegistry; adminToken: string; sites?: SiteRegistry }): void {
  const authorize = requireAdmin(options.adminToken)
  app.post('/api/v2/tenants', { schema: { body: CreateTenantSchema }, attachValidation: true, onRequest: authorize }, async (request, reply) => {
    if (request.validationError) throw creationError(request.body, request.validationError as FastifyError)
    const { name } = request.body as Static<typeof CreateTenantSchema>
    const created = await options.tenants.create(name)
    // The tokens are in this answer only: no cache along the way may keep a copy.
    return reply.code(201).header('cache-control', 'no-store').send(created)
  })
  app.get('/api/v2/tenants', { onRequest: authorize }, async () => ({ tenants: await options.tenants.list() }))

  // 200 {id, ingestToken} or {id, apiKey}: the new token, shown once. The old one is refused by every process within a second.
  app.post('/api/v2/tenants/:id/rotate', { schema: { params: TenantParams, body: RotateCredentialSchema }, onRequest: authorize }, async (request, reply) => {
    const { id } = request.params as Static<typeof TenantParams>
    const { credential } = request.body as Static<typeof RotateCredentialSchema>
    const token = await options.tenants.rotate(id, credential)
    return reply.header('cache-control', 'no-store').send({ id, [credential]: token })
  })

  // 200 with the deleted tenant: its credentials are refused within a second, its name is free; its stored data is kept (README).
  app.delete('/api/v2/tenants/:id', { schema: { params: TenantParams }, onRequest: authorize }, async (request) => {
    const { id } = request.params as Static<typeof TenantParams>
    const deleted = await options.tenants.delete(id)
    // Its sites go too: the tracker carries no credential, so only this stops its pages' beacons.
    await options.sites?.deleteAllOf(id)
    return { ...deleted, deleted: true }
  })
}
