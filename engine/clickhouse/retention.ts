// Per-tenant retention, enforced by ClickHouse: each table's TTL holds one
// rule per tenant that has a policy (`… + INTERVAL n DAY DELETE WHERE tenant =
// '…'`), so expired rows of that tenant, and only them, go at ClickHouse's
// next merge of their part (merge_with_ttl_timeout, 4 hours by default). A
// partition drop would not do: partitions are months shared by every tenant.
// Policies live in <db>.retention_policies (migrations/004-retention.ts).
import type { ClickHouseStore } from './clickhouse-store.ts'

export interface RetentionPolicy {
  /** Days raw samples are kept; null keeps them. */
  rawDays: number | null
  /** Days the 1-minute rollups are kept; null keeps them. */
  rollup1mDays: number | null
  /** Days the 1-hour rollups are kept; null keeps them. */
  rollup1hDays: number | null
}

export const KEEP_FOREVER: RetentionPolicy = { rawDays: null, rollup1mDays: null, rollup1hDays: null }
/** Far enough: a century. */
export const MAX_RETENTION_DAYS = 36_500

type PolicyField = keyof RetentionPolicy

/** Each table with a TTL, the instant its rows age from, and the policy field that governs it. */
export const RETENTION_TARGETS: ReadonlyArray<{ table: string; time: string; field: PolicyField }> = [
  { table: 'samples', time: 'toDateTime(ts)', field: 'rawDays' },
  { table: 'series_1m', time: 't', field: 'rollup1mDays' },
  { table: 'samples_1m', time: 't', field: 'rollup1mDays' },
  { table: 'series_1h', time: 't', field: 'rollup1hDays' },
  { table: 'samples_1h', time: 't', field: 'rollup1hDays' },
]

/**
 * The tracker's tables (migration 7) age with the raw samples' policy. Apart from RETENTION_TARGETS, which
 * migration 4 reads and must not change; applied only where the table exists (a schema held below 7).
 */
export const TRACKER_RETENTION_TARGETS: ReadonlyArray<{ table: string; time: string; field: PolicyField }> = [
  { table: 'pageviews', time: 'toDateTime(ts)', field: 'rawDays' },
  { table: 'events', time: 'toDateTime(ts)', field: 'rawDays' },
]

/** A rule that deletes nothing: the TTL of a table no tenant limits (a table keeps a TTL once it had one, so REMOVE TTL never meets "no TTL"). */
export function neutralTtl(time: string): string {
  return `${time} + toIntervalDay(1) DELETE WHERE 0`
}

/** Tenant ids as the registry makes them: safe as a literal in a TTL rule. */
const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/

interface PolicyRow {
  tenant: string
  raw_days: number | string
  rollup_1m_days: number | string
  rollup_1h_days: number | string
}

const days = (value: number | string): number | null => (Number(value) > 0 ? Number(value) : null)
const stored = (value: number | null): number => value ?? 0

async function policyRows(store: ClickHouseStore, tenant?: string): Promise<PolicyRow[]> {
  // The latest row per tenant wins: ReplacingMergeTree collapses them only at its own pace.
  return store.rows<PolicyRow>(
    `SELECT tenant, argMax(raw_days, updated_at) AS raw_days, argMax(rollup_1m_days, updated_at) AS rollup_1m_days, argMax(rollup_1h_days, updated_at) AS rollup_1h_days
     FROM ${store.database}.retention_policies ${tenant === undefined ? '' : 'WHERE tenant = {tenant:String}'} GROUP BY tenant ORDER BY tenant`,
    tenant === undefined ? undefined : { tenant }
  )
}

export async function getRetentionPolicy(store: ClickHouseStore, tenant: string): Promise<RetentionPolicy> {
  const [row] = await policyRows(store, tenant)
  if (!row) return { ...KEEP_FOREVER }
  return { rawDays: days(row.raw_days), rollup1mDays: days(row.rollup_1m_days), rollup1hDays: days(row.rollup_1h_days) }
}

export async function setRetentionPolicy(store: ClickHouseStore, tenant: string, policy: RetentionPolicy): Promise<void> {
  await store.client.command({
    query: `INSERT INTO ${store.database}.retention_policies (tenant, raw_days, rollup_1m_days, rollup_1h_days, updated_at) SETTINGS async_insert = 0
      SELECT {tenant:String}, {raw:UInt32}, {m1:UInt32}, {h1:UInt32}, now64(3, 'UTC')`,
    query_params: { tenant, raw: stored(policy.rawDays), m1: stored(policy.rollup1mDays), h1: stored(policy.rollup1hDays) },
  })
}

/** The TTL clause of one table for every tenant's policy. */
export function ttlFor(target: (typeof RETENTION_TARGETS)[number], policies: ReadonlyArray<{ tenant: string; policy: RetentionPolicy }>): string {
  const rules = policies
    .filter(({ tenant, policy }) => policy[target.field] !== null && TENANT_ID.test(tenant))
    .map(({ tenant, policy }) => `${target.time} + toIntervalDay(${policy[target.field]}) DELETE WHERE tenant = '${tenant}'`)
  return rules.length > 0 ? rules.join(', ') : neutralTtl(target.time)
}

/**
 * Writes every table's TTL from the stored policies. ClickHouse then deletes
 * expired rows as it merges; materialize_ttl_after_modify = 0 keeps this from
 * rewriting every part at once (a forced merge, OPTIMIZE … FINAL, applies it
 * immediately).
 */
export async function applyRetentionPolicies(store: ClickHouseStore): Promise<void> {
  const rows = await policyRows(store)
  const policies = rows.map((row) => ({
    tenant: row.tenant,
    policy: { rawDays: days(row.raw_days), rollup1mDays: days(row.rollup_1m_days), rollup1hDays: days(row.rollup_1h_days) },
  }))
  const present = new Set(
    (await store.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = {db:String}`, { db: store.database })).map((t) => t.name)
  )
  for (const target of [...RETENTION_TARGETS, ...TRACKER_RETENTION_TARGETS.filter((t) => present.has(t.table))]) {
    await store.command(`ALTER TABLE ${store.database}.${target.table} MODIFY TTL ${ttlFor(target, policies)} SETTINGS materialize_ttl_after_modify = 0`)
  }
}
