// chDB 26.7 (chdb 3.4.0) keeps what a failed query had already written (a
// JSONCompact header, the rows of the blocks before the failure) and hands it
// out at the front of the NEXT query's result, whoever sent it. Measured here:
// a SELECT failing at row 5,000 of 10,000 left 48,900 bytes of its rows in the
// next `SELECT 1`. Across tenants that is a leak (one analyst's rows in another
// tenant's answer) and anywhere else a corrupt result.
//
// So every operation on the chDB connection runs alone, and after one fails a
// throwaway statement takes the leftover before anything else may run. On a
// ClickHouse server each request has its own response, and nothing is needed.
import type { createClient } from '@clickhouse/client'

type Connection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>

/** What the throwaway statement runs: its result (the leftover and a 1) is dropped. */
export const DRAIN_STATEMENT = 'SELECT 1'

export function guardChdbConnection(connection: Connection): Connection {
  let tail: Promise<unknown> = Promise.resolve()
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const run = tail.then(async () => {
      try {
        return await work()
      } catch (err) {
        await connection.command({ query: DRAIN_STATEMENT }).catch(() => undefined)
        throw err
      }
    })
    tail = run.catch(() => undefined)
    return run
  }
  return {
    query: (params) => serial(() => connection.query(params)),
    exec: (params) => serial(() => connection.exec(params)),
    command: (params) => serial(() => connection.command(params)),
    insert: (params) => serial(() => connection.insert(params)),
    ping: (params) => serial(() => connection.ping(params)),
    close: () => serial(() => connection.close()),
  } as Connection
}
