// Per-tenant retention (retention.ts): the policies, and a TTL on every table
// that ages, neutral until a tenant sets a policy.
import type { Migration } from '../migration.ts'
import { neutralTtl, RETENTION_TARGETS } from '../retention.ts'

export const retention: Migration = {
  id: 4,
  name: 'per-tenant retention: policies and table TTLs',
  // The policies are the tenants' settings: rolling back forgets them.
  dataLoss: true,
  up: (db) => [
    `CREATE TABLE IF NOT EXISTS ${db}.retention_policies (
      tenant LowCardinality(String),
      raw_days UInt32,
      rollup_1m_days UInt32,
      rollup_1h_days UInt32,
      updated_at DateTime64(3, 'UTC')
    ) ENGINE = ReplacingMergeTree(updated_at) ORDER BY tenant`,
    ...RETENTION_TARGETS.map(({ table, time }) => `ALTER TABLE ${db}.${table} MODIFY TTL ${neutralTtl(time)} SETTINGS materialize_ttl_after_modify = 0`),
  ],
  // Neutral first, then remove: a rerun after a half-done rollback finds a TTL to remove on every table.
  down: (db) => [
    ...RETENTION_TARGETS.flatMap(({ table, time }) => [
      `ALTER TABLE ${db}.${table} MODIFY TTL ${neutralTtl(time)} SETTINGS materialize_ttl_after_modify = 0`,
      `ALTER TABLE ${db}.${table} REMOVE TTL`,
    ]),
    `DROP TABLE IF EXISTS ${db}.retention_policies`,
  ],
}
