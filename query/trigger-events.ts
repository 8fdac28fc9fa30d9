// Reading trigger history (ClickHouse trigger_events) for GET /api/v2/triggers
// and the live stream. engine's triggerHistory reads oldest first with no
// filter and no position, which fits neither: this adds rule and state
// filters, newest-first pages, and reading on from a position (the time a row
// was inserted, then its id), which is what the live stream resumes from.
// FINAL collapses a replayed event (same id) into one row, as triggerHistory does.
// The columns and their mapping are the engine's (TRIGGER_ROW_COLUMNS, triggerRowOf).
import { TRIGGER_EVENTS_TABLE, TRIGGER_ROW_COLUMNS, triggerRowOf, type ClickHouseStore, type StoredTriggerRow } from '../engine/index.ts'
import { readRows } from './bucket-query.ts'
import type { TriggerHistoryItem } from './read-contract.ts'

export const TRIGGER_STATES = ['pending', 'firing', 'resolved', 'inactive'] as const

export interface TriggerQuery {
  fromMs: number
  toMs: number
  rule?: string
  states?: readonly string[]
  limit: number
  /** Newest first (history) or oldest first after a position (live). */
  order: 'newest' | 'oldest'
  /** Only rows inserted after this position, and before insertedBeforeMs. */
  after?: TriggerPosition
  insertedBeforeMs?: number
}

/** Where a reader stands in the table: the insert time of the last row it saw, and that row's id. */
export interface TriggerPosition {
  insertedMs: number
  id: string
}

interface Row extends StoredTriggerRow {
  inserted_ms: string
}

/** ClickHouse writes NaN and infinities as nan, inf, -inf; the API as the trigger event does (JSON has no such numbers). */
function valueOf(text: string): number | string {
  if (text === 'nan') return 'NaN'
  if (text === 'inf') return '+Inf'
  if (text === '-inf') return '-Inf'
  return Number(text)
}

export async function readTriggerEvents(store: ClickHouseStore, tenant: string, q: TriggerQuery): Promise<(TriggerHistoryItem & { position: TriggerPosition })[]> {
  const params: Record<string, unknown> = { tenant, fromMs: q.fromMs, toMs: q.toMs, limit: q.limit }
  let where = ''
  if (q.rule !== undefined) {
    where += ' AND rule = {rule:String}'
    params.rule = q.rule
  }
  if (q.states && q.states.length > 0) {
    where += ' AND toString(state) IN {states:Array(String)}'
    params.states = q.states
  }
  if (q.after) {
    where += ' AND (inserted_at, id) > (fromUnixTimestamp64Milli({afterMs:Int64}, \'UTC\'), {afterId:String})'
    params.afterMs = q.after.insertedMs
    params.afterId = q.after.id
  }
  if (q.insertedBeforeMs !== undefined) {
    where += " AND inserted_at < fromUnixTimestamp64Milli({beforeMs:Int64}, 'UTC')"
    params.beforeMs = q.insertedBeforeMs
  }
  const order = q.order === 'newest' ? 'at DESC, id DESC' : 'inserted_at, id'
  const rows = await readRows<Row>(
    store,
    `SELECT ${TRIGGER_ROW_COLUMNS}, toUnixTimestamp64Milli(inserted_at) AS inserted_ms
      FROM ${store.database}.${TRIGGER_EVENTS_TABLE} FINAL
      WHERE tenant = {tenant:String} AND at >= fromUnixTimestamp64Milli({fromMs:Int64}, 'UTC') AND at < fromUnixTimestamp64Milli({toMs:Int64}, 'UTC')${where}
      ORDER BY ${order} LIMIT {limit:UInt32}
      SETTINGS max_execution_time = 10`,
    params
  )
  return rows.map((r) => ({
    ...triggerRowOf(r),
    value: valueOf(r.value),
    position: { insertedMs: Number(r.inserted_ms), id: r.id },
  }))
}
