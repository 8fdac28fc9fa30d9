// The ingest tier's public door: a fastify plugin with the beacon routes and
// the publisher they share. cli/ registers it; query/ never imports it.
import type { FastifyInstance } from 'fastify'
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstream } from '@nats-io/jetstream'
import { createErrorHandler, defaultQuota, SiteRegistry, TenantQuotas, VisitorSalts, type Logger, type TenantRegistry } from '../engine/index.ts'
import { BatchPublisher } from './batch-publisher.ts'
import { beaconBodyParsers } from './body-formats.ts'
import { invalidBeacon } from './errors.ts'
import { IdempotencyStore } from './idempotency.ts'
import { registerCacheRoute } from './cache-route.ts'
import { registerMetricsRoute } from './metrics-route.ts'
import { TenantRateLimiter } from './rate-limiter.ts'
import { IngestUsage } from './usage.ts'
import { registerTrackerRoutes, type TrackerOptions } from './tracker-route.ts'

export { BatchPublisher, type PublisherStats, type PublishOutcome } from './batch-publisher.ts'
export { IngestErrors } from './errors.ts'
export { IdempotencyStore } from './idempotency.ts'
export { TRACKER_SCRIPT, type TrackerOptions } from './tracker-route.ts'

export interface IngestPluginOptions {
  tenants: TenantRegistry
  publisher: BatchPublisher
  /** The browser tracker's sites, salts and JetStream: GET /t.js and POST /api/v2/beacon are served when given. */
  tracker?: TrackerOptions
}

export async function ingestPlugin(app: FastifyInstance, options: IngestPluginOptions): Promise<void> {
  app.setErrorHandler(createErrorHandler({ validationError: (fields) => invalidBeacon(fields) }))
  beaconBodyParsers(app)
  const routeOptions = { ...options, idempotency: options.publisher.idempotency }
  registerMetricsRoute(app, routeOptions)
  registerCacheRoute(app, routeOptions)
  if (options.tracker) registerTrackerRoutes(app, options.publisher, options.tracker)
}

/** What the tracker routes need: the sites, followed from now on (stop() them at close), and the shared daily salts. */
export async function createTracker(nc: NatsConnection, log?: Logger): Promise<TrackerOptions & { stop(): void }> {
  const sites = await SiteRegistry.open(nc)
  sites.follow(nc, log)
  return { sites, salts: new VisitorSalts(nc), js: jetstream(nc), stop: () => sites.stop() }
}

export function createPublisher(
  nc: NatsConnection,
  config: { partitions: number; publishBatchSamples: number; publishInFlight?: number; publishTimeoutMs: number; quotaSamplesPerSec: number; quotaBurst: number; usageIntervalMs?: number },
  log?: Logger
): BatchPublisher {
  const js = jetstream(nc)
  const idempotency = new IdempotencyStore(nc, { log })
  // Opened now so the first keyed request does not pay for it; a failure here is retried by that request.
  idempotency.bucket().catch(() => {})
  // Quotas per tenant from the tenants bucket, watched for changes; the configured default for the rest.
  const quotas = new TenantQuotas(defaultQuota(config))
  quotas.watch(nc, log)
  const publisher = new BatchPublisher({
    limiter: new TenantRateLimiter(quotas),
    usage: new IngestUsage(),
    ...(config.usageIntervalMs === undefined ? {} : { usageIntervalMs: config.usageIntervalMs }),
    js,
    partitions: config.partitions,
    maxSamples: config.publishBatchSamples,
    maxInFlight: config.publishInFlight,
    retryBudgetMs: config.publishTimeoutMs,
    maxPayload: () => nc.info?.max_payload,
    idempotency,
  })
  // The status iterator ends when the connection closes.
  void (async () => {
    for await (const status of nc.status()) if (status.type === 'reconnect') publisher.connectionRestored()
  })().catch(() => {})
  return publisher
}
