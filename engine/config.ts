// Configuration is read and validated once, at start (the hot path never looks
// at process.env). Every variable is documented in the README's table.
import path from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { EngineErrors } from './errors.ts'
import { loadStreamSettings, StreamSettingsSchema } from './stream/stream-config.ts'

export const ConfigSchema = Type.Object({
  port: Type.Integer({ minimum: 0, maximum: 65535 }),
  host: Type.String({ minLength: 1 }),
  dataDir: Type.String({ minLength: 1 }),
  natsUrl: Type.Optional(Type.String({ minLength: 1 })),
  natsServerBin: Type.String({ minLength: 1 }),
  /** NATS credentials, as NATS users pass them: a creds file, user and password, a token, or an nkey seed file. */
  natsCreds: Type.Optional(Type.String({ minLength: 1 })),
  /** A Prometheus rule file every tenant's rules start from (TIDEMARK_RULES_FILE); tenants override it through the rules API. */
  rulesFile: Type.Optional(Type.String({ minLength: 1 })),
  natsUser: Type.Optional(Type.String({ minLength: 1 })),
  natsPassword: Type.Optional(Type.String({ minLength: 1 })),
  natsToken: Type.Optional(Type.String({ minLength: 1 })),
  natsNkey: Type.Optional(Type.String({ minLength: 1 })),
  /** chDB's directory when CLICKHOUSE_URL is unset; default <dataDir>/chdb. */
  chdbPath: Type.Optional(Type.String({ minLength: 1 })),
  clickhouseUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
  clickhouseUser: Type.String(),
  clickhousePassword: Type.String(),
  clickhouseDatabase: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }),
  adminToken: Type.Optional(Type.String({ minLength: 16 })),
  partitions: Type.Integer({ minimum: 1, maximum: 1024 }),
  streamReplicas: Type.Integer({ minimum: 1, maximum: 5 }),
  /** How long a process that does not own the streams (ingest, query) waits at start for the engine to create them. */
  setupWaitMs: Type.Integer({ minimum: 0, maximum: 3_600_000 }),
  logLevel: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
  /** Largest number of samples one JetStream message carries. */
  publishBatchSamples: Type.Integer({ minimum: 1, maximum: 10000 }),
  /** Coalesced publishes one partition may have in flight before its next batch waits for an ack (group commit's depth). */
  publishInFlight: Type.Integer({ minimum: 1, maximum: 64 }),
  /** How often each ingest process publishes its tenants' usage counts (samples of tm_system stamped then). */
  usageIntervalMs: Type.Integer({ minimum: 1000, maximum: 86_400_000 }),
  /** How long ingest keeps trying to get a batch into JetStream before answering 503. */
  publishTimeoutMs: Type.Integer({ minimum: 100, maximum: 120_000 }),
  /** Samples a second each ingest process admits per tenant without a quota of its own; 0 for no limit. */
  quotaSamplesPerSec: Type.Integer({ minimum: 0, maximum: 1_000_000_000 }),
  /** The burst (token bucket size) of that default quota. */
  quotaBurst: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
  /**
   * The proxies in front of the HTTP tiers (addresses or CIDRs, comma-separated), whose X-Forwarded-For is
   * believed: the tracker hashes the client's address into visitor ids. Unset: the socket's address.
   */
  trustProxy: Type.Optional(Type.String({ pattern: '^[0-9A-Fa-f.:/]+(,\\s*[0-9A-Fa-f.:/]+)*$' })),
  /** Largest number of rows the storage consumer writes in one insert. */
  storageBatchRows: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  /** How long the storage consumer waits to fill an insert. */
  storageLingerMs: Type.Integer({ minimum: 1, maximum: 60_000 }),
  /** How long JetStream waits for the storage consumer's ack before redelivering. */
  storageAckWaitMs: Type.Integer({ minimum: 500, maximum: 3_600_000 }),
  /**
   * Nice value (0-19) of chDB's threads and storage's encode worker, so storing yields the cores to the
   * event loop and the stream engine (engine/clickhouse/thread-priority.ts); 0 leaves them. Linux only.
   */
  storageNice: Type.Integer({ minimum: 0, maximum: 19 }),
  /** Whether the engine role runs the stream engine (windows, rules, triggers) beside storage; TIDEMARK_STREAM_ENGINE=off turns it off. */
  streamEngine: Type.Boolean(),
  /** Whether the stream engine scores every series (anomaly_score); TIDEMARK_ANOMALY_SCORES=off leaves windows and rules only. */
  anomalyScores: Type.Boolean(),
  /** The stream engine's TIDEMARK_STREAM_* settings (engine/stream/stream-config.ts, docs/stream.md). */
  stream: StreamSettingsSchema,
})
export type Config = Static<typeof ConfigSchema>

export type Env = Record<string, string | undefined>

function int(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback
  // Number('') and Number('12abc') are caught by the schema check below as NaN.
  return Number(value)
}

