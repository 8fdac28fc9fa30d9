// The trigger_events table on chDB: a retried insert is dropped by its token, a replay batched
// differently collapses to one row per id (FINAL now, merges later), tenants stay apart.
import fs from 'node:fs'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openClickHouse, type ClickHouseStore } from '../../engine/clickhouse/clickhouse-store.ts'
import { ActionLadder } from '../../engine/rules/action-ladder.ts'
import { effectiveRuleGroups } from '../../engine/rules/default-rules.ts'
import type { AlertTransition } from '../../engine/rules/evaluator.ts'
import { toTriggerEvent, type TriggerEvent } from '../../engine/rules/trigger-event.ts'
import { insertTriggerEvents, TRIGGER_EVENTS_TABLE, triggerEventsTableStatement, triggerHistory } from '../../engine/rules/trigger-history.ts'
import { processChdbPath } from '../helpers/stack.ts'

const T0 = 1_760_000_000_000
const M = 60_000
let store: ClickHouseStore

function history(tenant: string, transitions: AlertTransition[], watermark: number): TriggerEvent[] {
  return new ActionLadder(effectiveRuleGroups(undefined)).advance(transitions, watermark).map((e) => toTriggerEvent(tenant, e))
}

const cpu = (state: AlertTransition['state'], at: number, value = 85): AlertTransition => ({
  group: 'tidemark-defaults',
  alert: 'HighCpuUsage',
  state,
  labels: { alertname: 'HighCpuUsage', host: 'web-1' },
  annotations: { summary: 'CPU high' },
  value,
  activeAt: T0,
  at,
})

const rawCount = async (tenant: string) =>
  Number((await store.rows<{ n: string }>(`SELECT count() AS n FROM ${store.database}.${TRIGGER_EVENTS_TABLE} WHERE tenant = {t:String}`, { t: tenant }))[0]?.n)

beforeAll(async () => {
  store = await openClickHouse({ chdbPath: processChdbPath(), database: 'tidemark_triggers' })
  await store.command(triggerEventsTableStatement(store.database))
  // Idempotent, like every schema statement.
  await store.command(triggerEventsTableStatement(store.database))
})

afterAll(async () => {
  await store?.close()
  fs.rmSync(processChdbPath(), { recursive: true, force: true })
})

it('stores each event once, whether the insert is retried or the events are replayed in other batches', async () => {
  const events = history('t_hist', [cpu('firing', T0), cpu('resolved', T0 + 10 * M, NaN)], T0 + 60 * M)
  expect(events).toHaveLength(9)
  await insertTriggerEvents(store, events)
  await insertTriggerEvents(store, events) // a retry: same batch, same token
  expect(await rawCount('t_hist')).toBe(9)
  // A restarted engine replays and writes the same events in other batches: other tokens.
  await insertTriggerEvents(store, events.slice(0, 4))
  await insertTriggerEvents(store, events.slice(4))
  expect(await rawCount('t_hist')).toBe(18)
  const rows = await triggerHistory(store, 't_hist', T0, T0 + 60 * M)
  expect(rows.map((r) => r.id)).toEqual(events.map((e) => e.id))
  expect(rows.map((r) => [r.change, r.step, r.action])).toEqual(events.map((e) => [e.change, e.step, e.action]))
  expect(rows[0]).toMatchObject({ rule: 'HighCpuUsage', group: 'tidemark-defaults', at: T0, state: 'firing', value: 85, labels: { alertname: 'HighCpuUsage', host: 'web-1' } })
  expect(Number.isNaN(rows[4]?.value)).toBe(true)
  // Merges collapse the duplicates for good.
  await store.command(`OPTIMIZE TABLE ${store.database}.${TRIGGER_EVENTS_TABLE} FINAL`)
  expect(await rawCount('t_hist')).toBe(9)
})

it('keeps tenants apart and bounds the range', async () => {
  const other = history('t_other', [cpu('firing', T0)], T0)
  await insertTriggerEvents(store, other)
  expect((await triggerHistory(store, 't_other', T0, T0 + 1)).map((r) => r.id)).toEqual([other[0]?.id])
  expect(await triggerHistory(store, 't_other', T0 + 1, T0 + 60 * M)).toEqual([])
  const mine = await triggerHistory(store, 't_hist', T0, T0 + 60 * M)
  expect(mine).toHaveLength(9)
  expect(mine.map((r) => r.id)).not.toContain(other[0]?.id)
  expect(await triggerHistory(store, 't_nobody', 0, T0 * 2)).toEqual([])
})
