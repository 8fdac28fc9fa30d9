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
  ClickHouseUnavailable: createError('TM_ENGINE_CLICKHOUSE_UNAVAILABLE', 'ClickHouse is unavailable: %s', 503),
  TenantNameTaken: createError('TM_ENGINE_TENANT_NAME_TAKEN', 'A tenant named "%s" already exists', 409),
  TenantNameInvalid: createError(
    'TM_ENGINE_TENANT_NAME_INVALID',
    'Tenant name "%s" is invalid: use 1 to 64 characters from a-z, 0-9, "-" and "_", starting with a letter or digit',
    400
  ),
  StorageInsertFailed: createError('TM_ENGINE_STORAGE_INSERT_FAILED', 'ClickHouse insert failed: %s', 503),
  BatchDecodeFailed: createError('TM_ENGINE_BATCH_DECODE_FAILED', 'A beacon batch could not be decoded: %s', 500),
  SchemaMigrationFailed: createError('TM_ENGINE_SCHEMA_MIGRATION_FAILED', 'Schema migration failed: %s', 500),
} as const
