// The browser tracker: GET /t.js (the script, under 1 KB gzipped) and
// POST /api/v2/beacon (what it sends). The script carries no secret, so the
// beacon route trusts nothing but the site id and the browser's Origin: the
// site must exist and list the page's host among its domains, and a beacon can
// only write that site's pageviews and events (to TM_HITS, never a metric).
// Its tenant's rate limit applies. The answer is 204 only once JetStream holds
// the hit, as on every ingest route. The client's IP and User-Agent become the
// day's visitor ids here (engine/tracker/visitor-salts.ts) and go no further:
// this route logs no request line and its error lines carry no address.
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import zlib from 'node:zlib'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { JetStreamClient } from '@nats-io/jetstream'
import {
  bodyParsers,
  hitSubject,
  retryWithBackoff,
  siteServes,
  strictJsonParser,
  TRACKER_BODY_LIMIT,
  TrackerBeaconSchema,
  UTM_FIELDS,
  visitorId,
  type FieldProblem,
  type Hit,
  type Site,
  type SiteRegistry,
  type TrackerBeacon,
  type VisitorSalts,
} from '../engine/index.ts'
import type { BatchPublisher } from './batch-publisher.ts'
import { IngestErrors, invalidBeacon } from './errors.ts'
import { atLeastWarn } from './metrics-route.ts'
import { usageHook } from './usage.ts'

export const TRACKER_SCRIPT_PATH = '/t.js'
export const TRACKER_BEACON_PATH = '/api/v2/beacon'

/**
 * The script as served: ingest/tracker/t.js without its comment lines and indentation (lines are kept,
 * so automatic semicolon insertion reads it as written). The test holds it to 1 KB gzipped.
 */
