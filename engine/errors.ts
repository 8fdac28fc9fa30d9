// The engine's error catalogue: every error the engine raises has a stable
// TM_ENGINE_* code and the HTTP status it maps to when it reaches a client.
// docs/errors.md lists every code of every tier; test/unit/error-catalogue.test.ts
// checks that the two agree.
import createError from '@fastify/error'

export const EngineErrors = {
  ConfigInvalid: createError('TM_ENGINE_CONFIG_INVALID', 'Invalid configuration: %s', 500),
  NatsServerMissing: createError(
    'TM_ENGINE_NATS_SERVER_MISSING',
    'No nats-server binary found on PATH and NATS_URL is not set. Install one (Debian: `apt-get install nats-server`) or set NATS_URL to a running NATS server with JetStream enabled.',
    500
  ),
  NatsServerFailed: createError('TM_ENGINE_NATS_SERVER_FAILED', 'nats-server could not be started: %s', 500),
  NatsUnavailable: createError('TM_ENGINE_NATS_UNAVAILABLE', 'NATS is unavailable: %s', 503),
  NatsAuthFailed: createError('TM_ENGINE_NATS_AUTH_FAILED', 'NATS refused the connection: %s', 500),
  NatsPermissionDenied: createError('TM_ENGINE_NATS_PERMISSION_DENIED', 'NATS denied a permission Tidemark needs: %s', 500),
  NatsStoreInUse: createError('TM_ENGINE_NATS_STORE_IN_USE', 'The NATS store is in use: %s', 500),
  StreamMissing: createError('TM_ENGINE_STREAM_MISSING', 'JetStream is not set up: %s', 503),
  StreamMismatch: createError('TM_ENGINE_STREAM_MISMATCH', '%s', 500),
  DeploymentInvalid: createError('TM_ENGINE_DEPLOYMENT_INVALID', 'This process cannot run as configured: %s', 500),
  ClickHouseUnavailable: createError('TM_ENGINE_CLICKHOUSE_UNAVAILABLE', 'ClickHouse is unavailable: %s', 503),
  TenantNameTaken: createError('TM_ENGINE_TENANT_NAME_TAKEN', 'A tenant named "%s" already exists', 409),
  TenantNameInvalid: createError(
    'TM_ENGINE_TENANT_NAME_INVALID',
    'Tenant name "%s" is invalid: use 1 to 64 characters from a-z, 0-9, "-" and "_", starting with a letter or digit',
    400
  ),
  TenantNotFound: createError('TM_ENGINE_TENANT_NOT_FOUND', 'No tenant with id "%s"', 404),
  TenantChanged: createError('TM_ENGINE_TENANT_CHANGED', 'The tenant changed meanwhile: %s', 409),
  SiteNotFound: createError('TM_ENGINE_SITE_NOT_FOUND', 'This tenant has no site with id "%s"', 404),
  SiteInvalid: createError('TM_ENGINE_SITE_INVALID', 'Invalid site: %s', 400),
  StorageInsertFailed: createError('TM_ENGINE_STORAGE_INSERT_FAILED', 'ClickHouse insert failed: %s', 503),
  BatchDecodeFailed: createError('TM_ENGINE_BATCH_DECODE_FAILED', 'A beacon batch could not be decoded: %s', 500),
  AnomalyInputInvalid: createError('TM_ENGINE_ANOMALY_INPUT_INVALID', 'Anomaly scorer: %s', 400),
  AnomalyStateInvalid: createError('TM_ENGINE_ANOMALY_STATE_INVALID', 'Anomaly scorer state cannot be restored: %s', 500),
  SnapshotInvalid: createError('TM_ENGINE_SNAPSHOT_INVALID', 'A stream partition snapshot cannot be used: %s', 500),
  RuleStateInvalid: createError('TM_ENGINE_RULE_STATE_INVALID', 'Saved rule state of a series cannot be restored: %s', 500),
  RuleInvalid: createError('TM_ENGINE_RULE_INVALID', 'Invalid rules: %s', 400),
  StorageBatchRefused: createError('TM_ENGINE_STORAGE_BATCH_REFUSED', 'ClickHouse refused a batch for its content: %s', 500),
  StorageUnhealthy: createError('TM_ENGINE_STORAGE_UNHEALTHY', 'Storage is failing: %s', 503),
  RuleGroupNotFound: createError('TM_ENGINE_RULE_GROUP_NOT_FOUND', 'No such rule group: %s', 404),
  SchemaMigrationFailed: createError('TM_ENGINE_SCHEMA_MIGRATION_FAILED', 'Schema migration failed: %s', 500),
} as const
