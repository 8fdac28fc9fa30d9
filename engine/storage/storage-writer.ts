// Carries out one write of the storage consumer: gathers the batch's messages
// (delivered ones, and for a replay those read back from the stream), inserts
// their rows under the batch's token, retrying while ClickHouse is down or busy,
// isolates what ClickHouse refuses for its content (storage-insert.ts), and
// dead-letters that and what does not decode before anything is acknowledged.
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { ClickHouseStore } from '../clickhouse/clickhouse-store.ts'
import { isContentRefusal } from '../clickhouse/clickhouse-errors.ts'
import { publishDeadLetter } from './dead-letters.ts'
import { EngineErrors } from '../errors.ts'
import { retryWithBackoff } from '../retry.ts'
import fs from 'node:fs'
import { decodeItem, fileInsertStatement, insertIsolating, insertStatement, isolateRefusals, type BatchItem, type Refusal } from './storage-insert.ts'
import { encodeToFile, scratchFile, setEncodeWorkerNice } from './row-binary-encoder.ts'
import type { StorageLog, StorageStats } from './storage-stats.ts'
import { BEACONS_STREAM } from '../nats/subjects.ts'

export interface StorageWriterContext {
  js: JetStreamClient
  jsm: JetStreamManager
  store: ClickHouseStore
  consumerName: string
  stats: StorageStats
  /** Aborted on stop: retries end at once. */
  signal: AbortSignal
  log: StorageLog | undefined
  /**
   * RowBinary through a file, encoded in a worker thread (row-binary.ts): the
   * default where the store can read this machine's files (chDB). false, or an
   * HTTP server, inserts JSONCompactEachRow text from the main thread.
   */
  binary?: boolean
}

const INSERT_BACKOFF = { baseMs: 200, maxMs: 10_000 }
const DEAD_LETTER_BACKOFF = { baseMs: 250, maxMs: 5000 }

export class StorageWriter {
  /** Last time a write made progress: an insert, or a dead letter. */
  progressAt = Date.now()
  /** The insert under way while it fails: attempts, and since when. */
  retrying: { attempts: number; since: number } | null = null
  /** When each dead letter of this process was published, oldest first (health trims it). */
  readonly deadLetterTimes: number[] = []
  readonly #c: StorageWriterContext

  readonly #localFilesDir: string | null

