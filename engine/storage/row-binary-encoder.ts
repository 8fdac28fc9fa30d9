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

/** Encodes the messages to `file` in the worker thread; rows, and which messages (by index) are not rows. */
export function encodeToFile(task: EncodeTask): Promise<EncodeResult> {
  // One thread: writes run one at a time (chDB runs one query at a time anyway); an idle thread does not hold the process open.
  pool ??= new Piscina<EncodeTask, EncodeResult>({ filename: ENTRY, minThreads: 0, maxThreads: 1, idleTimeout: 30_000 })
  return pool.run(task)
}

/** A fresh file name under dir for one insert. */
let counter = 0
export function scratchFile(dir: string): string {
  return path.join(dir, `insert-${process.pid}-${Date.now()}-${counter++}.rowbinary`)
}
