// The tracker's tables: pageviews and events, one row per hit, tenant first in
// the sort key like every Tidemark table. A hit is stored once: each insert
// carries a deduplication token (the digest of its ids), so a retried insert
// is dropped, and the tables are ReplacingMergeTree on the hit's id, so a
// redelivery batched differently collapses when parts merge; readers that
// count read with FINAL (query/sites-summary.ts).
import type { ClickHouseStore } from '../clickhouse/clickhouse-store.ts'
import { DEDUPLICATION_WINDOW } from '../clickhouse/clickhouse-schema.ts'
import { sha256Hex } from '../tenancy/digest.ts'
import type { Hit } from './hit.ts'

export const PAGEVIEWS_TABLE = 'pageviews'
export const EVENTS_TABLE = 'events'

const common = `tenant LowCardinality(String),
    site LowCardinality(String),
    ts DateTime64(3, 'UTC'),
    id FixedString(32),
    visitor FixedString(16),
    tenant_visitor FixedString(16),
    path String,
    referrer String,
    utm_source String,
    utm_medium String,
    utm_campaign String,
    utm_term String,
    utm_content String,
    screen LowCardinality(String)`

/** Idempotent, like every migration statement (migration 7 runs them). */
export function trackerTableStatements(db: string): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${db}.${PAGEVIEWS_TABLE} (
    ${common}
  ) ENGINE = ReplacingMergeTree
  PARTITION BY toYYYYMM(ts)
  ORDER BY (tenant, site, ts, id)
  SETTINGS non_replicated_deduplication_window = ${DEDUPLICATION_WINDOW}`,
    `CREATE TABLE IF NOT EXISTS ${db}.${EVENTS_TABLE} (
    ${common},
    name LowCardinality(String),
    props Map(String, String)
  ) ENGINE = ReplacingMergeTree
  PARTITION BY toYYYYMM(ts)
  ORDER BY (tenant, site, name, ts, id)
  SETTINGS non_replicated_deduplication_window = ${DEDUPLICATION_WINDOW}`,
  ]
}

/** What the SQL console reads (tenant-views.ts): the tenant's rows, each hit once, without the tenant column. */
export function trackerViewSelects(db: string): Record<string, string> {
  const columns = 'site, ts, visitor, tenant_visitor, path, referrer, utm_source, utm_medium, utm_campaign, utm_term, utm_content, screen'
  return {
    [PAGEVIEWS_TABLE]: `SELECT ${columns} FROM ${db}.${PAGEVIEWS_TABLE} FINAL WHERE tenant = {tenant:String}`,
    [EVENTS_TABLE]: `SELECT ${columns}, name, props FROM ${db}.${EVENTS_TABLE} FINAL WHERE tenant = {tenant:String}`,
  }
}

function row(hit: Hit): Record<string, unknown> {
  return {
    tenant: hit.tenant,
    site: hit.site,
    // An integer for DateTime64(3) is read as milliseconds.
    ts: Math.trunc(hit.ts),
    id: hit.id,
    visitor: hit.visitor,
    tenant_visitor: hit.tenantVisitor,
    path: hit.path,
    referrer: hit.referrer,
    utm_source: hit.utm.source,
    utm_medium: hit.utm.medium,
    utm_campaign: hit.utm.campaign,
    utm_term: hit.utm.term,
    utm_content: hit.utm.content,
    screen: hit.screen,
    ...(hit.kind === 'event' ? { name: hit.name, props: hit.props } : {}),
  }
}

/** Inserts hits (any tenants) into their tables; a retry of the same hits is stored once. */
export async function insertHits(store: ClickHouseStore, hits: readonly Hit[]): Promise<void> {
  for (const [table, kind] of [
    [PAGEVIEWS_TABLE, 'pageview'],
    [EVENTS_TABLE, 'event'],
  ] as const) {
    const rows = hits.filter((h) => h.kind === kind)
    if (rows.length === 0) continue
    const token = sha256Hex(`${table}\n${rows.map((h) => h.id).join(',')}`)
    await store.command(
      `INSERT INTO ${store.database}.${table} SETTINGS insert_deduplication_token = '${token}', async_insert = 0, input_format_skip_unknown_fields = 0 ` +
        `FORMAT JSONEachRow\n${rows.map((h) => JSON.stringify(row(h))).join('\n')}\n`
    )
  }
}
