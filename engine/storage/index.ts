// The storage room's public door (engine/index.ts re-exports it for the tiers).
// Storage: the consumer that writes beacon batches to ClickHouse exactly once (intents, dedup
// tokens, dead letters) and reports its health.
export { StorageConsumer, type StorageStats } from './storage-consumer.ts'
