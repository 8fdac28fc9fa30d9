// POST /api/v2/analytics/metrics: one beacon (metric name -> value, with
// optional ts and tags) or an array of them. Answers 200 only once JetStream
// holds every sample; a bad beacon anywhere in the request rejects all of it.
// When JetStream takes only part of a request, the 503 says which beacons are
// not durable; with an Idempotency-Key a retry resends exactly the rest.
import type { FastifyInstance, FastifyReply, FastifySchemaValidationError, LogLevel } from 'fastify'
import { Type } from '@sinclair/typebox'
import {
  MetricsBodySchema,
  requireRole,
  sha256Hex,
  tenantOf,
  withPublicMessage,
  type BeaconBody,
  type FieldProblem,
  type Sample,
  type TenantRegistry,
  type TidemarkHttpError,
  validatorCompiler,
} from '../engine/index.ts'
import type { BatchPublisher, PublishOutcome } from './batch-publisher.ts'
import type { TenantRateLimiter } from './rate-limiter.ts'
import { beaconsToSamples, notDurableBeacons } from './beacon-samples.ts'
import { bodyPasses } from './beacon-rules.ts'
import { MsgpackBeacons } from './msgpack-beacons.ts'
import { IngestErrors, invalidBeacon } from './errors.ts'
import { decodeDurable, encodeDurable, isValidIdempotencyKey, type IdempotencyStore } from './idempotency.ts'
import { usageHook } from './usage.ts'

/** 1,000 beacons of up to 64 metrics fit well within it. */
export const METRICS_BODY_LIMIT = 1024 * 1024

const AcceptedSchema = Type.Object({
  accepted: Type.Integer({ description: 'samples made durable (one per metric)' }),
  beacons: Type.Integer({ description: 'beacons in the request' }),
})

export interface MetricsRouteOptions {
  tenants: TenantRegistry
  publisher: BatchPublisher
  idempotency: IdempotencyStore
}

/** pino's level numbers; 'silent' is above them all. */
const LEVEL_VALUES: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity }

export function atLeastWarn(app: FastifyInstance): LogLevel {
  return (LEVEL_VALUES[app.log.level] ?? 0) >= 40 ? (app.log.level as LogLevel) : 'warn'
}

/** A body as the route holds it: beacons, or a msgpack body the fast path read (its beacons made only when asked for). */
type RouteBody = BeaconBody | BeaconBody[] | MsgpackBeacons

function beaconCount(body: RouteBody): number {
  if (body instanceof MsgpackBeacons) return body.beacons
  return Array.isArray(body) ? body.length : 1
}

function beaconsOf(body: RouteBody): BeaconBody | BeaconBody[] {
  return body instanceof MsgpackBeacons ? body.body() : body
}

function samplesOrThrow(result: Sample[] | FieldProblem[]): Sample[] {
  if (result.length > 0 && !Array.isArray(result[0])) throw invalidBeacon(result as FieldProblem[])
  return result as Sample[]
}

/** The 503 for a request JetStream took only part of: how many samples are durable, and which beacons to resend. */
function partlyDurable(body: RouteBody, outcome: PublishOutcome, receivedAt: number, keyed: boolean): TidemarkHttpError {
  const total = (outcome.notDurable as Uint8Array).length
  const advice = keyed
    ? 'retry with the same Idempotency-Key: only what is not durable is published again'
    : 'resend only the beacons in notDurable (the named metrics where some of a beacon are durable), or send an Idempotency-Key'
  const err = new IngestErrors.Unavailable(`${outcome.durable} of ${total} samples are durable; ${advice}`, { cause: outcome.error }) as TidemarkHttpError
  return withPublicMessage(err, {
    accepted: outcome.durable,
    beacons: beaconCount(body),
    // Beacons without ts were stamped with this: send it as their ts when resending them.
    receivedAt,
    notDurable: notDurableBeacons(beaconsOf(body), outcome.notDurable as Uint8Array),
  })
}

