// chDB hands what a failed query had written to the next query (chdb-output-guard.ts).
// Through openClickHouse, a query that failed half-way leaves nothing behind: the
// next one, whatever its format, gets exactly its own rows.
import fs from 'node:fs'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openClickHouse, type ClickHouseStore } from '../../engine/clickhouse/clickhouse-store.ts'
import { tempDir } from '../helpers/stack.ts'

let dir: string
let store: ClickHouseStore

beforeAll(async () => {
  dir = tempDir('chdb-guard')
  store = await openClickHouse({ database: 'tidemark', chdbPath: `${dir}/chdb` })
})
afterAll(async () => {
  await store?.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

// Fails at row 5,000, after 50 blocks of 100 rows were written.
const FAILS_HALF_WAY = 'SELECT number, intDiv(1, 5000 - number) AS x FROM numbers(10000) SETTINGS max_block_size = 100, max_threads = 1'

for (const format of ['JSONEachRow', 'JSONCompactEachRow', 'JSONCompact', 'CSV'] as const) {
  it(`leaves nothing of a ${format} query that failed half-way for the next query`, async () => {
    await expect(store.client.query({ query: FAILS_HALF_WAY, format })).rejects.toMatchObject({ type: 'ILLEGAL_DIVISION' })
    expect(await store.rows('SELECT 1 AS one')).toEqual([{ one: 1 }])
  })
}

it('keeps concurrent callers apart: each gets its own answer while others fail', async () => {
  const work = Array.from({ length: 20 }, (_, i) =>
    i % 2 === 0
      ? store.client.query({ query: FAILS_HALF_WAY, format: 'JSONEachRow' }).then(
          () => 'no error',
          () => 'failed'
        )
      : store.rows<{ n: number }>(`SELECT ${i} AS n`)
  )
  const results = await Promise.all(work)
  results.forEach((result, i) => expect(result).toEqual(i % 2 === 0 ? 'failed' : [{ n: i }]))
})
