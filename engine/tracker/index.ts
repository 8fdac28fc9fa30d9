// The tracker room's public door (engine/index.ts re-exports it for the tiers).
// The browser tracker's beacon schema, cookieless visitor ids (daily salts in KV),
// the hits stream's writer into ClickHouse's pageviews and events, and their tables.
export { TrackerBeaconSchema, TRACKER_BODY_LIMIT, SCREEN_CLASSES, UTM_FIELDS, type TrackerBeacon, type Hit } from './hit.ts'
export { VisitorSalts, visitorId, saltDay } from './visitor-salts.ts'
export { startHitWriter, type HitWriter, type HitWriterStats } from './hit-writer.ts'
export { PAGEVIEWS_TABLE, EVENTS_TABLE, trackerTableStatements, trackerViewSelects, insertHits } from './tracker-tables.ts'
