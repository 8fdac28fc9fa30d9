// The storage consumer's counters, kept for /api/v2/health and for export as
// metrics. Counters only grow; the last* fields say what happened last.

export interface StorageStats {
  messages: number
  /** Watermark ticks of the stream engine acked without a write (they share the beacon subjects). */
  watermarkTicks: number
  /** Messages JetStream delivered more than once. */
  redelivered: number
  inserts: number
  rows: number
  /** Writes redone from an intent with its original token (a failed write of this process, or another engine's). */
  replayedIntents: number
  /** Messages of a replayed write read back from the stream, since they were not redelivered. */
  readFromStream: number
  /** Failed insert attempts, retried with the same token (ClickHouse down or busy). */
  insertFailures: number
  /** Inserts ClickHouse refused for their content, each split in two to find the refused messages. */
  refusedInserts: number
  /** Messages set aside in TM_DEAD_LETTERS: undecodable, or refused by ClickHouse for their content. */
  deadLetters: number
  /** Writes handed back to JetStream because NATS or KV failed (or a test hook threw); redone from their intent. */
  writeFailures: number
  /** Acks JetStream did not confirm; the intent then stays until the ack floor passes it. */
  ackFailures: number
  /** Messages let go unwritten because their keep-alives had not reached JetStream for half the ack wait. */
  lapsedMessages: number
  fetchFailures: number
  lastInsertMs: number
  /** Epoch ms of the last successful insert, 0 before the first. */
  lastInsertAt: number
  lastError: string | null
  lastDeadLetter: string | null
}

export function newStorageStats(): StorageStats {
  return {
    messages: 0,
    watermarkTicks: 0,
    redelivered: 0,
    inserts: 0,
    rows: 0,
    replayedIntents: 0,
    readFromStream: 0,
    insertFailures: 0,
    refusedInserts: 0,
    deadLetters: 0,
    writeFailures: 0,
    ackFailures: 0,
    lapsedMessages: 0,
    fetchFailures: 0,
    lastInsertMs: 0,
    lastInsertAt: 0,
    lastError: null,
    lastDeadLetter: null,
  }
}

export interface StorageLog {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}
