// The ingest tier's public door: a fastify plugin with the beacon routes and
// the publisher they share. cli/ registers it; query/ never imports it.
import type { FastifyInstance } from 'fastify'
import type { NatsConnection } from '@nats-io/transport-node'
import type { JetStreamClient } from '@nats-io/jetstream'
import { createErrorHandler, jsonBodyParser, type Logger, type TenantRegistry } from '../engine/index.ts'
import { BatchPublisher } from './batch-publisher.ts'
import { invalidBeacon } from './errors.ts'
import { IdempotencyStore } from './idempotency.ts'
import { registerMetricsRoute } from './metrics-route.ts'

export { BatchPublisher, type PublisherStats, type PublishOutcome } from './batch-publisher.ts'
export { IngestErrors } from './errors.ts'
export { IdempotencyStore } from './idempotency.ts'
export { IDEMPOTENCY_BUCKET, IDEMPOTENCY_TTL_MS } from './nats-names.ts'

export interface IngestPluginOptions {
  tenants: TenantRegistry
  publisher: BatchPublisher
}

export async function ingestPlugin(app: FastifyInstance, options: IngestPluginOptions): Promise<void> {
  app.setErrorHandler(createErrorHandler({ validationError: (fields) => invalidBeacon(fields) }))
  jsonBodyParser(app)
  registerMetricsRoute(app, { ...options, idempotency: options.publisher.idempotency })
}

/** The connection under a JetStream client: nats.js keeps it as `nc` without typing it. */
function connectionOf(js: JetStreamClient): NatsConnection | undefined {
  return (js as unknown as { nc?: NatsConnection }).nc
}

export function createPublisher(
  js: JetStreamClient,
  config: { partitions: number; publishBatchSamples: number; publishLingerMs: number; publishTimeoutMs: number; streamReplicas: number },
  log?: Logger
): BatchPublisher {
  const idempotency = new IdempotencyStore(js, { replicas: config.streamReplicas, log })
  // Opened now so the first keyed request does not pay for it; a failure here is retried by that request.
  idempotency.bucket().catch(() => {})
  const nc = connectionOf(js)
  const publisher = new BatchPublisher({
    js,
    partitions: config.partitions,
    maxSamples: config.publishBatchSamples,
    lingerMs: config.publishLingerMs,
    retryBudgetMs: config.publishTimeoutMs,
    maxPayload: () => nc?.info?.max_payload,
    idempotency,
  })
  // The status iterator ends when the connection closes.
  if (nc) {
    void (async () => {
      for await (const status of nc.status()) if (status.type === 'reconnect') publisher.connectionRestored()
    })().catch(() => {})
  }
  return publisher
}
