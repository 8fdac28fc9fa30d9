// Insert intents: before storage inserts a batch it writes the batch's stream
// sequences and its deduplication token to a KV bucket. Whoever later receives
// one of those messages again (this process after a failure, or another engine
// after this one died) finds the intent and redoes the whole batch with the same
// token, which ClickHouse drops if the first insert landed. The batch is read
// back from the stream where a message is not redelivered (its ack landed), so
// an intent whose acks only partly landed is still completed.
import type { KV } from '@nats-io/kv'

export interface Intent {
  /** Stream sequences of the batch, ascending. */
  seqs: number[]
  token: string
}

export interface IntentEntry {
  key: string
  intent: Intent
  /** This process stored the batch: a late redelivery of one of its messages is only acknowledged. */
  done: boolean
}

const INTENT_PREFIX = 'batch.'

/** The intent of a new batch: the token names the consumer and the sequences, so it is the same on every replay. */
export function newIntent(consumerName: string, seqs: number[]): IntentEntry {
  const first = seqs[0] as number
  const last = seqs[seqs.length - 1] as number
  return { key: `${INTENT_PREFIX}${first}`, intent: { seqs, token: `${consumerName}:${first}-${last}:${seqs.length}` }, done: false }
}

/** A loop, not Math.max(...seqs): an intent of 100k single-sample messages would overflow the call stack. */
function highestSeq(intent: Intent): number {
  let highest = 0
  for (const seq of intent.seqs) if (seq > highest) highest = seq
  return highest
}

/** The intents this process knows, by sequence: its own and those other processes left in KV. */
export class IntentBook {
  /**
   * How long an intent stays after the ack floor passed all of it (set to the
   * ack wait): a message of it handed to another engine just before its ack is
   * looked up there well within that time, and finds the intent still there.
   */
  graceMs = 0
  readonly #kv: KV
  readonly #bySeq = new Map<number, IntentEntry>()
  readonly #byKey = new Map<string, IntentEntry>()
  readonly #finishedSince = new Map<string, number>()

  constructor(kv: KV) {
    this.#kv = kv
  }

  get(seq: number): IntentEntry | undefined {
    return this.#bySeq.get(seq)
  }

  get size(): number {
    return this.#byKey.size
  }

  /** Makes the intent durable, then known here; a failed put leaves it unknown here (KV may hold it: a reload finds it). */
  async save(entry: IntentEntry): Promise<void> {
    await this.#kv.put(entry.key, JSON.stringify(entry.intent))
    this.#add(entry)
  }

  /** The batch is stored and every one of its messages acknowledged: nobody needs the intent any more. */
  async remove(entry: IntentEntry): Promise<void> {
    await this.#kv.delete(entry.key)
    this.#forget(entry.key)
  }

  /**
   * Reads every intent in KV, this process's or another's, and deletes those
   * finished (every sequence at or below the consumer's ack floor, for graceMs:
   * all acknowledged, only their delete was lost). Additive: an intent saved
   * here while the listing ran is kept.
   */
  async load(ackFloor: number): Promise<void> {
    const now = Date.now()
    for await (const key of await this.#kv.keys(`${INTENT_PREFIX}*`)) {
      const entry = await this.#kv.get(key)
      if (!entry || entry.operation !== 'PUT') continue
      const intent = entry.json<Intent>()
      if (this.#finished(key, intent, ackFloor, now)) {
        await this.#kv.delete(key)
        this.#forget(key)
      } else if (!this.#byKey.has(key)) {
        this.#add({ key, intent, done: false })
      }
    }
  }

  /** Deletes the known intents that are finished: those completed here whose other messages were acknowledged elsewhere, and those left over. */
  async sweep(ackFloor: number): Promise<void> {
    const now = Date.now()
    for (const entry of [...this.#byKey.values()]) {
      if (this.#finished(entry.key, entry.intent, ackFloor, now)) await this.remove(entry)
    }
  }

  #finished(key: string, intent: Intent, ackFloor: number, now: number): boolean {
    if (highestSeq(intent) > ackFloor) {
      this.#finishedSince.delete(key)
      return false
    }
    const since = this.#finishedSince.get(key) ?? now
    this.#finishedSince.set(key, since)
    return now - since >= this.graceMs
  }

  #add(entry: IntentEntry): void {
    this.#byKey.set(entry.key, entry)
    for (const seq of entry.intent.seqs) this.#bySeq.set(seq, entry)
  }

  #forget(key: string): void {
    this.#finishedSince.delete(key)
    const entry = this.#byKey.get(key)
    if (!entry) return
    this.#byKey.delete(key)
    for (const seq of entry.intent.seqs) if (this.#bySeq.get(seq) === entry) this.#bySeq.delete(seq)
  }
}