  constructor(context: StorageWriterContext) {
    this.#c = context
    this.#localFilesDir = context.binary === false ? null : context.store.localFilesDir
    // The encode worker is storage's work as much as chDB's threads: the same lower priority (thread-priority.ts).
    if (this.#localFilesDir) setEncodeWorkerNice(context.store.threadNice)
  }

  /** Whether this writer inserts RowBinary: then messages are only counted on the main thread, never decoded (decodeItem). */
  get binary(): boolean {
    return this.#localFilesDir !== null
  }

  /**
   * The batch's messages in sequence order: the delivered ones, and the others
   * read back from the stream (not redelivered: acknowledged already, before a
   * failure, or held by another engine). A sequence gone from the stream (past
   * its age limit) has nothing left to store.
   */
  async itemsOf(seqs: readonly number[], delivered: ReadonlyMap<number, BatchItem>): Promise<BatchItem[]> {
    const missing = seqs.filter((seq) => !delivered.has(seq))
    const read = await Promise.all(missing.map((seq) => this.#c.jsm.streams.getMessage(BEACONS_STREAM, { seq })))
    this.#c.stats.readFromStream += missing.length
    const fromStream = new Map<number, BatchItem>()
    read.forEach((stored) => stored && fromStream.set(stored.seq, decodeItem(stored.seq, stored.subject, stored.data, { decode: !this.binary })))
    return seqs.flatMap((seq) => {
      const item = delivered.get(seq) ?? fromStream.get(seq)
      return item ? [item] : []
    })
  }

  /** Inserts what decodes under `token`, isolating what ClickHouse refuses; dead-letters the rest. Throws only what a redo may fix. */
  async store(items: readonly BatchItem[], token: string): Promise<void> {
    const refused: Refusal[] = []
    for (const item of items) if (item.problem !== null) refused.push({ item, error: new EngineErrors.BatchDecodeFailed(item.problem) })
    const decoded = items.filter((item) => item.problem === null)
    const onSplit = (): void => void this.#c.stats.refusedInserts++
    const dir = this.#localFilesDir
    if (dir) await isolateRefusals(decoded, token, (part, t) => this.#insertBinary(dir, part, t, refused), refused, onSplit)
    else await insertIsolating(decoded, token, (lines, t) => this.#insert(insertStatement(this.#c.store.database, t, lines), lines.length), refused, onSplit)
    for (const refusal of refused) await this.#deadLetter(refusal)
  }

  /**
   * Encodes `items` to a file in the worker and inserts it. Messages the encoder
   * finds are not rows are set aside as ClickHouse's refusals would be; the same
   * ones every time, so a redo inserts the same rows under the same token.
   */
  async #insertBinary(dir: string, items: readonly BatchItem[], token: string, refused: Refusal[]): Promise<void> {
    const file = scratchFile(dir)
    fs.mkdirSync(dir, { recursive: true })
    try {
      const encoded = await encodeToFile({ datas: items.map((i) => i.data), seqs: items.map((i) => i.seq), file })
      for (const { index, reason } of encoded.bad) {
        const item = items[index] as BatchItem
        // A half of a refused insert meets its bad messages again: set aside once.
        if (!refused.some((r) => r.item.seq === item.seq)) refused.push({ item, error: new EngineErrors.StorageBatchRefused(`not rows, found encoding RowBinary: ${reason}`) })
      }
      if (encoded.rows > 0) await this.#insert(fileInsertStatement(this.#c.store.database, token, file), encoded.rows)
    } finally {
      fs.rmSync(file, { force: true })
    }
  }

  async #insert(sql: string, rows: number): Promise<void> {
    const { store, stats, signal, log } = this.#c
    try {
      await retryWithBackoff(
        async () => {
          const started = performance.now()
          await store.command(sql)
          stats.lastInsertMs = performance.now() - started
        },
        {
          ...INSERT_BACKOFF,
          signal,
          giveUp: (err) => isContentRefusal(err) || signal.aborted,
          onRetry: (err, attempt) => {
            stats.insertFailures++
            this.retrying ??= { attempts: 0, since: Date.now() }
            this.retrying.attempts = attempt + 1
            const error = new EngineErrors.StorageInsertFailed((err as Error).message, { cause: err })
            stats.lastError = error.message
            log?.warn({ err: error, attempt, rows }, 'storage: insert failed, retrying with the same token')
          },
        }
      )
    } finally {
      this.retrying = null
    }
    stats.inserts++
    stats.rows += rows
    stats.lastInsertAt = this.progressAt = Date.now()
  }

  async #deadLetter({ item, error }: Refusal): Promise<void> {
    const { js, consumerName, stats, signal, log } = this.#c
    const letter = { seq: item.seq, subject: item.subject, data: item.data, code: error.code, reason: error.message }
    const ack = await retryWithBackoff(() => publishDeadLetter(js, consumerName, letter), {
      ...DEAD_LETTER_BACKOFF,
      signal,
      giveUp: () => signal.aborted,
      onRetry: (err) => {
        stats.lastError = (err as Error).message
        log?.warn({ err }, 'storage: publishing a dead letter failed; retrying')
      },
    })
    this.progressAt = Date.now()
    // A redone write publishes its dead letters again; JetStream drops the copy by its message id.
    if (ack.duplicate) return
    stats.deadLetters++
    stats.lastDeadLetter = `${item.subject} #${item.seq}: ${error.message}`
    this.deadLetterTimes.push(Date.now())
    log?.error({ seq: item.seq, subject: item.subject, code: error.code, reason: error.message }, 'storage: batch set aside in the dead-letter stream')
  }
}
