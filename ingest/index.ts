// The ingest tier's public door: a fastify plugin with the beacon routes and
// the publisher they share. cli/ registers it; query/ never imports it.
import type { FastifyInstance } from 'fastify'
import type { JetStreamClient } from '@nats-io/jetstream'
import { createErrorHandler, type TenantRegistry } from '../engine/index.ts'
import { BatchPublisher } from './batch-publisher.ts'
import { invalidBeacon } from './errors.ts'
import { registerMetricsRoute } from './metrics-route.ts'

export { BatchPublisher, type PublisherStats } from './batch-publisher.ts'
export { IngestErrors } from './errors.ts'

export interface IngestPluginOptions {
  tenants: TenantRegistry
  publisher: BatchPublisher
}

export async function ingestPlugin(app: FastifyInstance, options: IngestPluginOptions): Promise<void> {
  app.setErrorHandler(createErrorHandler({ validationError: (fields) => invalidBeacon(fields) }))
  registerMetricsRoute(app, options)
}

export function createPublisher(
  js: JetStreamClient,
  config: { partitions: number; publishBatchSamples: number; publishLingerMs: number; publishTimeoutMs: number }
): BatchPublisher {
  return new BatchPublisher({
    js,
    partitions: config.partitions,
    maxSamples: config.publishBatchSamples,
    lingerMs: config.publishLingerMs,
    retryBudgetMs: config.publishTimeoutMs,
  })
}
