// The engine's public door: the only module ingest/, query/ and cli/ import.
// Everything else under engine/ is internal and may change without notice
// (eslint's no-restricted-imports keeps it so).
export { loadConfig, ConfigSchema, type Config, type Env } from './config.ts'
export { EngineErrors } from './errors.ts'
export { METRIC_NAME_PATTERN, KNOWN_METRICS, metricKind, type MetricKind } from './metric-catalogue.ts'
export {
  BeaconSchema,
  MetricsBodySchema,
  RESERVED_KEYS,
  MAX_BEACONS_PER_REQUEST,
  MAX_FUTURE_SKEW_MS,
  type BeaconBody,
} from './beacon-schema.ts'
export { SampleField, seriesKey, partitionOf, type Sample } from './sample.ts'
export { encodeBatch, decodeBatch } from './beacon-batch.ts'
export { beaconSubject, BEACONS_STREAM, STORAGE_CONSUMER } from './subjects.ts'
export { TenantRegistry, TENANT_NAME_PATTERN, type Principal, type Role, type CreatedTenant, type TenantRecord } from './tenant-registry.ts'
export { loadAdminToken, adminTokenPath, type AdminToken } from './admin-token.ts'
export { ROLLUPS } from './clickhouse-schema.ts'
export type { ClickHouseStore, ClickHouseMode } from './clickhouse-store.ts'
export { StorageConsumer, type StorageStats } from './storage-consumer.ts'
export { openEngineRuntime, openNatsEndpoint, natsUrlFile, type EngineRuntime, type Logger } from './runtime.ts'
export { connectNats } from './jetstream-setup.ts'
export { findExecutable, freePort, SupervisedNatsServer, externalNats, type NatsEndpoint } from './nats-endpoint.ts'
export { HttpErrors, type FieldProblem } from './http/http-errors.ts'
export { createErrorHandler, notFoundHandler, fieldProblems, type TidemarkHttpError } from './http/error-handler.ts'
export { validatorCompiler } from './http/validator-compiler.ts'
export { requireRole, requireAdmin, bearerToken, type AuthHook } from './http/bearer-auth.ts'
export { registerHealthRoute, type HealthCheck } from './http/health-route.ts'
