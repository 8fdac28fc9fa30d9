// Where ClickHouse is: chDB in-process under the data directory (the embedded
// default), or a ClickHouse server over HTTP (CLICKHOUSE_URL). Both go through
// @clickhouse/client, so every query and insert is the same code on either.
//
// On the chDB connection, `clickhouse_settings` become session-wide SET
// statements that stick for every later query (see DESIGN.md's measured facts),
// so per-query settings are always written in the SQL text, never passed there.
import fs from 'node:fs'
import tty from 'node:tty'
import os from 'node:os'
import path from 'node:path'
import { createClient, type ClickHouseClient } from '@clickhouse/client'
import { guardChdbConnection } from './chdb-output-guard.ts'
import { lowerChdbThreadPriority, type ThreadPriorityLog } from './thread-priority.ts'
import { EngineErrors } from '../errors.ts'

export type ClickHouseMode = 'chdb' | 'http'

export interface ClickHouseStoreOptions {
  /** http(s)://host:port of a ClickHouse server; absent means chDB under chdbPath. */
  url?: string
  username?: string
  password?: string
  chdbPath?: string
  database: string
  /** chDB only: the nice value its threads run at (TIDEMARK_STORAGE_NICE, thread-priority.ts); 0 or absent leaves them. */
  threadNice?: number
  /** Where a failure to lower them is reported (once). */
  log?: ThreadPriorityLog
}

export interface ClickHouseStore {
  readonly mode: ClickHouseMode
  readonly database: string
  readonly client: ClickHouseClient
  /**
   * A directory of this machine whose files the store can read with file(…):
   * chDB's only (a server's file() reads the server's disk). Storage writes its
   * RowBinary inserts there (storage-writer.ts).
   */
  readonly localFilesDir: string | null
  /** The nice value chDB's threads are lowered to (0: left alone; always 0 for a server). Storage's encode worker takes it too. */
  readonly threadNice: number
  /** Runs a statement that returns nothing (DDL, INSERT with inline data). */
  command(sql: string): Promise<void>
  /** Runs a SELECT and returns its rows as objects; params bind {name:Type} placeholders. */
  rows<T>(sql: string, params?: Record<string, unknown>): Promise<T[]>
  ping(): Promise<boolean>
  close(): Promise<void>
}

let stdinDetached = false

/**
 * chDB reads the process's standard input as external data for INSERTs: with a
 * pipe there, every insert fails ("both inlined and external data"). Point fd 0
 * at /dev/null before the engine loads: closing 0 makes the next open take it.
 */
export function detachStdinForChdb(): void {
  // tty.isatty, not process.stdin.isTTY: touching process.stdin would open a handle on fd 0.
  if (stdinDetached || tty.isatty(0)) return
  stdinDetached = true
  fs.closeSync(0)
  const fd = fs.openSync('/dev/null', 'r')
  if (fd !== 0) fs.closeSync(fd)
}

export async function openClickHouse(options: ClickHouseStoreOptions): Promise<ClickHouseStore> {
  let client: ClickHouseClient
  let mode: ClickHouseMode
  let localFilesDir: string | null = null
  let stopLowering = (): void => {}
  if (options.url) {
    mode = 'http'
    client = createClient({
      url: options.url,
      username: options.username ?? 'default',
      password: options.password ?? '',
      request_timeout: 60_000,
    })
  } else {
    mode = 'chdb'
    const chdbPath = options.chdbPath ?? ':memory:'
    if (chdbPath !== ':memory:') fs.mkdirSync(path.dirname(chdbPath), { recursive: true })
    // Beside chDB's directory (under the data directory), not in it: chDB owns what is inside.
    localFilesDir = chdbPath === ':memory:' ? path.join(os.tmpdir(), `tidemark-chdb-files-${process.pid}`) : path.join(path.dirname(chdbPath), 'chdb-files')
    detachStdinForChdb()
    // Imported only when used: the HTTP mode must not load the 500 MB engine.
    const { createChdbConnection } = await import('chdb/connection')
    // chdb types the connection against its own copy of @clickhouse/client-common; the shapes are the same.
    const connection = createChdbConnection({ path: chdbPath }) as unknown as NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>
    // A failed chDB query's output would otherwise open the next query's result (chdb-output-guard.ts).
    client = createClient({ connection: guardChdbConnection(connection) })
    stopLowering = lowerChdbThreadPriority(options.threadNice ?? 0, options.log).stop
  }
  const store: ClickHouseStore = {
    mode,
    database: options.database,
    client,
    localFilesDir,
    threadNice: mode === 'chdb' ? (options.threadNice ?? 0) : 0,
    async command(sql) {
      await client.command({ query: sql })
    },
    async rows<T>(sql: string, params?: Record<string, unknown>) {
      const result = await client.query({ query: sql, format: 'JSONEachRow', ...(params ? { query_params: params } : {}) })
      return (await result.json()) as T[]
    },
    async ping() {
      const result = await client.ping()
      return result.success
    },
    close: () => {
      stopLowering()
      return client.close()
    },
  }
  try {
    await store.command(`CREATE DATABASE IF NOT EXISTS ${options.database}`)
  } catch (err) {
    stopLowering()
    await client.close().catch(() => {})
    throw new EngineErrors.ClickHouseUnavailable(`${mode === 'http' ? options.url : 'chDB'}: ${(err as Error).message}`, { cause: err })
  }
  return store
}