/** A refusal before anything was published (backpressure, KV unreachable): nothing of the request is durable. */
function nothingDurable(err: TidemarkHttpError, body: RouteBody): TidemarkHttpError {
  return withPublicMessage(err, { accepted: 0, beacons: beaconCount(body) })
}

/** A route that takes some body, turns it into beacons, and publishes them as the metrics route does. */
export interface BeaconRouteSpec {
  url: string
  /** The compiled schema of the body (one source in engine/model/beacon-schema.ts). */
  schema: unknown
  /** The validated body as beacons, one per item (so notDurable's indices are the body's), or the problems of the items. */
  toBeacons?: (body: unknown) => { beacons: BeaconBody | BeaconBody[] } | { problems: FieldProblem[] }
  /** The body is metric beacons: msgpack bodies may take the fast path (msgpack-beacons.ts), which only ever accepts what the schema does. */
  msgpackBeacons?: boolean
}

export function registerMetricsRoute(app: FastifyInstance, options: MetricsRouteOptions): void {
  registerBeaconRoute(app, options, { url: '/api/v2/analytics/metrics', schema: MetricsBodySchema, msgpackBeacons: true })
}

/**
 * The route's compiled schema, after a cheaper check by the schema's own rules (beacon-rules.ts): a body the
 * msgpack fast path read, or a parsed body bodyPasses clears, is valid without ajv walking it (ajv and its
 * name patterns were ~10 % of the single-beacon path's CPU). Any other body is the compiled schema's to
 * judge, with its errors.
 */
const fastPathValidator: typeof validatorCompiler = (route) => {
  const validate = validatorCompiler(route) as ((data: unknown) => boolean) & { errors?: FastifySchemaValidationError[] | null }
  if (route.httpPart !== 'body') return validate
  // fastify reads a failed validation's errors from the function, as ajv leaves them there.
  const wrapped = Object.assign(
    (data: unknown): boolean => {
      if (data instanceof MsgpackBeacons || bodyPasses(data)) return true
      const ok = validate(data)
      wrapped.errors = validate.errors
      return ok
    },
    { errors: null as FastifySchemaValidationError[] | null | undefined }
  )
  return wrapped
}

