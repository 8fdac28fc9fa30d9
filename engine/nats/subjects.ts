// NATS names in one place: streams, subjects, consumers and buckets.

export const BEACONS_STREAM = 'TM_BEACONS'
export const BEACONS_SUBJECT_PREFIX = 'tm.beacons.'
export const BEACONS_SUBJECTS = `${BEACONS_SUBJECT_PREFIX}>`
export const STORAGE_CONSUMER = 'tm-storage'
/**
 * Anomaly scores, `tm.beacons.scores.<partition>`: in TM_BEACONS, so the storage consumer stores them like
 * beacons (dedup tokens, intents), but on subjects no partition reader reads (they filter `tm.beacons.<p>`),
 * so a score never becomes the scorer's input.
 */
export const SCORES_SUBJECT_PREFIX = `${BEACONS_SUBJECT_PREFIX}scores.`
/** Batches storage could not write (undecodable, or refused by ClickHouse for their content), with the reason in headers. */
export const DEAD_LETTERS_STREAM = 'TM_DEAD_LETTERS'
export const DEAD_LETTERS_SUBJECT_PREFIX = 'tm.deadletter.'
export const DEAD_LETTERS_SUBJECTS = `${DEAD_LETTERS_SUBJECT_PREFIX}>`
/** Trigger transitions, `tm.triggers.<tenant>.<rule>` (published by the engine). */
export const TRIGGERS_SUBJECT_PREFIX = 'tm.triggers.'
export const TRIGGERS_SUBJECTS = `${TRIGGERS_SUBJECT_PREFIX}>`
export const TENANTS_BUCKET = 'tm_tenants'
/** Bookkeeping the storage consumer needs to redo an interrupted insert exactly (see storage-consumer.ts). */
export const STORAGE_STATE_BUCKET = 'tm_storage_state'

/** Idempotency-Key records of ingest: `<tenant>.<sha256 of the key>` -> which samples of that request are durable. */
export const IDEMPOTENCY_BUCKET = 'tm_ingest_idempotency'
/** How long a key is remembered: a retry after this is a new request. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000

/** Browser tracker hits (pageviews and events), `tm.hits.<tenant>`: their own stream, never metrics (docs/tracker.md). */
export const HITS_STREAM = 'TM_HITS'
export const HITS_SUBJECT_PREFIX = 'tm.hits.'
export const HITS_SUBJECTS = `${HITS_SUBJECT_PREFIX}>`
/** The durable consumer that writes hits into ClickHouse's pageviews and events. */
export const HITS_CONSUMER = 'tm-hits'
/** The tracker's daily visitor salts, `salt.<YYYY-MM-DD>`: random, shared by every ingest process, gone 48 h after they were made. */
export const TRACKER_SALTS_BUCKET = 'tm_tracker_salts'
export const TRACKER_SALT_TTL_MS = 48 * 3600_000

export function hitSubject(tenant: string): string {
  return HITS_SUBJECT_PREFIX + tenant
}

export function scoresSubject(partition: number): string {
  return SCORES_SUBJECT_PREFIX + partition
}

export function beaconSubject(partition: number): string {
  return BEACONS_SUBJECT_PREFIX + partition
}
