// GET /api/v2/live: Server-Sent Events with the tenant's new figures as they
// settle. `?metric=a&metric=b&step=60` asks for those metrics' figures of
// each step once it has closed (event `aggregate`, one per step with every
// metric asked), and every trigger transition of the tenant (event
// `trigger`), read from ClickHouse's trigger history (trigger_events): the
// query tier holds no NATS connection of its own to follow TM_TRIGGERS with,
// and history is where every transition lands.
//
// Every event's id is the stream's position: `<step start>.<trigger insert
// time>.<trigger id>`, both in epoch ms. A client that reconnects with
// Last-Event-ID (browsers' EventSource do by themselves) continues from there:
// steps after that one and transitions stored after that one, nothing twice
// and nothing skipped (catch-up is bounded: at most MAX_CATCH_UP_STEPS steps).
// A step counts as closed SETTLE_MS after its end, so samples sent during it
// have been stored (storage lingers 500 ms by default); a sample stamped with
// an older time than that, arriving later, is in the aggregate route's answer
// but not in an event already sent. Transitions are read up to SETTLE_MS ago
// for the same reason: an insert still under way then lands behind the position.
//
// A comment every 15 s keeps the socket from looking idle (the HTTP server
// closes sockets silent for 60 s); each tenant holds at most
// MAX_STREAMS_PER_TENANT streams in one process.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ServerResponse } from 'node:http'
import { Type, type Static } from '@sinclair/typebox'
import { METRIC_NAME_PATTERN, requireRole, tenantOf, type ClickHouseStore, type TenantRegistry } from '../engine/index.ts'
import { readBuckets, requireKnownMetrics } from './bucket-query.ts'
import { QueryErrors } from './errors.ts'
import type { LiveAggregate, LiveTrigger } from './read-contract.ts'
import { MAX_INSTANT_MS } from './time-range.ts'
import { readTriggerEvents, type TriggerPosition } from './trigger-events.ts'

export const MAX_STREAMS_PER_TENANT = 20
export const MAX_LIVE_METRICS = 16
/** A step closes this long after its end: storage has had time to write what was sent during it. */
export const SETTLE_MS = 3000
/** Steps one tick sends at most, a reconnect's catch-up included. */
export const MAX_CATCH_UP_STEPS = 1000
/** Transitions one tick sends at most; the rest come at the next tick, a moment later. */
const TRIGGERS_PER_TICK = 200

export interface LiveOptions {
  /** Comment lines at this interval; default 15 s (the server closes sockets idle for 60 s). */
  heartbeatMs?: number
  /** How often a stream looks for new figures; default min(step, 5 s), at least 1 s. */
  tickMs?: number
  maxStreamsPerTenant?: number
}

export const LiveQuerySchema = Type.Object(
  {
    metric: Type.Optional(
      Type.Union([Type.String({ pattern: METRIC_NAME_PATTERN }), Type.Array(Type.String({ pattern: METRIC_NAME_PATTERN }), { maxItems: MAX_LIVE_METRICS })], {
        description: 'a metric name, repeated',
      })
    ),
    step: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400, description: 'step width in seconds (default 60)' })),
  },
  { additionalProperties: false }
)

export interface LivePosition {
  /** Start of the last step sent, epoch ms. */
  stepMs: number
  triggers: TriggerPosition
}

const EVENT_ID = /^(\d{1,16})\.(\d{1,16})\.([0-9a-f]{32}|-)$/

export function encodeEventId(p: LivePosition): string {
  return `${p.stepMs}.${p.triggers.insertedMs}.${p.triggers.id || '-'}`
}

export function decodeEventId(text: string): LivePosition {
  const m = EVENT_ID.exec(text)
  if (!m || Number(m[1]) > MAX_INSTANT_MS || Number(m[2]) > MAX_INSTANT_MS) {
    throw new QueryErrors.InvalidQuery(`Last-Event-ID must be an id this stream sent, like 1795000000000.1795000000000.- (got ${JSON.stringify(text.slice(0, 80))})`)
  }
  return { stepMs: Number(m[1]), triggers: { insertedMs: Number(m[2]), id: m[3] === '-' ? '' : m[3]! } }
}

/** Start of the newest step that has closed and settled at `now`. */
export function lastClosedStep(now: number, stepMs: number): number {
  return Math.floor((now - SETTLE_MS) / stepMs) * stepMs - stepMs
}

const measures = [
  { name: 'count', raw: 'count()', rollup: 'sum(count)' },
  { name: 'sum', raw: 'sum(value)', rollup: 'sum(sum)' },
  { name: 'min', raw: 'min(value)', rollup: 'min(min)' },
  { name: 'max', raw: 'max(value)', rollup: 'max(max)' },
]

