// Composes a Tidemark process from its roles: ingest, engine, query. The
// embedded default (`tidemark start`) runs all three in one process on one
// port; `tidemark ingest|engine|query` run one each against shared NATS and
// ClickHouse. Tests and benches start the same thing through startTidemark().
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { pino, type Logger as PinoLogger } from 'pino'
import {
  createErrorHandler,
  defaultQuota,
  HttpErrors,
  httpServerOptions,
  lazyRequestLoggerFactory,
  loadAdminToken,
  notFoundHandler,
  openBucket,
  openEngineRuntime,
  RULES_BUCKET,
  RuleStore,
  registerHealthRoute,
  registerMetricsRoute,
  StorageConsumer,
  validatorCompiler,
  type AdminToken,
  type Config,
  type EngineRuntime,
  type HealthCheck,
  type NatsRole,
  SiteRegistry,
  ScoreOutputSink,
  STREAM_ENGINE_MODULE,
  type StreamEngineConfig,
} from '../engine/index.ts'
import { streamRulesSnapshot, TriggerHistoryWriter, TriggerOutputSink } from '../engine/rules/index.ts'
import { StreamRuntime } from '../engine/stream/index.ts'
import { startHitWriter, type HitWriter } from '../engine/tracker/index.ts'
import { createPublisher, createTracker, ingestPlugin, type BatchPublisher } from '../ingest/index.ts'
import { queryPlugin } from '../query/index.ts'
import { createProcessMetrics } from './process-metrics.ts'

export type TierRole = NatsRole
export const ALL_ROLES: TierRole[] = ['ingest', 'engine', 'query']

export interface StartOptions {
  roles?: TierRole[]
  logger?: PinoLogger
  uiDir?: string
  /** Test hook passed to the storage consumer (see StorageConsumer.afterInsert). */
  afterInsert?: (token: string) => Promise<void> | void
}

export interface TidemarkApp {
  /** http://host:port the process listens on. */
  url: string
  app: FastifyInstance
  runtime: EngineRuntime
  roles: TierRole[]
  adminToken: AdminToken | undefined
  publisher: BatchPublisher | undefined
  storage: StorageConsumer | undefined
  /** The stream engine (windows, rules, triggers) of an engine process, unless TIDEMARK_STREAM_ENGINE=off. */
  stream: StreamRuntime | undefined
  triggers: TriggerOutputSink | undefined
  /** Publishes the anomaly scores for storage (engine role with the stream engine). */
  scores: ScoreOutputSink | undefined
  /** Writes TM_TRIGGERS into ClickHouse trigger_events (engine role with the stream engine). */
  triggerHistory: TriggerHistoryWriter | undefined
  /** Drains: stops taking requests, publishes what was accepted, stores what JetStream holds, then closes. */
  close(): Promise<void>
}

