// The SQL console's function allow-list against the running ClickHouse's own
// catalogue (system.functions, system.table_functions): every name is real, no
// table function or known reader is on it, and no function differing only in
// case slips in through the case-insensitive match.
import fs from 'node:fs'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openClickHouse, type ClickHouseStore } from '../../engine/clickhouse/clickhouse-store.ts'
import { AGGREGATE_FUNCTIONS, isAllowedFunction, SCALAR_FUNCTIONS, WINDOW_FUNCTIONS } from '../../query/sql/function-allow-list.ts'
import { tempDir } from '../helpers/stack.ts'

let dir: string
let store: ClickHouseStore
let functions: Array<{ name: string; case_insensitive: number; alias_to: string; is_aggregate: number }>
let tableFunctions: Set<string>

/** Names ClickHouse's parser makes (count(DISTINCT x)) or knows without listing them. */
const PARSER_NAMES = new Set(['countDistinct', 'lambda', 'caseWithExpression', 'exists', 'untuple'])
const LISTED = [...AGGREGATE_FUNCTIONS, ...WINDOW_FUNCTIONS, ...SCALAR_FUNCTIONS]

beforeAll(async () => {
  dir = tempDir('allow-list')
  store = await openClickHouse({ database: 'tidemark', chdbPath: `${dir}/chdb` })
  functions = await store.rows('SELECT name, case_insensitive, alias_to, is_aggregate FROM system.functions')
  tableFunctions = new Set((await store.rows<{ name: string }>('SELECT name FROM system.table_functions')).map((r) => r.name))
})
afterAll(async () => {
  await store?.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

it('lists only functions this ClickHouse has', () => {
  const known = new Set(functions.map((f) => f.name))
  expect(LISTED.filter((name) => !known.has(name) && !PARSER_NAMES.has(name))).toEqual([])
  expect(new Set(LISTED).size).toBe(LISTED.length)
})

it('lists no table function', () => {
  expect(LISTED.filter((name) => tableFunctions.has(name))).toEqual([])
})

it('lists aggregates as aggregates, so their combinators mean what they say', () => {
  const aggregate = new Map(functions.map((f) => [f.name, f.is_aggregate === 1]))
  expect(AGGREGATE_FUNCTIONS.filter((name) => aggregate.get(name) === false)).toEqual([])
})

it('lets no function in by a case-insensitive match that is not the listed one', () => {
  const listed = new Set(LISTED)
  const byLower = new Map(LISTED.map((name) => [name.toLowerCase(), name]))
  const aliasOf = new Map(functions.map((f) => [f.name, f.alias_to || f.name]))
  const canonical = (name: string): string => aliasOf.get(name) ?? name
  const suspicious = functions
    .filter((f) => isAllowedFunction(f.name) && !listed.has(f.name))
    .filter((f) => {
      const twin = byLower.get(f.name.toLowerCase())
      // Spelled like a listed function but registered apart from it: only another name of the same function may pass.
      if (twin !== undefined) return canonical(f.name) !== canonical(twin)
      // Otherwise it passed as a listed aggregate with combinators (sumMap, groupArrayIf…): it must be an aggregate.
      return f.is_aggregate !== 1
    })
  expect(suspicious.map((f) => f.name)).toEqual([])
})

it('refuses the functions that read files, the network, other tables or the server', () => {
  const readers = ['file', 'FILE', 'url', 'dictGet', 'dictGetString', 'dictHas', 'joinGet', 'joinGetOrNull', 'getSetting', 'getSettingOrDefault', 'hostName', 'fqdn',
    'currentDatabase', 'currentUser', 'version', 'uptime', 'hasColumnInTable', 'getMacro', 'getServerPort', 'filesystemAvailable', 'sleep', 'sleepEachRow', 'throwIf',
    'initialQueryID', 'queryID', 'fuzzQuery', 'catboostEvaluate', 'evalMLMethod', 'fileIf', 'dictGetIf', 'transactionID', 'globalVariable', 'currentQueryID']
  expect(readers.filter((name) => isAllowedFunction(name))).toEqual([])
  for (const f of functions) if (tableFunctions.has(f.name)) expect(isAllowedFunction(f.name), f.name).toBe(false)
})

it('takes aggregates with their combinators', () => {
  for (const name of ['sumIf', 'countIf', 'quantileIf', 'quantilesTDigestIf', 'uniqState', 'uniqMerge', 'avgOrNull', 'sumIfOrNull', 'groupArrayDistinct', 'COUNT', 'Sum']) {
    expect(isAllowedFunction(name), name).toBe(true)
  }
})
