// What each Tidemark role may do on NATS, written once and used twice: in the
// config of the supervised nats-server (nkey users) and in the config
// `tidemark nats-config` prints for a deployment's own NATS (password users,
// the one docker-compose.yml mounts). Each set is the least that works with
// nats-server 2.9 and NATS.js v3, found by running the roles against a real
// server (test/integration/nats-permissions.test.ts fails on any violation).
import { ROLE_RULES_PUBLISH } from '../rules/trigger-permissions.ts'
import { QUOTA_KEY_PREFIX } from '../tenancy/tenant-quotas.ts'
import { PARTITION_LEASES_BUCKET, STREAM_CHECKPOINTS_BUCKET, WINDOWS_SUBJECTS } from '../stream/stream-layout.ts'
import { SITE_KEY_PREFIX } from '../tenancy/site-registry.ts'
import { BEACONS_STREAM, BEACONS_SUBJECTS, DEAD_LETTERS_SUBJECTS, HITS_SUBJECTS, IDEMPOTENCY_BUCKET, STORAGE_STATE_BUCKET, TENANTS_BUCKET, TRACKER_SALTS_BUCKET, TRIGGERS_SUBJECTS } from './subjects.ts'

export type NatsRole = 'ingest' | 'engine' | 'query'
export const NATS_ROLES: readonly NatsRole[] = ['ingest', 'engine', 'query']
/** The role users, and admin: the data directory's owner (the one-process `tidemark start`, the CLI, `tidemark setup`). */
export type NatsUserName = NatsRole | 'admin'
export const NATS_USERS: readonly NatsUserName[] = [...NATS_ROLES, 'admin']

export interface NatsPermissions {
  publish: string[]
  subscribe: string[]
}

/**
 * Replies (JetStream API answers, publish acks, consumer deliveries) come to a
 * process's inboxes. A process running one role uses `_INBOX.<role>`, so the
 * ingest user cannot subscribe to the engine's inboxes and read every
 * tenant's beacons as they are delivered to storage.
 */
export function inboxPrefixFor(roles: readonly NatsRole[]): string {
  return roles.length === 1 ? `_INBOX.${roles[0]}` : '_INBOX.tidemark'
}

const API = '$JS.API'
const TENANTS_STREAM = `KV_${TENANTS_BUCKET}`

/** Reading a tenant by key: the stream's info (to check and bind it), then a direct get by subject (setup creates buckets with direct gets on). */
const readTenants = [`${API}.STREAM.INFO.${TENANTS_STREAM}`, `${API}.DIRECT.GET.${TENANTS_STREAM}.>`]

/**
 * Listing tenants runs an ordered push consumer on the bucket's stream: created (by name, the 2.9 API), its
 * info read, and flow control answered; without $JS.FC a listing of 20,000 keys stalled after about 13,000.
 * The ephemeral consumer is never deleted by the client: the server drops it when idle.
 */
const listTenants = [`${API}.CONSUMER.CREATE.${TENANTS_STREAM}.>`, `${API}.CONSUMER.INFO.${TENANTS_STREAM}.>`, `$JS.FC.${TENANTS_STREAM}.>`]

/**
 * Following credential withdrawals (engine/tenancy/tenant-registry.ts): an ordered push consumer filtered on the
 * token keys, created by name with the filter in the subject (nats-server checks it against the config, so
 * this user cannot create one over tenant records or names), and flow control answered. Nothing else: the
 * client reads the consumer's info from the create reply, and the server drops the consumer when idle.
 */
const followTokens = [`${API}.CONSUMER.CREATE.${TENANTS_STREAM}.*.$KV.${TENANTS_BUCKET}.token.>`, `$JS.FC.${TENANTS_STREAM}.>`]
/**
 * Watching quotas (engine/tenancy/tenant-quotas.ts): an ordered consumer created with its filter in the subject (the 2.9
 * API), so the permission holds it to `quota.>`: the watch cannot list tokens or tenants. Flow control is
 * answered under followTokens' permission.
 */
const watchQuotas = [`${API}.CONSUMER.CREATE.${TENANTS_STREAM}.*.$KV.${TENANTS_BUCKET}.${QUOTA_KEY_PREFIX}>`]

/** Following the tracker's sites (engine/tenancy/site-registry.ts), as the quotas are: the filter holds the watch to `site.>`. */
const watchSites = [`${API}.CONSUMER.CREATE.${TENANTS_STREAM}.*.$KV.${TENANTS_BUCKET}.${SITE_KEY_PREFIX}>`]