export const TRACKER_SCRIPT = fs
  .readFileSync(new URL('./tracker/t.js', import.meta.url), 'utf8')
  .split('\n')
  .filter((line) => !/^\s*\/\//.test(line))
  .map((line) => line.trim())
  .filter((line) => line !== '')
  .join('\n')
const TRACKER_SCRIPT_GZIP = zlib.gzipSync(TRACKER_SCRIPT, { level: 9 })

export interface TrackerOptions {
  sites: SiteRegistry
  salts: VisitorSalts
  js: JetStreamClient
}

/** The problems the schema cannot say: an event needs a name, a pageview carries none. */
export function beaconProblems(beacon: TrackerBeacon): FieldProblem[] {
  if (beacon.kind === 'event') return beacon.name === undefined ? [{ field: 'name', problem: 'is required for an event' }] : []
  const problems: FieldProblem[] = []
  if (beacon.name !== undefined) problems.push({ field: 'name', problem: 'belongs to an event: a pageview has no name' })
  if (beacon.props !== undefined) problems.push({ field: 'props', problem: 'belong to an event: a pageview has no props' })
  return problems
}

/** The hit a validated beacon becomes: visitor ids in place of the address and User-Agent, which it does not hold. */
export function hitOf(beacon: TrackerBeacon, site: Site, client: { ip: string; userAgent: string; salt: string }, ts: number): Hit {
  const utm = {} as Hit['utm']
  for (const field of UTM_FIELDS) utm[field] = beacon.utm?.[field] ?? ''
  const props: Record<string, string> = {}
  for (const [k, v] of Object.entries(beacon.props ?? {})) props[k] = String(v)
  return {
    id: randomBytes(16).toString('hex'),
    tenant: site.tenant,
    site: site.id,
    kind: beacon.kind,
    ts,
    visitor: visitorId(client.salt, site.id, client.ip, client.userAgent),
    tenantVisitor: visitorId(client.salt, site.tenant, client.ip, client.userAgent),
    path: beacon.path,
    referrer: beacon.referrer ?? '',
    utm,
    screen: beacon.screen ?? '',
    name: beacon.name ?? '',
    props,
  }
}

/** The Origin a browser sent, parsed; undefined for none, `null` (a sandboxed or file page) or one that is not a URL. */
function originOf(request: FastifyRequest): URL | undefined {
  const origin = request.headers.origin
  if (typeof origin !== 'string' || origin === 'null') return undefined
  try {
    return new URL(origin)
  } catch {
    return undefined
  }
}

/** The tenant a tracker request was found to write for, for its usage. */
const tenantOfRequest = new WeakMap<FastifyRequest, string>()

/** Never the address: the request's method and URL only. */
const logSerializers = { req: (req: { method?: string; url?: string }) => ({ method: req.method, url: req.url }) }

export function registerTrackerRoutes(app: FastifyInstance, publisher: BatchPublisher, options: TrackerOptions): void {
  app.get(TRACKER_SCRIPT_PATH, { logLevel: atLeastWarn(app), logSerializers }, async (request, reply) => {
    reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').header('vary', 'Accept-Encoding')
    // Any page may load it: it is the same for everyone and holds nothing.
    reply.header('access-control-allow-origin', '*').header('cross-origin-resource-policy', 'cross-origin')
    if (/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) return reply.header('content-encoding', 'gzip').send(TRACKER_SCRIPT_GZIP)
    return reply.send(TRACKER_SCRIPT)
  })

  // A page that sends application/json (the script itself sends text/plain, which needs none) asks first.
  app.options(TRACKER_BEACON_PATH, { logLevel: atLeastWarn(app), logSerializers }, async (request, reply) => {
    const origin = originOf(request)
    reply.header('vary', 'Origin')
    if (!origin) throw new IngestErrors.OriginMissing()
    // Which site the beacon is for is in the body, not here: the POST itself checks the Origin against it.
    return reply
      .code(204)
      .header('access-control-allow-origin', origin.origin)
      .header('access-control-allow-methods', 'POST')
      .header('access-control-allow-headers', 'content-type')
      .header('access-control-max-age', '86400')
      .send()
  })

  app.register(async (scope) => {
    // sendBeacon sends a string as text/plain;charset=UTF-8: read it as the JSON it is.
    const parseJson = strictJsonParser(scope)
    bodyParsers(scope, { 'text/plain': (request, body) => parseJson(request, body.toString('utf8')) })
    scope.post(
      TRACKER_BEACON_PATH,
      {
        schema: { body: TrackerBeaconSchema },
        bodyLimit: TRACKER_BODY_LIMIT,
        logLevel: atLeastWarn(app),
        logSerializers,
        // Before the body is read: a request no browser page sent is refused without reading it.
        onRequest: async (request) => {
          if (!originOf(request)) throw new IngestErrors.OriginMissing()
        },
        onResponse: usageHook(
          () => publisher.usage,
          (request) => tenantOfRequest.get(request)
        ),
      },
      async (request: FastifyRequest, reply: FastifyReply) => {
        const ts = Date.now()
        const beacon = request.body as TrackerBeacon
        const problems = beaconProblems(beacon)
        if (problems.length > 0) throw invalidBeacon(problems)
        const site = await options.sites.lookup(beacon.site)
        if (!site) throw new IngestErrors.SiteUnknown(beacon.site)
        const origin = originOf(request) as URL
        if (!siteServes(site, origin.hostname)) throw new IngestErrors.OriginNotAllowed(origin.origin, site.id)
        tenantOfRequest.set(request, site.tenant)
        // From here the page is the site's: it may read the answer.
        reply.header('access-control-allow-origin', origin.origin).header('vary', 'Origin')
        const wait = publisher.limiter?.admit(site.tenant, 1) ?? 0
        if (wait > 0) {
          const quota = publisher.limiter!.quotaOf(site.tenant)
          throw Object.assign(new IngestErrors.RateLimited(String(quota.samplesPerSec), String(quota.burst)), { retryAfterSeconds: wait })
        }
        let salt: string
        try {
          salt = await options.salts.saltFor(ts)
        } catch (err) {
          throw new IngestErrors.Unavailable("the day's visitor salt could not be read from NATS; nothing was stored, retry", { cause: err })
        }
        const hit = hitOf(beacon, site, { ip: request.ip, userAgent: String(request.headers['user-agent'] ?? ''), salt }, ts)
        const deadline = Date.now() + publisher.retryBudgetMs
        try {
          // The hit's id is the message id: a retry that did land the first time is dropped by JetStream.
          await retryWithBackoff(() => options.js.publish(hitSubject(site.tenant), JSON.stringify(hit), { msgID: hit.id, timeout: Math.max(100, Math.min(5000, deadline - Date.now())) }), {
            baseMs: 100,
            maxMs: 2000,
            deadline,
          })
        } catch (err) {
          throw new IngestErrors.Unavailable('the hit is not durable; nothing was stored, retry', { cause: err })
        }
        return reply.code(204).send()
      }
    )
  })
}
