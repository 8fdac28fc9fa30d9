// The tables a tenant sees: parameterized views over the stored samples and
// rollups, each filtered by `tenant = {tenant:String}`. A view can only be
// read with a value for that parameter, so whoever instantiates one decides
// the tenant: the SQL console gives it from the credential, never from the
// analyst's text (query/sql/). The base tables lead their sort keys with
// tenant, so the filter reads only that tenant's granules.
//
// This file names them for the console and the docs; their definitions are
// migrations (migrations/002-tenant-views.ts and later), since a released
// definition is never edited in place.

export interface TenantView {
  /** The name an analyst writes: `SELECT … FROM samples`. */
  name: string
  /** The parameterized view in Tidemark's database: `<name>_for_tenant(tenant = …)`. */
  view: string
}

const named = (name: string): TenantView => ({ name, view: `${name}_for_tenant` })

export const TENANT_VIEWS: readonly TenantView[] = [
  named('samples'),
  named('samples_1m'),
  named('samples_1h'),
  named('analytics_metrics'),
  named('cache_stats'),
  named('performance_metrics'),
  named('tenant_analytics'),
  named('series_1m'),
  named('series_1h'),
  named('pageviews'),
  named('events'),
]

export function tenantView(name: string): TenantView | undefined {
  return TENANT_VIEWS.find((v) => v.name === name)
}