/** The tracker's daily salts: ingest reads today's and creates it when it is missing (kv.create: the first process wins). */
const SALTS_STREAM = `KV_${TRACKER_SALTS_BUCKET}`
const keepSalts = [`${API}.STREAM.INFO.${SALTS_STREAM}`, `${API}.DIRECT.GET.${SALTS_STREAM}.>`, `$KV.${TRACKER_SALTS_BUCKET}.>`]

/** Idempotency-Key records: ingest reads, creates and updates them (kv.create is the lock), nothing else. */
const IDEMPOTENCY_STREAM = `KV_${IDEMPOTENCY_BUCKET}`
const keepIdempotencyRecords = [`${API}.STREAM.INFO.${IDEMPOTENCY_STREAM}`, `${API}.DIRECT.GET.${IDEMPOTENCY_STREAM}.>`, `$KV.${IDEMPOTENCY_BUCKET}.>`]

/** Every process that does not own the streams checks their layout before it starts. */
const checkBeacons = [`${API}.STREAM.INFO.${BEACONS_STREAM}`]

export const ROLE_PERMISSIONS: Record<NatsRole, NatsPermissions> = {
  // Publishes beacons and tracker hits, reads tenants (to resolve ingest tokens), follows token withdrawals and
  // watches quotas and sites, keeps the tracker's salts; never consumes beacons, never lists or writes a tenant.
  ingest: {
    publish: [BEACONS_SUBJECTS, HITS_SUBJECTS, ...checkBeacons, ...readTenants, ...followTokens, ...watchQuotas, ...watchSites, ...keepIdempotencyRecords, ...keepSalts],
    subscribe: [`${inboxPrefixFor(['ingest'])}.>`],
  },
  // Owns JetStream: creates and changes streams, consumers and buckets (the whole API), consumes beacons
  // (acks), keeps and lists the storage state bucket (flow control, as for tenants), publishes dead
  // letters and triggers. The stream engine takes partition leases, writes replay checkpoints, publishes
  // window results, puts watermark ticks into the partitions' own subjects (so replays see them) and anomaly
  // scores into tm.beacons.scores.<p> (stored by storage, read by no partition reader).
  // Writes no tenant.
  engine: {
    publish: [
      `${API}.>`,
      '$JS.ACK.>',
      '$JS.FC.>',
      `$KV.${STORAGE_STATE_BUCKET}.>`,
      `$KV.${PARTITION_LEASES_BUCKET}.>`,
      `$KV.${STREAM_CHECKPOINTS_BUCKET}.>`,
      BEACONS_SUBJECTS,
      WINDOWS_SUBJECTS,
      DEAD_LETTERS_SUBJECTS,
      TRIGGERS_SUBJECTS,
    ],
    subscribe: [`${inboxPrefixFor(['engine'])}.>`],
  },
  // Reads, lists and (for the admin route POST /api/v2/tenants, and a tenant's sites) writes tenants; serves the rules API (reads and
  // writes tm_rules); publishes no beacon.
  query: {
    publish: [...checkBeacons, ...readTenants, ...listTenants, `$KV.${TENANTS_BUCKET}.>`, ...ROLE_RULES_PUBLISH.query],
    subscribe: [`${inboxPrefixFor(['query'])}.>`],
  },
}

/** How a user proves who it is in the server config: an nkey, or a password taken from an environment variable. */
export type NatsUserCredential = { user: NatsUserName; nkey: string } | { user: NatsUserName; passwordVariable: string }

function quote(subject: string): string {
  return JSON.stringify(subject)
}

function userEntry(credential: NatsUserCredential): string {
  const who = 'nkey' in credential ? `nkey: ${quote(credential.nkey)}` : `user: ${quote(credential.user)}, password: $${credential.passwordVariable}`
  // admin holds every permission: it is the data directory's owner, and the one-process `tidemark start` runs every role.
  if (credential.user === 'admin') return `    # admin: everything\n    { ${who} }`
  const permissions = ROLE_PERMISSIONS[credential.user]
  return [
    `    # ${credential.user}`,
    `    { ${who}, permissions: {`,
    `      publish: { allow: [${permissions.publish.map(quote).join(', ')}] }`,
    `      subscribe: { allow: [${permissions.subscribe.map(quote).join(', ')}] }`,
    `    } }`,
  ].join('\n')
}

/** The `authorization` block of a nats-server config (nats-server 2.9 syntax). */
export function natsAuthorizationConfig(credentials: NatsUserCredential[]): string {
  return `authorization {\n  users = [\n${credentials.map(userEntry).join('\n')}\n  ]\n}\n`
}

/** The environment variable a password user's password comes from, in `tidemark nats-config` and docker-compose.yml. */
export function passwordVariable(user: NatsUserName): string {
  return `TIDEMARK_NATS_${user.toUpperCase()}_PASSWORD`
}
