// The ClickHouse seam on the engine chDB embeds: statements, parameter binding,
// and settings kept per query. The HTTP mode (CLICKHOUSE_URL) runs the same
// client code; with no ClickHouse server here, its test is the refusal a user
// meets when the URL is wrong.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openClickHouse, type ClickHouseStore } from '../../engine/clickhouse/clickhouse-store.ts'
import { freePort } from '../../engine/nats/nats-endpoint.ts'
import { processChdbPath } from '../helpers/stack.ts'

describe('chDB store', () => {
  let store: ClickHouseStore
  beforeAll(async () => {
    store = await openClickHouse({ chdbPath: processChdbPath(), database: 'seam' })
  })
  afterAll(async () => store?.close())

  it('runs statements and binds parameters instead of splicing them', async () => {
    await store.command('CREATE TABLE IF NOT EXISTS seam.t (tenant String, v UInt32) ENGINE = MergeTree ORDER BY tenant')
    await store.command(`INSERT INTO seam.t SETTINGS async_insert = 0 FORMAT JSONEachRow\n{"tenant":"a","v":1}\n{"tenant":"b","v":2}\n`)
    const rows = await store.rows<{ v: number }>('SELECT v FROM seam.t WHERE tenant = {tenant:String}', { tenant: "a' OR 1=1 --" })
    expect(rows).toEqual([])
    expect(await store.rows('SELECT v FROM seam.t WHERE tenant = {tenant:String}', { tenant: 'b' })).toEqual([{ v: 2 }])
    expect(await store.ping()).toBe(true)
    expect(store.mode).toBe('chdb')
  })

  it('keeps a SETTINGS clause to its own query (chDB makes clickhouse_settings session-wide)', async () => {
    await store.rows('SELECT 1 SETTINGS readonly = 1')
    await store.command(`INSERT INTO seam.t SETTINGS async_insert = 0 FORMAT JSONEachRow\n{"tenant":"c","v":3}\n`)
    // UInt64 comes back as a number from chDB and as a string over HTTP: callers convert with Number().
    const [row] = await store.rows<{ n: number | string }>('SELECT count() AS n FROM seam.t')
    expect(Number(row?.n)).toBe(3)
  })
})

describe('HTTP store', () => {
  it('refuses to start with TM_ENGINE_CLICKHOUSE_UNAVAILABLE naming the URL when nothing answers there', async () => {
    const url = `http://127.0.0.1:${await freePort()}`
    await expect(openClickHouse({ url, database: 'tidemark' })).rejects.toMatchObject({
      code: 'TM_ENGINE_CLICKHOUSE_UNAVAILABLE',
      message: expect.stringContaining(url),
    })
  })
})
