// The clickhouse room's public door (engine/index.ts re-exports it for the tiers).
// ClickHouse: the store (chDB or a server through @clickhouse/client), the schema as numbered
// migrations, tenant views, retention.
export { ROLLUPS, METRIC_ROLLUPS, QUANTILES_FN, SKETCH_ACCURACY, SKETCH_LEVELS, VISITOR_TAG, VISITORS_FN } from './clickhouse-schema.ts'
export { TENANT_VIEWS, tenantView, type TenantView } from './tenant-views.ts'
export { CACHE_METRICS, PERFORMANCE_METRICS } from './migrations/002-tenant-views.ts'
export { applyMigrations, migrationStatus, migrateUp, migrateDown, type SchemaStatus, type MigrationState } from './migrator.ts'
export { migrateCommand, MIGRATE_USAGE } from './migrate-command.ts'
export { applyRetentionPolicies, getRetentionPolicy, setRetentionPolicy, MAX_RETENTION_DAYS, type RetentionPolicy } from './retention.ts'
export type { ClickHouseStore, ClickHouseMode } from './clickhouse-store.ts'
