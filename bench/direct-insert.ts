// Rows straight into ClickHouse the way storage writes them, without HTTP or
// JetStream: encoded to a RowBinary file by storage's encoder (its worker
// thread) and inserted with storage's statement (INSERT … SELECT FROM file,
// under a deduplication token), so the samples table's rollup views fill as
// they do in production. chDB only: a server cannot read this machine's files.
import fs from 'node:fs'
import { encodeBatch, type ClickHouseStore, type Sample } from '../engine/index.ts'
import { fileInsertStatement } from '../engine/storage/storage-insert.ts'
import { encodeToFile, scratchFile } from '../engine/storage/row-binary-encoder.ts'

/** A RowBinary file of `samples` under dir, ready for insertFile; returns its path and row count. */
export function rowBinaryFile(dir: string, samples: readonly Sample[]): Promise<{ file: string; rows: number }> {
  return rowBinaryFileOf(dir, [encodeBatch(samples as Sample[])], [1])
}

/** The same from stream messages as storage holds them (`datas[i]` is sequence `seqs[i]`). */
export async function rowBinaryFileOf(dir: string, datas: Uint8Array[], seqs: number[]): Promise<{ file: string; rows: number }> {
  fs.mkdirSync(dir, { recursive: true })
  const file = scratchFile(dir)
  const encoded = await encodeToFile({ datas, seqs, file })
  if (encoded.bad.length > 0) {
    fs.rmSync(file, { force: true })
    throw new Error(`the rows do not encode as RowBinary: ${encoded.bad[0]?.reason}`)
  }
  return { file, rows: encoded.rows }
}

/** Inserts a RowBinary file with storage's statement under `token`: ms taken by the INSERT. */
export async function insertFile(store: ClickHouseStore, file: string, token: string): Promise<number> {
  if (store.mode !== 'chdb') throw new Error('direct file inserts need chDB (a ClickHouse server reads its own disk, not this one)')
  const started = performance.now()
  await store.command(fileInsertStatement(store.database, token, file))
  return performance.now() - started
}
