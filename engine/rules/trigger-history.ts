// Trigger events in ClickHouse, for history: one row per event id, tenant
// first in the sort key like every Tidemark table. A replayed event (same id)
// must not show twice, and two mechanisms see to it:
//   - each insert carries insert_deduplication_token = digest of its ids, so a
//     retried insert of the same batch is dropped at once;
//   - the table is a ReplacingMergeTree ordered by (tenant, rule, at, id), so a
//     replay that batches the events differently collapses when parts merge;
//     readers that must not see the window before that merge read with FINAL
//     (triggerHistory does).
import type { ClickHouseStore } from '../clickhouse/clickhouse-store.ts'
import { DEDUPLICATION_WINDOW } from '../clickhouse/clickhouse-schema.ts'
import { sha256Hex } from '../tenancy/digest.ts'
import { decodeValue, type TriggerEvent } from './trigger-event.ts'

export const TRIGGER_EVENTS_TABLE = 'trigger_events'

/** Idempotent, like every migration statement (migration 5 runs it). */
export function triggerEventsTableStatement(db: string): string {
  return `CREATE TABLE IF NOT EXISTS ${db}.${TRIGGER_EVENTS_TABLE} (
    tenant LowCardinality(String),
    rule String,
    rule_group String,
    at DateTime64(3, 'UTC'),
    id FixedString(32),
    state Enum8('pending' = 1, 'firing' = 2, 'resolved' = 3, 'inactive' = 4),
    change Enum8('alert' = 1, 'escalate' = 2, 'step_down' = 3),
    step UInt8,
    previous_step UInt8,
    action LowCardinality(String),
    ladder Array(LowCardinality(String)),
    labels Map(String, String),
    annotations Map(String, String),
    value Float64,
    active_at DateTime64(3, 'UTC'),
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
  ) ENGINE = ReplacingMergeTree
  PARTITION BY toYYYYMM(at)
  ORDER BY (tenant, rule, at, id)
  SETTINGS non_replicated_deduplication_window = ${DEDUPLICATION_WINDOW}`
}

const COLUMNS = ['tenant', 'rule', 'rule_group', 'at', 'id', 'state', 'change', 'step', 'previous_step', 'action', 'ladder', 'labels', 'annotations', 'value', 'active_at'] as const

/** A Float64 in JSON text: JSON has no NaN or infinities, and ClickHouse reads them quoted (bare words are refused). */
function floatText(value: number): string {
  if (Number.isNaN(value)) return '"nan"'
  if (value === Infinity) return '"inf"'
  if (value === -Infinity) return '"-inf"'
  return JSON.stringify(value)
}

function row(e: TriggerEvent): string {
  // An integer for DateTime64(3) is read as milliseconds, as storage writes samples' ts.
  const at = (ms: number) => String(Math.trunc(ms))
  return (
    `[${JSON.stringify(e.tenant)},${JSON.stringify(e.rule)},${JSON.stringify(e.group)},${at(e.at)},${JSON.stringify(e.id)},${JSON.stringify(e.state)},` +
    `${JSON.stringify(e.change)},${e.step},${e.previousStep},${JSON.stringify(e.action ?? '')},${JSON.stringify(e.ladder)},` +
    `${JSON.stringify(e.labels)},${JSON.stringify(e.annotations)},${floatText(decodeValue(e.value))},${at(e.activeAt)}]`
  )
}

/** Inserts events (any tenants); a retry of the same batch, or a replay of the same events, is stored once. */
export async function insertTriggerEvents(store: ClickHouseStore, events: readonly TriggerEvent[]): Promise<void> {
  if (events.length === 0) return
  const token = sha256Hex(events.map((e) => e.id).join(','))
  await store.command(
    `INSERT INTO ${store.database}.${TRIGGER_EVENTS_TABLE} (${COLUMNS.join(', ')}) ` +
      `SETTINGS insert_deduplication_token = '${token}', async_insert = 0 ` +
      `FORMAT JSONCompactEachRow\n${events.map(row).join('\n')}\n`
  )
}

export interface TriggerHistoryRow {
  id: string
  rule: string
  group: string
  at: number
  state: TriggerEvent['state']
  change: TriggerEvent['change']
  step: number
  previousStep: number
  action: string | null
  labels: Record<string, string>
  value: number
}

/** The columns a stored event is read back with, by every reader (triggerRowOf turns such a row into its fields). */
export const TRIGGER_ROW_COLUMNS =
  'id, rule, rule_group, toUnixTimestamp64Milli(at) AS at_ms, state, change, step, previous_step, action, labels, toString(value) AS value'

/** A row selected with TRIGGER_ROW_COLUMNS. */
export interface StoredTriggerRow {
  id: string
  rule: string
  rule_group: string
  at_ms: string
  state: TriggerEvent['state']
  change: TriggerEvent['change']
  step: number
  previous_step: number
  action: string
  labels: Record<string, string>
  /** ClickHouse's text of the value: a number, or nan, inf, -inf, which each reader renders its own way. */
  value: string
}

/** A stored row as an event's fields, the value left to the reader (see StoredTriggerRow.value). */
export function triggerRowOf(r: StoredTriggerRow): Omit<TriggerHistoryRow, 'value'> {
  return {
    id: r.id,
    rule: r.rule,
    group: r.rule_group,
    at: Number(r.at_ms),
    state: r.state,
    change: r.change,
    step: r.step,
    previousStep: r.previous_step,
    action: r.action === '' ? null : r.action,
    labels: r.labels,
  }
}

/** One tenant's events in [fromMs, toMs), oldest first, each id once (FINAL: parts not yet merged are collapsed here). */
export async function triggerHistory(store: ClickHouseStore, tenant: string, fromMs: number, toMs: number, limit = 10_000): Promise<TriggerHistoryRow[]> {
  const rows = await store.rows<StoredTriggerRow>(
    `SELECT ${TRIGGER_ROW_COLUMNS}
     FROM ${store.database}.${TRIGGER_EVENTS_TABLE} FINAL
     WHERE tenant = {tenant:String} AND at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
     ORDER BY at, id LIMIT {limit:UInt32}`,
    { tenant, from: fromMs, to: toMs, limit }
  )
  return rows.map((r) => ({ ...triggerRowOf(r), value: Number(r.value.replace(/^(-?)inf$/, '$1Infinity')) }))
}
