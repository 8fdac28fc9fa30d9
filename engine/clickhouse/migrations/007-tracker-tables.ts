// The browser tracker's tables, pageviews and events (engine/tracker/tracker-tables.ts),
// and their tenant views for the SQL console. (006 is another change's number.)
import { EVENTS_TABLE, PAGEVIEWS_TABLE, trackerTableStatements, trackerViewSelects } from '../../tracker/tracker-tables.ts'
import type { Migration } from '../migration.ts'

export const trackerTables: Migration = {
  id: 7,
  name: 'tracker: pageviews and events, with their tenant views',
  dataLoss: true,
  up: (db) => [
    ...trackerTableStatements(db),
    // OR REPLACE, as migration 2's views: a view holds no data, and a half-applied run stays repeatable.
    ...Object.entries(trackerViewSelects(db)).map(([name, select]) => `CREATE OR REPLACE VIEW ${db}.${name}_for_tenant AS ${select}`),
  ],
  down: (db) => [
    `DROP VIEW IF EXISTS ${db}.${EVENTS_TABLE}_for_tenant`,
    `DROP VIEW IF EXISTS ${db}.${PAGEVIEWS_TABLE}_for_tenant`,
    `DROP TABLE IF EXISTS ${db}.${EVENTS_TABLE}`,
    `DROP TABLE IF EXISTS ${db}.${PAGEVIEWS_TABLE}`,
  ],
}
