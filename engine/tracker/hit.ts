// What the browser tracker sends (one schema source: ingest compiles it, the
// docs and tests read it), and the hit ingest makes of it for TM_HITS: the
// visitor already hashed, the client's address and User-Agent gone.
import { Type, type Static } from '@sinclair/typebox'
import { SITE_ID_PATTERN } from '../tenancy/site-registry.ts'

/** The most a tracker beacon may weigh: a bigger one is 413. */
export const TRACKER_BODY_LIMIT = 1024
export const SCREEN_CLASSES = ['mobile', 'tablet', 'laptop', 'desktop'] as const
export const UTM_FIELDS = ['source', 'medium', 'campaign', 'term', 'content'] as const
export const MAX_EVENT_PROPS = 20
export const EVENT_NAME_PATTERN = '^[A-Za-z0-9_.:-]{1,64}$'

const Utm = Type.Object(Object.fromEntries(UTM_FIELDS.map((f) => [f, Type.Optional(Type.String({ maxLength: 100 }))])), {
  additionalProperties: false,
  description: 'the page URL\'s utm_* parameters',
})

export const TrackerBeaconSchema = Type.Object(
  {
    site: Type.String({ pattern: SITE_ID_PATTERN, description: 'the public site id (s_ and 12 hex digits)' }),
    kind: Type.Union([Type.Literal('pageview'), Type.Literal('event')]),
    path: Type.String({ pattern: '^/', maxLength: 512, description: "the page's path, starting with /" }),
    referrer: Type.Optional(Type.String({ maxLength: 512 })),
    utm: Type.Optional(Utm),
    screen: Type.Optional(Type.Union(SCREEN_CLASSES.map((c) => Type.Literal(c)), { description: SCREEN_CLASSES.join(', ') })),
    name: Type.Optional(Type.String({ pattern: EVENT_NAME_PATTERN, description: 'an event name (events only)' })),
    props: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }), Type.Union([Type.String({ maxLength: 200 }), Type.Number(), Type.Boolean()]), {
        maxProperties: MAX_EVENT_PROPS,
        additionalProperties: false,
        description: 'string, number or boolean values (events only)',
      })
    ),
  },
  { additionalProperties: false }
)

export type TrackerBeacon = Static<typeof TrackerBeaconSchema>

/** One pageview or event as published to `tm.hits.<tenant>` and stored in pageviews or events. */
export interface Hit {
  /** Random, 32 hex digits: the publish's message id and the row's id (a redelivery collapses on it). */
  id: string
  tenant: string
  site: string
  kind: 'pageview' | 'event'
  /** Receive time, epoch ms. */
  ts: number
  /** hash(day's salt, site, IP, User-Agent): the site's visitor. */
  visitor: string
  /** hash(day's salt, tenant, IP, User-Agent): the same person across the tenant's sites, counted once in totals. */
  tenantVisitor: string
  path: string
  referrer: string
  utm: Record<(typeof UTM_FIELDS)[number], string>
  screen: string
  name: string
  props: Record<string, string>
}
