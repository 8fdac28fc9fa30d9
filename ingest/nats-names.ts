// NATS names the ingest tier owns (engine/subjects.ts has the engine's).

/** Idempotency-Key records: `<tenant>.<sha256 of the key>` -> which samples of that request are durable. */
export const IDEMPOTENCY_BUCKET = 'tm_ingest_idempotency'
/** How long a key is remembered: a retry after this is a new request. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000
