// Where ingest usage lives: each tenant credential's counts (ingest/usage.ts)
// are stored as samples of the system tenant `tm_system`, tagged with the tenant
// they count, never in the tenant's own data (its counts, metric names and
// views stay exactly what it sent). Tenant ids are `t_<hex>`, so no tenant can be
// the system tenant; GET /api/v2/usage (query/usage-route.ts) reads a tenant's
// rows for its apiKey and no one else's.
export const USAGE_TENANT = 'tm_system'
/** The tag holding the tenant a usage sample counts for. */
export const USAGE_TENANT_TAG = 'tenant'

export const USAGE_METRICS = {
  requests: 'ingest_requests',
  samples: 'ingest_samples',
  bytes: 'ingest_bytes',
  rateLimited: 'ingest_rate_limited',
  refused: 'ingest_refused',
} as const

export type UsageCounter = keyof typeof USAGE_METRICS
