// The rules API, with a tenant's apiKey: read its effective rules (defaults,
// the operator's file, its own, each group marked with where it comes from),
// replace its own rule file, delete it or one of its groups. The tenant is
// always the credential's: nothing in the URL or the body can name another,
// and a query string is refused rather than ignored, so `?tenant=` never
// looks as if it might have worked.
import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { MAX_RULE_FILE_BYTES, requireRole, tenantOf, type RuleFileSpec, type RuleSource, type RuleStore, type TenantRegistry, type TenantRules } from '../engine/index.ts'

const NoQuery = Type.Object({}, { additionalProperties: false })
const GroupParams = Type.Object({ group: Type.String({ minLength: 1, maxLength: 256, description: 'a group name of your own rule file' }) })

export interface RulesResponse {
  /** The revision of your own rule file; null while you have none. */
  revision: number | null
  updatedAt: string | null
  /** The effective rules, in Prometheus' rule-file shape. */
  groups: RuleFileSpec['groups']
  /** Where each effective group comes from, by its name in `groups`. */
  sources: Record<string, RuleSource>
  /** Rules a higher layer replaced by alert name. */
  overrides: { alert: string; by: RuleSource; replaced: RuleSource; group: string }[]
  /** Your own rule file as you stored it (what PUT takes), or null. */
  own: RuleFileSpec | null
}

function response(rules: TenantRules): RulesResponse {
  return {
    revision: rules.revision,
    updatedAt: rules.updatedAt,
    groups: rules.layered.spec.groups,
    sources: Object.fromEntries(rules.layered.groups.map((g) => [g.spec.name, g.source])),
    overrides: rules.layered.overrides,
    own: rules.own,
  }
}

export interface RulesRouteOptions {
  tenants: TenantRegistry
  rules: RuleStore
}

export function registerRulesRoutes(app: FastifyInstance, options: RulesRouteOptions): void {
  const authorize = requireRole(options.tenants, 'read')
  const { rules } = options

  app.get('/api/v2/rules', { schema: { querystring: NoQuery }, onRequest: authorize }, async (request) => response(rules.rulesOf(tenantOf(request))))

  // The body is checked by the rules' own compiler, not a route schema: TM_ENGINE_RULE_INVALID names every rule's problem.
  app.put('/api/v2/rules', { schema: { querystring: NoQuery }, bodyLimit: MAX_RULE_FILE_BYTES, onRequest: authorize }, async (request) =>
    response(await rules.put(tenantOf(request), request.body))
  )

  app.delete('/api/v2/rules', { schema: { querystring: NoQuery }, onRequest: authorize }, async (request) => response(await rules.clear(tenantOf(request))))

  app.delete('/api/v2/rules/:group', { schema: { querystring: NoQuery, params: GroupParams }, onRequest: authorize }, async (request) => {
    const { group } = request.params as { group: string }
    return response(await rules.deleteGroup(tenantOf(request), group))
  })
}
