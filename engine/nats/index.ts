// The nats room's public door (engine/index.ts re-exports it for the tiers).
// NATS and JetStream: where the server is (supervised or NATS_URL), credentials and per-role
// permissions, the names of streams and buckets, and their one owner's setup.
export { hitSubject, HITS_STREAM, HITS_CONSUMER, TRACKER_SALTS_BUCKET, SCORES_SUBJECT_PREFIX } from './subjects.ts'
export { beaconSubject, BEACONS_STREAM, DEAD_LETTERS_STREAM, IDEMPOTENCY_BUCKET, IDEMPOTENCY_TTL_MS, STORAGE_CONSUMER } from './subjects.ts'
export { SupervisedNatsServer, externalNats, natsUrlFile, natsStoreDir, natsPidFile, type NatsEndpoint } from './nats-endpoint.ts'
export { describeNatsAuth, natsAuthConfig, type NatsAuth } from './nats-auth.ts'
export { findNats, type FoundNats } from './nats-discovery.ts'
export { NATS_ROLES, inboxPrefixFor, natsAuthorizationConfig, passwordVariable, type NatsRole, type NatsUserName } from './nats-permissions.ts'
export { openBucket } from './jetstream-setup.ts'
