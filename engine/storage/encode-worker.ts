// The storage encode worker: RowBinary of one insert's messages, written to the
// file ClickHouse then reads with INSERT … SELECT FROM file(…). Runs in a worker
// thread, so decoding the samples and encoding the rows (the garbage of a write)
// stay off the main event loop. Only the file's path and the bad messages go back.
import fs from 'node:fs'
import { Piscina } from 'piscina'
import { lowerOwnThreadPriority } from '../clickhouse/thread-priority.ts'
import { encodeRowBinary } from './row-binary.ts'
import type { EncodeWorkerData } from './row-binary-encoder.ts'

// Storage's encoding yields the cores to the event loop and the stream engine, as chDB's threads do (TIDEMARK_STORAGE_NICE).
// No logger here: a failure would be the one the main thread's scan of chDB's threads logs (the same setpriority, the same rights).
lowerOwnThreadPriority((Piscina.workerData as EncodeWorkerData | undefined)?.nice ?? 0)

export interface EncodeTask {
  datas: Uint8Array[]
  seqs: number[]
  /** Where to write the rows; not written when there are none. */
  file: string
}

export interface EncodeResult {
  rows: number
  bytes: number
  bad: Array<{ index: number; reason: string }>
}

export default function encodeToFile(task: EncodeTask): EncodeResult {
  const { bytes, rows, bad } = encodeRowBinary(task.datas, task.seqs)
  if (rows > 0) fs.writeFileSync(task.file, bytes)
  return { rows, bytes: bytes.byteLength, bad }
}
