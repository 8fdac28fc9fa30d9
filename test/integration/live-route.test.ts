// GET /api/v2/live on real parts: beacons posted through ingest (nats-server,
// storage into chDB) come back as `aggregate` events once their step closes,
// trigger history rows as `trigger` events; a reconnect with Last-Event-ID
// continues right after the last event seen (nothing twice, nothing lost);
// another tenant's figures and transitions never appear; heartbeats flow; the
// bounds answer 404, 400 and 429. The query routes run on a server of their
// own over the stack's store and tenants, with a short heartbeat and tick.
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createErrorHandler, insertTriggerEvents, notFoundHandler, toTriggerEvent, validatorCompiler, type CreatedTenant } from '../../engine/index.ts'
import { queryPlugin } from '../../query/index.ts'
import { ADMIN_TOKEN, startStack, type Stack } from '../helpers/stack.ts'

let stack: Stack
let app: FastifyInstance
let liveUrl: string
let acme: CreatedTenant
let globex: CreatedTenant
const MAX_STREAMS = 3

interface SseEvent {
  event?: string
  id?: string
  data?: any
  comment?: string
}

interface LiveClient {
  status: number
  body: any
  events: SseEvent[]
  waitFor(predicate: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>
  close(): void
}

/** A small EventSource: fetch, then split the body at blank lines (the SSE framing). */
async function openLive(query: string, tenant: CreatedTenant, lastEventId?: string): Promise<LiveClient> {
  const controller = new AbortController()
  const headers: Record<string, string> = { authorization: `Bearer ${tenant.apiKey}`, accept: 'text/event-stream' }
  if (lastEventId) headers['last-event-id'] = lastEventId
  const res = await fetch(`${liveUrl}/api/v2/live?${query}`, { headers, signal: controller.signal })
  const events: SseEvent[] = []
  const client: LiveClient = {
    status: res.status,
    body: undefined,
    events,
    async waitFor(predicate, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = events.find(predicate)
        if (found) return found
        if (Date.now() > deadline) throw new Error(`no such event within ${timeoutMs} ms; got ${JSON.stringify(events.slice(-5))}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    close: () => controller.abort(),
  }
  if (res.status !== 200) {
    client.body = await res.json()
    return client
  }
  void (async () => {
    const decoder = new TextDecoder()
    let buffer = ''
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true })
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event: SseEvent = {}
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) event.comment = line.slice(1).trim()
            else if (line.startsWith('event: ')) event.event = line.slice(7)
            else if (line.startsWith('id: ')) event.id = line.slice(4)
            else if (line.startsWith('data: ')) event.data = JSON.parse(line.slice(6))
          }
          events.push(event)
        }
      }
    } catch {
      // aborted by close()
    }
  })()
  return client
}

async function post(tenant: CreatedTenant, beacon: object): Promise<void> {
  const res = await stack.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, beacon)
  expect(res.status).toBe(200)
}

const trigger = (tenant: string, alert: string, at: number) =>
  toTriggerEvent(tenant, {
    group: 'live',
    alert,
    labels: { alertname: alert },
    annotations: {},
    state: 'firing',
    change: 'alert',
    value: 90,
    activeAt: at,
    at,
    step: 1,
    previousStep: 0,
    action: 'enable_read_replicas',
    ladder: ['enable_read_replicas'],
  })

const aggregates = (events: SseEvent[]) => events.filter((e) => e.event === 'aggregate')

beforeAll(async () => {
  stack = await startStack()
  acme = await stack.createTenant('acme')
  globex = await stack.createTenant('globex')
  app = Fastify()
  app.setValidatorCompiler(validatorCompiler)
  app.setErrorHandler(createErrorHandler())
  app.setNotFoundHandler(notFoundHandler)
  app.decorateRequest('principal', null)
  const options = {
    tenants: stack.tidemark.runtime.tenants,
    store: stack.tidemark.runtime.store!,
    adminToken: ADMIN_TOKEN,
    live: { heartbeatMs: 300, tickMs: 250, maxStreamsPerTenant: MAX_STREAMS },
  }
  await app.register(async (scope) => queryPlugin(scope, options))
  await app.listen({ port: 0, host: '127.0.0.1' })
  liveUrl = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  // The metrics exist before a stream asks for them (a name never sent is a 404).
  await post(acme, { page_views: 1, load_time: 1, ts: Date.now() - 3_600_000 })
  await post(globex, { page_views: 1, ts: Date.now() - 3_600_000 })
  await stack.waitForRows(acme.id, 2)
  await stack.waitForRows(globex.id, 1)
}, 30_000)

afterAll(async () => {
  // Closing must end open streams itself, or this would wait for them forever.
  await app?.close()
  await stack?.stop()
})

it('streams closed steps and transitions, resumes after Last-Event-ID, and never shows another tenant\'s', async () => {
  const first = await openLive('metric=page_views&metric=load_time&step=1', acme)
  expect(first.status).toBe(200)
  const theirs = await openLive('metric=page_views&step=1', globex)
  // The first event is the last closed step, with every metric asked.
  const opening = await first.waitFor((e) => e.event === 'aggregate')
  expect(Object.keys(opening.data.metrics).sort()).toEqual(['load_time', 'page_views'])

  await post(acme, { page_views: 5, load_time: 120 })
  await post(globex, { page_views: 1000 })
  const store = stack.tidemark.runtime.store!
  const mine = trigger(acme.id, 'HighCpu', Date.now())
  const other = trigger(globex.id, 'HighCpu', Date.now())
  await insertTriggerEvents(store, [mine, other])

  const five = await first.waitFor((e) => e.event === 'aggregate' && e.data.metrics.page_views.sum === 5)
  expect(five.data.metrics.load_time).toMatchObject({ count: 1, sum: 120, avg: 120, min: 120, max: 120 })
  expect((await first.waitFor((e) => e.event === 'trigger')).data).toMatchObject({ id: mine.id, rule: 'HighCpu', state: 'firing', action: 'enable_read_replicas' })
  await theirs.waitFor((e) => e.event === 'aggregate' && e.data.metrics.page_views.sum === 1000)
  await theirs.waitFor((e) => e.event === 'trigger' && e.data.id === other.id)
  expect(first.events.some((e) => e.comment === 'heartbeat')).toBe(true)
  first.close()
  theirs.close()

  const seen = aggregates(first.events)
  // Steps arrive once each, in order, without a gap.
  for (let i = 1; i < seen.length; i++) expect(seen[i]!.data.t - seen[i - 1]!.data.t).toBe(1000)
  const last = first.events.filter((e) => e.id).at(-1)!
  const lastT = seen.at(-1)!.data.t

  // While nobody listens: a beacon and a transition.
  await post(acme, { page_views: 7 })
  const later = trigger(acme.id, 'SlowResponses', Date.now())
  await insertTriggerEvents(store, [later])
  await new Promise((r) => setTimeout(r, 1500))

  const resumed = await openLive('metric=page_views&metric=load_time&step=1', acme, last.id)
  expect(resumed.status).toBe(200)
  await resumed.waitFor((e) => e.event === 'aggregate' && e.data.metrics.page_views.sum === 7)
  await resumed.waitFor((e) => e.event === 'trigger' && e.data.id === later.id)
  resumed.close()
  const again = aggregates(resumed.events)
  // It continues right after the last step seen: no repeat, no gap.
  expect(again[0]!.data.t).toBe(lastT + 1000)
  for (let i = 1; i < again.length; i++) expect(again[i]!.data.t - again[i - 1]!.data.t).toBe(1000)
  // The transition seen before is not sent again.
  expect(resumed.events.filter((e) => e.event === 'trigger').map((e) => e.data.id)).toEqual([later.id])

  // Nothing of globex's ever reached acme's streams.
  for (const e of [...first.events, ...resumed.events]) {
    if (e.event === 'aggregate') expect(e.data.metrics.page_views.sum).not.toBe(1000)
    if (e.event === 'trigger') expect(e.data.id).not.toBe(other.id)
  }
}, 60_000)

it('answers a metric never sent with 404, a bad Last-Event-ID with 400, and a tenant past its streams with 429', async () => {
  const unknown = await openLive('metric=page_veiws', acme)
  expect(unknown.status).toBe(404)
  expect(unknown.body).toMatchObject({ code: 'TM_QUERY_METRIC_UNKNOWN', message: expect.stringContaining('page_veiws') })
  const badId = await openLive('metric=page_views', acme, "1' OR 1=1")
  expect(badId.status).toBe(400)
  expect(badId.body.message).toMatch(/Last-Event-ID/)

  const held = await Promise.all(Array.from({ length: MAX_STREAMS }, () => openLive('step=60', acme)))
  expect(held.map((c) => c.status)).toEqual(Array(MAX_STREAMS).fill(200))
  const refused = await openLive('step=60', acme)
  expect(refused.status).toBe(429)
  expect(refused.body.code).toBe('TM_QUERY_LIVE_TOO_MANY_STREAMS')
  // The bound is per tenant: globex still gets one.
  const other = await openLive('step=60', globex)
  expect(other.status).toBe(200)
  other.close()
  // A closed stream frees its place.
  held[0]!.close()
  const deadline = Date.now() + 5000
  let reopened = await openLive('step=60', acme)
  while (reopened.status === 429 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
    reopened = await openLive('step=60', acme)
  }
  expect(reopened.status).toBe(200)
  for (const c of [...held, reopened]) c.close()
})
