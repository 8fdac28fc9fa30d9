// The engine's public door: the only module ingest/, query/ and cli/ import.
// Everything else under engine/ is internal and may change without notice
// (eslint's no-restricted-imports keeps it so). The engine is rooms by concern,
// each with its own door (<room>/index.ts): model, nats, tenancy, storage,
// clickhouse, http, stream, rules, anomaly, tracker; this file re-exports those doors.
export { loadConfig, type Config, type Env } from './config.ts'
export { EngineErrors } from './errors.ts'
export { METRIC_NAME_PATTERN, metricKind, type MetricKind } from './model/index.ts'
export { KIND_UNITS, unitOfKind, unitScale, formatInUnit, type Unit, type UnitScale } from './model/index.ts'
export { MetricsBodySchema, MAX_BEACONS_PER_REQUEST, MAX_FUTURE_SKEW_MS, type BeaconBody } from './model/index.ts'
export { MAX_METRICS_PER_BEACON, MIN_TIMESTAMP_MS, parseIsoTimestamp } from './model/index.ts'
// The schema's parts, for ingest's msgpack fast path, which reads its rules from them (ingest/msgpack-beacons.ts).
export { BeaconSchema, TagsSchema, TimestampSchema, RESERVED_KEYS } from './model/index.ts'
export { TenantQuotas, TenantQuotaSchema, defaultQuota, openQuotaBucket, readQuota, writeQuota, deleteQuota, type TenantQuota } from './tenancy/index.ts'
export { USAGE_METRICS, USAGE_TENANT, USAGE_TENANT_TAG, type UsageCounter } from './tenancy/index.ts'
export { CacheStatsBodySchema, CACHE_STATS_METRICS, CACHE_NAME_TAG, MAX_TAGS, type CacheStatsBody } from './model/index.ts'
export { retryWithBackoff, backoffDelayMs, type Backoff, type RetryOptions } from './retry.ts'
export { sha256, sha256Hex } from './tenancy/index.ts'
export { SampleField, seriesKey, seriesTagsKey, partitionOf, seriesPartition, tenantHashSeed, type Sample } from './model/index.ts'
export { encodeBatch, decodeBatch } from './model/index.ts'
export { beaconSubject, BEACONS_STREAM, DEAD_LETTERS_STREAM, IDEMPOTENCY_BUCKET, IDEMPOTENCY_TTL_MS, STORAGE_CONSUMER } from './nats/index.ts'
export { TenantRegistry, type Principal, type Role, type CreatedTenant, type TenantRecord } from './tenancy/index.ts'
export { TENANT_NAME_PATTERN, CREDENTIAL_ROLES, type CredentialName } from './tenancy/index.ts'
export { loadAdminToken, type AdminToken } from './tenancy/index.ts'
export { ROLLUPS, METRIC_ROLLUPS, QUANTILES_FN, SKETCH_ACCURACY, SKETCH_LEVELS, VISITOR_TAG, VISITORS_FN } from './clickhouse/index.ts'
export { TENANT_VIEWS, tenantView, type TenantView } from './clickhouse/index.ts'
export { CACHE_METRICS, PERFORMANCE_METRICS } from './clickhouse/index.ts'
export { applyMigrations, migrationStatus, migrateUp, migrateDown, type SchemaStatus, type MigrationState } from './clickhouse/index.ts'
export { migrateCommand, MIGRATE_USAGE } from './clickhouse/index.ts'
export { applyRetentionPolicies, getRetentionPolicy, setRetentionPolicy, MAX_RETENTION_DAYS, type RetentionPolicy } from './clickhouse/index.ts'
export type { ClickHouseStore, ClickHouseMode } from './clickhouse/index.ts'
export { StorageConsumer, type StorageStats } from './storage/index.ts'
export { openEngineRuntime, type EngineRuntime, type Logger, type RuntimeOptions } from './runtime.ts'
export { SupervisedNatsServer, externalNats, natsUrlFile, natsStoreDir, natsPidFile, type NatsEndpoint } from './nats/index.ts'
export { describeNatsAuth, natsAuthConfig, type NatsAuth } from './nats/index.ts'
export { findNats, type FoundNats } from './nats/index.ts'
export { NATS_ROLES, inboxPrefixFor, natsAuthorizationConfig, passwordVariable, type NatsRole, type NatsUserName } from './nats/index.ts'
export { HttpErrors, type FieldProblem } from './http/index.ts'
export { createErrorHandler, notFoundHandler, fieldProblems, type TidemarkHttpError } from './http/index.ts'
export { describeProblems, withPublicMessage, MAX_FIELDS_SHOWN } from './http/index.ts'
export { httpServerOptions, lazyRequestLoggerFactory, REQUEST_TIMEOUT_MS } from './http/index.ts'
export { jsonBodyParser, jsonReader, bodyParsers, nonUtf8Line, strictJsonParser, type BodyReader } from './http/index.ts'
export { validatorCompiler } from './http/index.ts'
export { requireRole, requireAdmin, tenantOf, type AuthHook } from './http/index.ts'
export { registerHealthRoute, type HealthCheck } from './http/index.ts'
export { TidemarkMetrics, registerMetricsRoute, type StatsExport } from './http/index.ts'
export { SiteRegistry, siteServes, isSiteId, SITE_ID_PATTERN, SITE_DOMAIN_PATTERN, MAX_SITE_DOMAINS, MAX_SITE_NAME, type Site } from './tenancy/index.ts'
export { TrackerBeaconSchema, TRACKER_BODY_LIMIT, SCREEN_CLASSES, UTM_FIELDS, VisitorSalts, visitorId, PAGEVIEWS_TABLE, EVENTS_TABLE } from './tracker/index.ts'
export { insertHits, type TrackerBeacon, type Hit, type HitWriterStats } from './tracker/index.ts'
export { hitSubject, HITS_STREAM, HITS_CONSUMER, TRACKER_SALTS_BUCKET, SCORES_SUBJECT_PREFIX } from './nats/index.ts'
export { ANOMALY_METRIC, ScoreOutputSink, STREAM_ENGINE_MODULE, type StreamEngineConfig } from './anomaly/index.ts'
export { rulesTestCommand } from './rules/index.ts'
export { openBucket } from './nats/index.ts'
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
  TRIGGER_EVENTS_TABLE,
  TRIGGER_ROW_COLUMNS,
  triggerRowOf,
  type StoredTriggerRow,
  type TriggerEvent,
  type LadderEvent,
} from './rules/index.ts'
export { ROLE_RULES_PUBLISH, autoscalerPermissions, autoscalerNames } from './rules/index.ts'
