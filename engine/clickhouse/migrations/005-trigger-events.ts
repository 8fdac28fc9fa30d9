// Trigger events for history (engine/rules/trigger-history.ts): one row per
// event id; a replayed event collapses by id (ReplacingMergeTree) and a retried
// insert is dropped by its deduplication token.
import { TRIGGER_EVENTS_TABLE, triggerEventsTableStatement } from '../../rules/trigger-history.ts'
import type { Migration } from '../migration.ts'

export const triggerEvents: Migration = {
  id: 5,
  name: 'trigger events: alert transitions and action ladder steps',
  dataLoss: true,
  up: (db) => [triggerEventsTableStatement(db)],
  down: (db) => [`DROP TABLE IF EXISTS ${db}.${TRIGGER_EVENTS_TABLE}`],
}
