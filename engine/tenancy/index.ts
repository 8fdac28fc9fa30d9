// The tenancy room's public door (engine/index.ts re-exports it for the tiers).
// Tenants and credentials: the registry in KV (digests only, withdrawals followed by a watch),
// the admin token, quotas, usage series, and the one SHA-256.
export { TenantQuotas, TenantQuotaSchema, defaultQuota, openQuotaBucket, readQuota, writeQuota, deleteQuota, type TenantQuota } from './tenant-quotas.ts'
export { USAGE_METRICS, USAGE_TENANT, USAGE_TENANT_TAG, type UsageCounter } from './usage-series.ts'
export { sha256, sha256Hex } from './digest.ts'
export { TenantRegistry, type Principal, type Role, type CreatedTenant, type TenantRecord } from './tenant-registry.ts'
export { TENANT_NAME_PATTERN, CREDENTIAL_ROLES, type CredentialName } from './tenant-registry.ts'
export { loadAdminToken, type AdminToken } from './admin-token.ts'
export { SiteRegistry, siteServes, isSiteId, siteProblems, SITE_ID_PATTERN, SITE_DOMAIN_PATTERN, MAX_SITE_DOMAINS, MAX_SITE_NAME, type Site } from './site-registry.ts'
