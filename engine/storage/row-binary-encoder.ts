// The main thread's side of the storage encode worker (encode-worker.ts): one
// thread for the process, started on the first binary write. Message bytes are
// copied to it (the originals stay for dead letters); the file's path and the
// bad messages come back, so a write allocates almost nothing per sample here.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Piscina } from 'piscina'
import type { EncodeResult, EncodeTask } from './encode-worker.ts'

const ENTRY = fileURLToPath(new URL('./encode-worker.mjs', import.meta.url))

let pool: Piscina<EncodeTask, EncodeResult> | undefined
/** The nice value the worker thread lowers itself to (thread-priority.ts); 0 leaves it at the process's. */
let workerNice = 0

/** Sets the encode worker thread's nice value (TIDEMARK_STORAGE_NICE); applies to the thread started next (at once when none runs). */
export function setEncodeWorkerNice(nice: number): void {
  if (nice === workerNice) return
  workerNice = nice
  // An idle pool's thread has the old value: a fresh pool starts the next one with the new.
  const old = pool
  pool = undefined
  void old?.close()
}

export interface EncodeWorkerData {
  nice: number
}

/** Encodes the messages to `file` in the worker thread; rows, and which messages (by index) are not rows. */
export function encodeToFile(task: EncodeTask): Promise<EncodeResult> {
  // One thread: writes run one at a time (chDB runs one query at a time anyway); an idle thread does not hold the process open.
  pool ??= new Piscina<EncodeTask, EncodeResult>({ filename: ENTRY, minThreads: 0, maxThreads: 1, idleTimeout: 30_000, workerData: { nice: workerNice } satisfies EncodeWorkerData })
  return pool.run(task)
}

/** A fresh file name under dir for one insert. */
let counter = 0
export function scratchFile(dir: string): string {
  return path.join(dir, `insert-${process.pid}-${Date.now()}-${counter++}.rowbinary`)
}