export function registerBeaconRoute(app: FastifyInstance, options: MetricsRouteOptions, spec: BeaconRouteSpec): void {
  const { publisher, idempotency } = options

  async function publishKeyed(tenant: string, key: string, body: BeaconBody | BeaconBody[], samples: Sample[], receivedAt: number, reply: FastifyReply) {
    const beacons = beaconCount(body)
    let claim
    try {
      const fresh = { digest: sha256Hex(JSON.stringify(body)), receivedAt, samples: samples.length, beacons }
      // The lease outlives the publish budget and the record write after it.
      claim = await idempotency.claim(tenant, key, fresh, 2 * publisher.retryBudgetMs + 5000)
    } catch (err) {
      const refused = new IngestErrors.Unavailable('the Idempotency-Key record could not be read; nothing was accepted, retry', { cause: err })
      throw nothingDurable(refused as TidemarkHttpError, body)
    }
    if (claim.kind === 'mismatch') throw new IngestErrors.IdempotencyKeyReused()
    if (claim.kind === 'in-progress') throw Object.assign(new IngestErrors.IdempotencyInProgress(), { retryAfterSeconds: 1 })
    if (claim.kind === 'done') {
      return reply.code(200).header('idempotent-replayed', 'true').send({ accepted: claim.record.samples, beacons: claim.record.beacons })
    }
    const { handle } = claim
    // A resumed key stamps beacons without ts with the first attempt's receive time: the same samples, the same batches.
    const first = handle.record.receivedAt
    const own = first === receivedAt ? samples : samplesOrThrow(beaconsToSamples(tenant, body, first))
    const already = decodeDurable(handle.record.durable, own.length)
    let outcome: PublishOutcome
    try {
      outcome = await publisher.publishExact(own, `i${sha256Hex(`${tenant}\n${key}`).slice(0, 24)}`, already)
    } catch (err) {
      await idempotency.settle(handle, { state: 'partial', durable: handle.record.durable })
      throw nothingDurable(err as TidemarkHttpError, body)
    }
    // What this attempt made durable (a resumed key's earlier samples were counted by the attempt that stored them).
    let counted = 0
    for (let i = 0; i < own.length; i++) if (!already[i] && !outcome.notDurable?.[i]) counted++
    publisher.usage?.add(tenant, 'samples', counted)
    if (outcome.notDurable === null) {
      await idempotency.settle(handle, { state: 'done', durable: '' })
      return reply.code(200).send({ accepted: own.length, beacons })
    }
    const durable = new Uint8Array(own.length)
    for (let i = 0; i < own.length; i++) durable[i] = outcome.notDurable[i] ? 0 : 1
    await idempotency.settle(handle, { state: 'partial', durable: encodeDurable(durable) })
    throw partlyDurable(body, outcome, first, true)
  }

  app.post(
    spec.url,
    {
      // The response schema lets fastify serialize the answer with a compiled stringifier.
      schema: { body: spec.schema, response: { 200: AcceptedSchema } },
      bodyLimit: METRICS_BODY_LIMIT,
      ...(spec.msgpackBeacons ? { config: { msgpackBeacons: true }, validatorCompiler: fastPathValidator } : {}),
      // The hot path logs no line per request at info; failures still log at error. Never lower than the app's
      // level: a route level of warn under LOG_LEVEL=silent would log anyway.
      logLevel: atLeastWarn(app),
      onRequest: requireRole(options.tenants, 'ingest'),
      // Usage of the credential: only an authenticated request has a tenant to count it for.
      onResponse: usageHook(
        () => publisher.usage,
        (request) => request.principal?.tenantId
      ),
    },
    async (request, reply) => {
      const receivedAt = Date.now()
      const key = request.headers['idempotency-key']
      // A keyed request needs the beacons themselves (the key's digest is of them); others go on from the samples read.
      if (request.body instanceof MsgpackBeacons && key !== undefined) request.body = request.body.body()
      const tenant = tenantOf(request)
      let body: RouteBody
      let samples: Sample[]
      if (request.body instanceof MsgpackBeacons) {
        body = request.body
        // A ts too far ahead is named by beaconsToSamples, as for any body.
        samples = body.stamp(tenant, receivedAt) ?? samplesOrThrow(beaconsToSamples(tenant, body.body(), receivedAt))
      } else {
        let beacons = request.body as BeaconBody | BeaconBody[]
        if (spec.toBeacons) {
          const read = spec.toBeacons(request.body)
          if ('problems' in read) throw invalidBeacon(read.problems)
          beacons = read.beacons
        }
        if (key !== undefined && (typeof key !== 'string' || !isValidIdempotencyKey(key))) throw new IngestErrors.IdempotencyKeyInvalid()
        // Validation comes first: a refused request touches neither JetStream nor the key's record.
        samples = samplesOrThrow(beaconsToSamples(tenant, beacons, receivedAt))
        body = beacons
      }
      const wait = publisher.limiter?.admit(tenant, samples.length) ?? 0
      if (wait > 0) {
        const quota = (publisher.limiter as TenantRateLimiter).quotaOf(tenant)
        throw Object.assign(new IngestErrors.RateLimited(String(quota.samplesPerSec), String(quota.burst)), { retryAfterSeconds: wait })
      }
      if (key !== undefined) return publishKeyed(tenant, key as string, body as BeaconBody | BeaconBody[], samples, receivedAt, reply)
      // Counted now: nothing after the await refers to the samples, so they are garbage once encoded, not held to the answer.
      const accepted = samples.length
      let outcome: PublishOutcome
      try {
        outcome = await publisher.publish(samples)
      } catch (err) {
        throw nothingDurable(err as TidemarkHttpError, body)
      }
      publisher.usage?.add(tenant, 'samples', outcome.durable)
      if (outcome.notDurable !== null) throw partlyDurable(body, outcome, receivedAt, false)
      return reply.code(200).send({ accepted, beacons: beaconCount(body) })
    }
  )
}