/** on/off, true/false, 1/0; anything else is left for the schema to refuse by name. */
function flag(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback
  const v = value.toLowerCase()
  if (['on', 'true', '1', 'yes'].includes(v)) return true
  if (['off', 'false', '0', 'no'].includes(v)) return false
  return value as unknown as boolean
}

/** One way of authenticating to NATS at a time, and user and password together. */
function natsCredentialProblems(config: Config): string[] {
  const given = [
    config.natsCreds && 'NATS_CREDS',
    (config.natsUser || config.natsPassword) && 'NATS_USER/NATS_PASSWORD',
    config.natsToken && 'NATS_TOKEN',
    config.natsNkey && 'NATS_NKEY',
  ].filter(Boolean)
  const problems: string[] = []
  if (given.length > 1) problems.push(`NATS credentials are given more than one way (${given.join(', ')}): set one`)
  if (Boolean(config.natsUser) !== Boolean(config.natsPassword)) problems.push('NATS_USER and NATS_PASSWORD go together: set both or neither')
  return problems
}

/** Reads the TIDEMARK_* and service variables; throws TM_ENGINE_CONFIG_INVALID naming every bad one. */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const config: Config = {
    port: int(env.PORT, 8080),
    host: env.HOST || '0.0.0.0',
    dataDir: path.resolve(env.TIDEMARK_DATA_DIR || './data'),
    natsUrl: env.NATS_URL || undefined,
    natsServerBin: env.NATS_SERVER_BIN || 'nats-server',
    natsCreds: env.NATS_CREDS ? path.resolve(env.NATS_CREDS) : undefined,
    rulesFile: env.TIDEMARK_RULES_FILE ? path.resolve(env.TIDEMARK_RULES_FILE) : undefined,
    natsUser: env.NATS_USER || undefined,
    natsPassword: env.NATS_PASSWORD || undefined,
    natsToken: env.NATS_TOKEN || undefined,
    natsNkey: env.NATS_NKEY ? path.resolve(env.NATS_NKEY) : undefined,
    chdbPath: env.TIDEMARK_CHDB_PATH ? path.resolve(env.TIDEMARK_CHDB_PATH) : undefined,
    clickhouseUrl: env.CLICKHOUSE_URL || undefined,
    clickhouseUser: env.CLICKHOUSE_USER || 'default',
    clickhousePassword: env.CLICKHOUSE_PASSWORD || '',
    clickhouseDatabase: env.CLICKHOUSE_DATABASE || 'tidemark',
    adminToken: env.TIDEMARK_ADMIN_TOKEN || undefined,
    partitions: int(env.TIDEMARK_PARTITIONS, 16),
    streamReplicas: int(env.TIDEMARK_STREAM_REPLICAS, 1),
    setupWaitMs: int(env.TIDEMARK_SETUP_WAIT_MS, 60_000),
    logLevel: (env.LOG_LEVEL || 'info') as Config['logLevel'],
    publishBatchSamples: int(env.TIDEMARK_PUBLISH_BATCH, 1000),
    publishInFlight: int(env.TIDEMARK_PUBLISH_IN_FLIGHT, 4),
    publishTimeoutMs: int(env.TIDEMARK_PUBLISH_TIMEOUT_MS, 10_000),
    usageIntervalMs: int(env.TIDEMARK_USAGE_INTERVAL_MS, 10_000),
    quotaSamplesPerSec: int(env.TIDEMARK_QUOTA_SAMPLES_PER_SEC, 1_000_000),
    quotaBurst: int(env.TIDEMARK_QUOTA_BURST, 2_000_000),
    trustProxy: env.TIDEMARK_TRUST_PROXY || undefined,
    storageBatchRows: int(env.TIDEMARK_STORAGE_BATCH_ROWS, 100_000),
    storageLingerMs: int(env.TIDEMARK_STORAGE_LINGER_MS, 500),
    storageAckWaitMs: int(env.TIDEMARK_STORAGE_ACK_WAIT_MS, 60_000),
    storageNice: int(env.TIDEMARK_STORAGE_NICE, 0),
    streamEngine: flag(env.TIDEMARK_STREAM_ENGINE, true),
    anomalyScores: flag(env.TIDEMARK_ANOMALY_SCORES, true),
    stream: loadStreamSettings(env),
    ...overrides,
  }
  for (const key of Object.keys(config) as (keyof Config)[]) {
    if (config[key] === undefined) delete config[key]
  }
  const problems = [...Value.Errors(ConfigSchema, config)].map(
    (e) => `${e.path.slice(1) || '(root)'} ${e.message} (got ${JSON.stringify(e.value)})`
  )
  // Buffered messages must be stored well before JetStream gives up on them and redelivers.
  if (problems.length === 0 && config.storageLingerMs * 2 > config.storageAckWaitMs) {
    problems.push(`storageLingerMs (${config.storageLingerMs}) must be at most half of storageAckWaitMs (${config.storageAckWaitMs})`)
  }
  problems.push(...natsCredentialProblems(config))
  if (problems.length > 0) throw new EngineErrors.ConfigInvalid(problems.join('; '))
  return config
}
