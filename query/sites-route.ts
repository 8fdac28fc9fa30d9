// A tenant's sites for the browser tracker, with the tenant's apiKey:
// POST /api/v2/sites {name, domains} (201 with the site and the <script> tag
// to paste), GET /api/v2/sites, DELETE /api/v2/sites/<id>. Site ids are
// public (the tag carries one); the tenant is the credential's, and another
// tenant's site id is answered as unknown. Every ingest process sees a change
// within a second (engine/tenancy/site-registry.ts): a deleted site's beacons
// are refused from then on; its stored pageviews stay.
import type { FastifyInstance } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { MAX_SITE_DOMAINS, MAX_SITE_NAME, requireRole, SITE_DOMAIN_PATTERN, tenantOf, type Site, type SiteRegistry, type TenantRegistry } from '../engine/index.ts'

export const CreateSiteSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: MAX_SITE_NAME, description: 'what the dashboard calls it' }),
    domains: Type.Array(Type.String({ pattern: SITE_DOMAIN_PATTERN, maxLength: 253, description: 'a lower-case host name: example.com, www.example.com, localhost' }), {
      minItems: 1,
      maxItems: MAX_SITE_DOMAINS,
      description: 'the hosts its pages are served from (subdomains included); a beacon from any other Origin is refused',
    }),
  },
  { additionalProperties: false }
)

const SiteParams = Type.Object({ id: Type.String({ maxLength: 64 }) })

export interface SitesRouteOptions {
  tenants: TenantRegistry
  sites: SiteRegistry
}

/** The tag a site's pages carry; `origin` is where the ingest tier answers (this request's host when not told). */
export function scriptTag(origin: string, site: Site): string {
  return `<script defer src="${origin}/t.js" data-site="${site.id}"></script>`
}

export function registerSitesRoutes(app: FastifyInstance, options: SitesRouteOptions): void {
  const authorize = requireRole(options.tenants, 'read')

  app.post('/api/v2/sites', { schema: { body: CreateSiteSchema }, onRequest: authorize }, async (request, reply) => {
    const body = request.body as Static<typeof CreateSiteSchema>
    const site = await options.sites.create(tenantOf(request), body.name, body.domains)
    return reply.code(201).send({ ...site, script: scriptTag(`${request.protocol}://${request.host}`, site) })
  })

  app.get('/api/v2/sites', { onRequest: authorize }, async (request) => ({ sites: await options.sites.list(tenantOf(request)) }))

  app.delete('/api/v2/sites/:id', { schema: { params: SiteParams }, onRequest: authorize }, async (request) => {
    const { id } = request.params as Static<typeof SiteParams>
    return { ...(await options.sites.delete(tenantOf(request), id)), deleted: true }
  })
}