export async function startTidemark(config: Config, options: StartOptions = {}): Promise<TidemarkApp> {
  const roles = options.roles ?? ALL_ROLES
  const log = options.logger ?? pino({ level: config.logLevel })
  const runtime = await openEngineRuntime(config, {
    clickhouse: roles.includes('engine') || roles.includes('query'),
    name: `tidemark-${roles.join('+')}`,
    log,
    roles,
  })
  let storage: StorageConsumer | undefined
  let rules: RuleStore | undefined
  let stream: StreamRuntime | undefined
  let triggers: TriggerOutputSink | undefined
  let scores: ScoreOutputSink | undefined
  let triggerHistory: TriggerHistoryWriter | undefined
  let stopWatchingRules: (() => void) | undefined
  let publisher: BatchPublisher | undefined
  let tracker: { stop(): void } | undefined
  let hitWriter: HitWriter | undefined
  let app: FastifyInstance | undefined
  try {
    const { store, storageState } = runtime
    if (roles.includes('engine') && store && storageState) {
      storage = new StorageConsumer({
        js: runtime.js,
        store,
        state: storageState,
        batchRows: config.storageBatchRows,
        lingerMs: config.storageLingerMs,
        log,
        afterInsert: options.afterInsert,
      })
      await storage.start()
      hitWriter = await startHitWriter({ nc: runtime.nc, js: runtime.js, store, log })
    }
    if (roles.includes('engine') || roles.includes('query')) {
      // One store per process: the engine evaluates the rules the query tier serves, from the same watch.
      rules = await RuleStore.open({ kv: await openBucket(runtime.nc, RULES_BUCKET), file: config.rulesFile, log })
    }
    if (roles.includes('engine') && config.streamEngine && rules) {
      const ruleStore = rules
      let snapshot = streamRulesSnapshot(ruleStore)
      triggers = new TriggerOutputSink(runtime.js)
      // Scores go to tm.beacons.scores.<p>, stored by the storage consumer; windows and triggers as before.
      scores = new ScoreOutputSink(runtime.js, triggers)
      if (store) triggerHistory = await TriggerHistoryWriter.start({ nc: runtime.nc, js: runtime.js, store, log })
      // A rule change is marked in every owned partition's log, where the threads switch rule sets
      // (docs/triggers.md, Rule changes): changes landing together (a burst of PUTs) share one marker.
      // Watched before the stream engine starts, or a change arriving while it starts (its partitions are
      // acquired and replaying by then) would be in the rule store but never in the engine's rules.
      let changedWhileStarting = false
      let pending: NodeJS.Timeout | undefined
      stopWatchingRules = ruleStore.onChange((tenant) => {
        clearTimeout(pending)
        pending = setTimeout(() => {
          const next = streamRulesSnapshot(ruleStore)
          if (next.config.version === snapshot.config.version) return
          snapshot = next
          if (stream === undefined) {
            changedWhileStarting = true
            return
          }
          log.info({ tenant, version: next.config.version }, 'rules changed: marking the change in every owned partition')
          stream.configChanged().catch((err: unknown) => log.error({ err }, 'rules changed but the new rule set could not be stored; the partitions go on under the previous rules'))
        }, 100)
      })
      stream = await StreamRuntime.start({
        nc: runtime.nc,
        partitions: config.partitions,
        settings: config.stream,
        replicas: config.streamReplicas,
        sink: scores,
        // Rules and anomaly scorers beside the windows (engine/anomaly/stream-anomaly.ts runs the rules too).
        evaluatorModule: STREAM_ENGINE_MODULE,
        evaluatorConfig: () => ({ config: { rules: snapshot.config, anomaly: config.anomalyScores } satisfies StreamEngineConfig, version: snapshot.config.version, evaluationIntervalMs: snapshot.evaluationIntervalMs }),
        log,
      })
      // Stored and marked like any change (the runtime stored only the version it started with).
      if (changedWhileStarting) {
        log.info({ version: snapshot.config.version }, 'rules changed while the stream engine started: marking the change in every owned partition')
        stream.configChanged().catch((err: unknown) => log.error({ err }, 'rules changed but the new rule set could not be stored; the partitions go on under the previous rules'))
      }
    }
    const errorHandler = createErrorHandler()
    const server: FastifyInstance = Fastify({
      loggerInstance: log as FastifyBaseLogger,
      // request.log is made only when a request logs at its level (engine/http/request-logger.ts).
      childLoggerFactory: lazyRequestLoggerFactory,
      ...httpServerOptions({ longestHandlerMs: config.publishTimeoutMs }),
      // Only the proxies named: a client's own X-Forwarded-For would otherwise choose its visitor id.
      ...(config.trustProxy ? { trustProxy: config.trustProxy.split(',').map((p) => p.trim()) } : {}),
      // The router answers a URL that does not percent-decode (`/%zz`) itself, before any route: in Tidemark's shape too.
      frameworkErrors: (error, request, reply) =>
        errorHandler(error.code === 'FST_ERR_BAD_URL' ? new HttpErrors.InvalidRequest('the URL is not valid percent-encoding') : error, request, reply),
    })
    app = server
    server.setValidatorCompiler(validatorCompiler)
    server.setErrorHandler(errorHandler)
    server.setNotFoundHandler(notFoundHandler)
    server.decorateRequest('principal', null)

    const checks: Record<string, HealthCheck> = {
      // A flush is a round trip to the server: it proves the connection works, not just that it exists.
      nats: async () => {
        await runtime.nc.flush()
        return { ok: true, kind: runtime.nats.kind, restarts: runtime.nats.restarts }
      },
    }
    if (store) checks.clickhouse = async () => ({ ok: await store.ping(), mode: store.mode })
    const storageRef = storage
    if (storageRef) checks.storage = () => storageRef.health()
    registerHealthRoute(server, checks, roles)

    if (roles.includes('ingest')) {
      publisher = createPublisher(runtime.nc, config, log)
      const opened = await createTracker(runtime.nc, log)
      tracker = opened
      const ingestOptions = { tenants: runtime.tenants, publisher, tracker: opened }
      await server.register(async (scope) => ingestPlugin(scope, ingestOptions))
      const publisherRef = publisher
      checks.ingest = async () => publisherRef.health()
    }
    let adminToken: AdminToken | undefined
    if (roles.includes('query') && store) {
      adminToken = loadAdminToken(config.dataDir, config.adminToken)
      const queryOptions = { tenants: runtime.tenants, store, adminToken: adminToken.token, uiDir: options.uiDir, rules, nc: runtime.nc, defaultQuota: defaultQuota(config), sites: await SiteRegistry.open(runtime.nc) }
      await server.register(async (scope) => queryPlugin(scope, queryOptions))
    }
    registerMetricsRoute(server, createProcessMetrics({ storage, publisher, stream, triggers, triggerHistory, hitWriter }))
    await server.listen({ port: config.port, host: config.host })
    const { port } = server.server.address() as { port: number }
    const url = `http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${port}`
    const started = { app: server, publisher, storage, stream, triggerHistory }
    let closing: Promise<void> | undefined
    return {
      url,
      app: server,
      runtime,
      roles,
      adminToken,
      publisher,
      storage,
      stream,
      triggers,
      scores,
      triggerHistory,
      close() {
        closing ??= (async () => {
          // Order matters: requests in flight finish (they wait for JetStream), then the
          // publisher empties, then storage catches up with the stream, then connections go.
          await started.app.close()
          await started.publisher?.drain()
          await started.storage?.drain()
          tracker?.stop()
          await hitWriter?.stop()
          // The stream engine hands its partitions over: readers finish what they read, publish it, checkpoint.
          stopWatchingRules?.()
          await started.stream?.stop()
          await started.triggerHistory?.stop()
          await rules?.close()
          await runtime.close()
        })()
        return closing
      },
    }
  } catch (err) {
    await app?.close().catch(() => {})
    await storage?.stop().catch(() => {})
    tracker?.stop()
    await hitWriter?.stop()
    stopWatchingRules?.()
    await stream?.stop().catch(() => {})
    await triggerHistory?.stop()
    await rules?.close().catch(() => {})
    await runtime.close()
    throw err
  }
}
