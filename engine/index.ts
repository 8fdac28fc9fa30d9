// The engine's public door: the only module ingest/, query/ and cli/ import.
// Everything else under engine/ is internal and may change without notice
// (eslint's no-restricted-imports keeps it so).
export { loadConfig, type Config, type Env } from './config.ts'
export { EngineErrors } from './errors.ts'
export { METRIC_NAME_PATTERN, metricKind, type MetricKind } from './metric-catalogue.ts'
export { MetricsBodySchema, MAX_BEACONS_PER_REQUEST, MAX_FUTURE_SKEW_MS, type BeaconBody } from './beacon-schema.ts'
export { MAX_METRICS_PER_BEACON, MIN_TIMESTAMP_MS, parseIsoTimestamp } from './beacon-schema.ts'
export { TenantQuotas, TenantQuotaSchema, defaultQuota, openQuotaBucket, readQuota, writeQuota, deleteQuota, type TenantQuota } from './tenant-quotas.ts'
export { USAGE_METRICS, USAGE_TENANT, USAGE_TENANT_TAG, type UsageCounter } from './usage-series.ts'
export { CacheStatsBodySchema, CACHE_STATS_METRICS, CACHE_NAME_TAG, MAX_TAGS, type CacheStatsBody } from './beacon-schema.ts'
export { retryWithBackoff, backoffDelayMs, type Backoff, type RetryOptions } from './retry.ts'
export { sha256, sha256Hex } from './digest.ts'
export { SampleField, seriesKey, partitionOf, type Sample } from './sample.ts'
export { encodeBatch, decodeBatch } from './beacon-batch.ts'
export { beaconSubject, BEACONS_STREAM, DEAD_LETTERS_STREAM, IDEMPOTENCY_BUCKET, IDEMPOTENCY_TTL_MS, STORAGE_CONSUMER } from './subjects.ts'
export { TenantRegistry, type Principal, type Role, type CreatedTenant, type TenantRecord } from './tenant-registry.ts'
export { TENANT_NAME_PATTERN, CREDENTIAL_ROLES, type CredentialName } from './tenant-registry.ts'
export { loadAdminToken, type AdminToken } from './admin-token.ts'
export { ROLLUPS, QUANTILES_FN, SKETCH_ACCURACY, SKETCH_LEVELS, VISITOR_TAG, VISITORS_FN } from './clickhouse-schema.ts'
export { TENANT_VIEWS, tenantView, type TenantView } from './clickhouse/tenant-views.ts'
export { applyMigrations, migrationStatus, migrateUp, migrateDown, type SchemaStatus, type MigrationState } from './clickhouse/migrator.ts'
export { migrateCommand, MIGRATE_USAGE } from './clickhouse/migrate-command.ts'
export { applyRetentionPolicies, getRetentionPolicy, setRetentionPolicy, MAX_RETENTION_DAYS, type RetentionPolicy } from './clickhouse/retention.ts'
export type { ClickHouseStore, ClickHouseMode } from './clickhouse-store.ts'
export { StorageConsumer, type StorageStats } from './storage-consumer.ts'
export { openEngineRuntime, type EngineRuntime, type Logger, type RuntimeOptions } from './runtime.ts'
export { SupervisedNatsServer, externalNats, natsUrlFile, natsStoreDir, natsPidFile, type NatsEndpoint } from './nats-endpoint.ts'
export { describeNatsAuth, natsAuthConfig, type NatsAuth } from './nats-auth.ts'
export { findNats, type FoundNats } from './nats-discovery.ts'
export { NATS_ROLES, inboxPrefixFor, natsAuthorizationConfig, passwordVariable, type NatsRole, type NatsUserName } from './nats-permissions.ts'
export { HttpErrors, type FieldProblem } from './http/http-errors.ts'
export { createErrorHandler, notFoundHandler, fieldProblems, type TidemarkHttpError } from './http/error-handler.ts'
export { describeProblems, withPublicMessage, MAX_FIELDS_SHOWN } from './http/error-handler.ts'
export { httpServerOptions, REQUEST_TIMEOUT_MS } from './http/http-server.ts'
export { jsonBodyParser, bodyParsers, strictJsonParser, type BodyReader } from './http/body-encoding.ts'
export { validatorCompiler } from './http/validator-compiler.ts'
export { requireRole, requireAdmin, tenantOf, type AuthHook } from './http/bearer-auth.ts'
export { registerHealthRoute, type HealthCheck } from './http/health-route.ts'
export { TidemarkMetrics, registerMetricsRoute, type StatsExport } from './http/metrics-route.ts'
export { rulesTestCommand } from './rules/index.ts'
export { openBucket } from './jetstream-setup.ts'
export { RuleStore, ensureRulesBucket, RULES_BUCKET, MAX_RULE_FILE_BYTES, type RuleFileSpec, type RuleSource, type TenantRules } from './rules/index.ts'
export {
  ActionLadder,
  toTriggerEvent,
  triggerSubject,
  tenantTriggerSubjects,
  publishTriggerEvents,
  triggersStreamConfig,
  TRIGGERS_STREAM,
  TriggerEventSchema,
  triggerEventsTableStatement,
  insertTriggerEvents,
  triggerHistory,
  type TriggerEvent,
  type LadderEvent,
} from './rules/index.ts'
export { ROLE_RULES_PUBLISH, autoscalerPermissions, autoscalerNames } from './rules/index.ts'