/** The figures of each step in (after, upTo], every metric present (count 0 in a step without samples). */
async function closedSteps(store: ClickHouseStore, tenant: string, metrics: readonly string[], stepS: number, after: number, upTo: number): Promise<LiveAggregate[]> {
  const stepMs = stepS * 1000
  const fromMs = Math.max(after + stepMs, upTo - (MAX_CATCH_UP_STEPS - 1) * stepMs)
  const toMs = upTo + stepMs
  const points = (toMs - fromMs) / stepMs
  const { rows } = await readBuckets(store, tenant, { fromMs, toMs, stepS, points }, { metrics, measures, groupBy: { metric: true } })
  const steps: LiveAggregate[] = []
  for (let t = fromMs; t < toMs; t += stepMs) {
    const figures: LiveAggregate['metrics'] = {}
    for (const m of metrics) figures[m] = { count: 0, sum: null, avg: null, min: null, max: null }
    steps.push({ step: stepS, t, metrics: figures })
  }
  for (const row of rows) {
    if (row.grp === null || row.bucket === null) continue
    const count = Number(row.count)
    const sum = Number(row.sum)
    steps[(row.bucket - fromMs) / stepMs]!.metrics[row.grp] = { count, sum, avg: count > 0 ? sum / count : null, min: Number(row.min), max: Number(row.max) }
  }
  return steps
}

function write(raw: ServerResponse, event: string, id: string, data: unknown): void {
  raw.write(`event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`)
}

export function registerLiveRoute(app: FastifyInstance, options: { tenants: TenantRegistry; store: ClickHouseStore; live?: LiveOptions }): void {
  const heartbeatMs = options.live?.heartbeatMs ?? 15_000
  const maxPerTenant = options.live?.maxStreamsPerTenant ?? MAX_STREAMS_PER_TENANT
  const open = new Map<string, number>()
  const streams = new Set<() => void>()
  // Streams never end by themselves: close them before the server waits for its connections to finish.
  app.addHook('preClose', async () => {
    for (const stop of [...streams]) stop()
  })

  app.get('/api/v2/live', { schema: { querystring: LiveQuerySchema }, onRequest: requireRole(options.tenants, 'read') }, async (request: FastifyRequest, reply: FastifyReply) => {
    const query = request.query as Static<typeof LiveQuerySchema>
    const tenant = tenantOf(request)
    const metrics = [...new Set(query.metric === undefined ? [] : Array.isArray(query.metric) ? query.metric : [query.metric])]
    const stepS = query.step ?? 60
    const stepMs = stepS * 1000
    const lastEventId = request.headers['last-event-id']
    const now = Date.now()
    const resumed = typeof lastEventId === 'string' && lastEventId !== '' ? decodeEventId(lastEventId) : undefined
    // A new stream starts with the last closed step and with transitions stored from now on.
    const position: LivePosition = resumed
      ? { stepMs: Math.floor(resumed.stepMs / stepMs) * stepMs, triggers: resumed.triggers }
      : { stepMs: lastClosedStep(now, stepMs) - stepMs, triggers: { insertedMs: now - SETTLE_MS, id: '' } }
    if (metrics.length > 0) await requireKnownMetrics(options.store, tenant, metrics)
    const held = open.get(tenant) ?? 0
    if (held >= maxPerTenant) throw new QueryErrors.TooManyLiveStreams(String(held))
    open.set(tenant, held + 1)

    reply.hijack()
    const raw = reply.raw
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    // Tells EventSource how long to wait before reconnecting, and gets the headers out at once.
    raw.write('retry: 2000\n: tidemark live\n\n')

    let stopped = false
    let timer: NodeJS.Timeout | undefined
    const heartbeat = setInterval(() => raw.write(': heartbeat\n\n'), heartbeatMs)
    const stop = (): void => {
      if (stopped) return
      stopped = true
      clearTimeout(timer)
      clearInterval(heartbeat)
      streams.delete(stop)
      open.set(tenant, (open.get(tenant) ?? 1) - 1)
      if (open.get(tenant) === 0) open.delete(tenant)
      raw.end()
    }
    streams.add(stop)
    // The response's close: the client went away (the request's own close fires once a GET is read, on Node 20).
    raw.on('close', stop)

    const tickMs = options.live?.tickMs ?? Math.max(1000, Math.min(stepMs, 5000))
    const tick = async (): Promise<void> => {
      const upTo = lastClosedStep(Date.now(), stepMs)
      if (metrics.length > 0 && upTo > position.stepMs) {
        for (const step of await closedSteps(options.store, tenant, metrics, stepS, position.stepMs, upTo)) {
          if (stopped) return
          position.stepMs = step.t
          write(raw, 'aggregate', encodeEventId(position), step)
        }
      }
      const events = await readTriggerEvents(options.store, tenant, {
        fromMs: 0,
        toMs: MAX_INSTANT_MS,
        after: position.triggers,
        insertedBeforeMs: Date.now() - SETTLE_MS,
        limit: TRIGGERS_PER_TICK,
        order: 'oldest',
      })
      for (const { position: at, ...event } of events) {
        if (stopped) return
        position.triggers = at
        write(raw, 'trigger', encodeEventId(position), event satisfies LiveTrigger)
      }
    }
    const loop = async (): Promise<void> => {
      if (stopped) return
      try {
        await tick()
      } catch (err) {
        // Storage down or busy: the stream stays, says so, and the next tick tries again from the same position.
        request.log.warn({ err, tenant }, 'live: a tick failed')
        const code = (err as { code?: string }).code ?? 'TM_QUERY_STORAGE_UNAVAILABLE'
        if (!stopped) raw.write(`event: problem\ndata: ${JSON.stringify({ code, message: 'storage did not answer; retrying' })}\n\n`)
      }
      if (!stopped) timer = setTimeout(() => void loop(), tickMs)
    }
    void loop()
  })
}
