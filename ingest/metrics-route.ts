// POST /api/v2/analytics/metrics: one beacon (metric name -> value, with
// optional ts and tags) or an array of them. Answers 200 only once JetStream
// holds every sample; a bad beacon anywhere in the request rejects all of it.
import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import {
  MAX_FUTURE_SKEW_MS,
  MetricsBodySchema,
  requireRole,
  tenantOf,
  type BeaconBody,
  type FieldProblem,
  type Sample,
  type TenantRegistry,
} from '../engine/index.ts'
import type { BatchPublisher } from './batch-publisher.ts'
import { invalidBeacon } from './errors.ts'

/** 1,000 beacons of up to 64 metrics fit well within it. */
export const METRICS_BODY_LIMIT = 1024 * 1024

const AcceptedSchema = Type.Object({
  accepted: Type.Integer({ description: 'samples made durable (one per metric)' }),
  beacons: Type.Integer({ description: 'beacons in the request' }),
})

export interface MetricsRouteOptions {
  tenants: TenantRegistry
  publisher: BatchPublisher
}

/** Turns validated beacons into samples; returns the problems instead if any beacon is unusable. */
export function beaconsToSamples(tenant: string, body: BeaconBody | BeaconBody[], receivedAt: number): Sample[] | FieldProblem[] {
  const beacons = Array.isArray(body) ? body : [body]
  const samples: Sample[] = []
  const problems: FieldProblem[] = []
  for (let i = 0; i < beacons.length; i++) {
    const beacon = beacons[i] as BeaconBody
    const at = Array.isArray(body) ? `[${i}]` : ''
    let ts = receivedAt
    if (beacon.ts !== undefined) {
      ts = typeof beacon.ts === 'number' ? beacon.ts : Date.parse(beacon.ts)
      if (!(ts <= receivedAt + MAX_FUTURE_SKEW_MS)) {
        problems.push({ field: at ? `${at}.ts` : 'ts', problem: `must not be more than ${MAX_FUTURE_SKEW_MS / 60_000} minutes in the future` })
      }
    }
    const tags = beacon.tags && Object.keys(beacon.tags).length > 0 ? beacon.tags : null
    let metrics = 0
    for (const name in beacon) {
      if (name === 'ts' || name === 'tags') continue
      samples.push([tenant, name, ts, beacon[name] as number, tags, receivedAt])
      metrics++
    }
    if (metrics === 0) problems.push({ field: at || '(body)', problem: 'has no metric: send at least one name -> number pair besides ts and tags' })
  }
  return problems.length > 0 ? problems : samples
}

export function registerMetricsRoute(app: FastifyInstance, options: MetricsRouteOptions): void {
  app.post(
    '/api/v2/analytics/metrics',
    {
      // The response schema lets fastify serialize the answer with a compiled stringifier.
      schema: { body: MetricsBodySchema, response: { 200: AcceptedSchema } },
      bodyLimit: METRICS_BODY_LIMIT,
      // The hot path logs no line per request at info; failures still log at error.
      logLevel: 'warn',
      onRequest: requireRole(options.tenants, 'ingest'),
    },
    async (request, reply) => {
      const receivedAt = Date.now()
      const body = request.body as BeaconBody | BeaconBody[]
      const result = beaconsToSamples(tenantOf(request), body, receivedAt)
      if (result.length > 0 && !Array.isArray(result[0])) throw invalidBeacon(result as FieldProblem[])
      const samples = result as Sample[]
      await options.publisher.publish(samples)
      return reply.code(200).send({ accepted: samples.length, beacons: Array.isArray(body) ? body.length : 1 })
    }
  )
}
