// What rules and triggers need on NATS, per user, for engine/nats/nats-permissions.ts
// (the owner of the role lists) and for a deployment's autoscaler users. Each
// list is the least that worked against nats-server 2.9.10 with NATS.js v3:
// test/integration/trigger-permissions.test.ts runs the rule store, the
// publisher and examples/autoscaler as users holding only these and fails on
// any violation in the server's log.
import type { NatsPermissions } from '../nats/nats-permissions.ts'
import { RULES_BUCKET } from './rule-store.ts'
import { tenantTriggerSubjects } from './trigger-event.ts'
import { TRIGGERS_STREAM } from './trigger-stream.ts'

const API = '$JS.API'
const RULES_STREAM = `KV_${RULES_BUCKET}`

/**
 * Holding every tenant's rules and following changes: the bucket's info (to
 * bind it), direct gets, and the ordered push consumers behind `watch` and
 * `keys` (created by name, their info read, flow control answered). The
 * server drops those consumers when idle; the client never deletes them.
 */
export const RULES_READ_PUBLISH = [
  `${API}.STREAM.INFO.${RULES_STREAM}`,
  `${API}.DIRECT.GET.${RULES_STREAM}.>`,
  `${API}.CONSUMER.CREATE.${RULES_STREAM}.>`,
  `${API}.CONSUMER.INFO.${RULES_STREAM}.>`,
  `$JS.FC.${RULES_STREAM}.>`,
]

/** Writing rules (the rules API: put, delete, update by revision) is publishing to the bucket's subjects. */
export const RULES_WRITE_PUBLISH = [`$KV.${RULES_BUCKET}.>`]

/**
 * What the lead adds to ROLE_PERMISSIONS: query serves the rules API (reads
 * and writes); engine evaluates the rules (reads) and publishes triggers, both
 * of which its `$JS.API.>`, `$JS.FC.>` and `tm.triggers.>` already cover;
 * ingest needs nothing.
 */
export const ROLE_RULES_PUBLISH = {
  query: [...RULES_READ_PUBLISH, ...RULES_WRITE_PUBLISH],
  engine: RULES_READ_PUBLISH,
  ingest: [],
} as const

/** The durable name and inbox an autoscaler of one tenant uses under autoscalerPermissions. */
export function autoscalerNames(tenant: string): { durable: string; inboxPrefix: string } {
  return { durable: `autoscaler-${tenant}`, inboxPrefix: `_INBOX.autoscaler-${tenant}` }
}

/**
 * A NATS user for one tenant's autoscaler: it may create its durable consumer
 * only filtered on that tenant's subjects (the filter is part of the create
 * subject, and the server checks it against the consumer's config), read and
 * pull from that consumer, and ack what it got. It cannot subscribe to
 * `tm.triggers.>` directly, create an unfiltered consumer, or pull another
 * tenant's deliveries.
 */
export function autoscalerPermissions(tenant: string, names = autoscalerNames(tenant)): NatsPermissions {
  const consumer = `${TRIGGERS_STREAM}.${names.durable}`
  return {
    publish: [
      `${API}.CONSUMER.CREATE.${consumer}.${tenantTriggerSubjects(tenant)}`,
      `${API}.CONSUMER.INFO.${consumer}`,
      `${API}.CONSUMER.MSG.NEXT.${consumer}`,
      `$JS.ACK.${consumer}.>`,
    ],
    subscribe: [`${names.inboxPrefix}.>`],
  }
}
