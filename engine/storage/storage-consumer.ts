// The storage consumer: pulls beacon batches from JetStream, writes their
// samples to ClickHouse in large inserts, and acks JetStream only after
// ClickHouse accepted them. Nothing acknowledged to a client is lost, nothing
// redelivered is stored twice, and nothing storage cannot store stops it:
//
// - Every insert carries a deduplication token, and its intent (sequences and
//   token) is in KV before it starts (storage-intents.ts). A redelivered message
//   that belongs to an intent is stored by redoing the whole intent with its
//   token, reading from the stream the messages that are not redelivered (their
//   acks landed), so an interrupted or partly acknowledged write completes.
// - Held is not forgotten: storage pulls only while fewer than maxQueuedWrites
//   writes wait, one fetch at a time sized to what fits, and sends +WPI for
//   every message it holds each quarter of the ack wait, so JetStream never
//   hands a held message to another engine however slow ClickHouse is. A message
//   whose keep-alives did not reach JetStream for half the ack wait (NATS was
//   unreachable) may have been handed on: it is let go, never written or nakked.
// - A redelivered message is routed only after the intents were re-read from
//   KV, after it arrived: another engine's intent for it is then known.
// - A batch ClickHouse refuses for its content is halved until the refused
//   messages stand alone (storage-insert.ts); those, and messages that do not
//   decode, go to the dead-letter stream (dead-letters.ts) before their ack
//   (storage-writer.ts carries out a write).
import { setTimeout as sleep } from 'node:timers/promises'
import type { Consumer, ConsumerInfo, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream'
import type { KV } from '@nats-io/kv'
import { ClosedConnectionError } from '@nats-io/transport-node'
import type { ClickHouseStore } from '../clickhouse/clickhouse-store.ts'
import { EngineErrors } from '../errors.ts'
import { isControlMessage } from '../stream/config-markers.ts'
import { isWatermarkTick } from '../stream/watermark-ticks.ts'
import { backoffDelayMs, within } from '../retry.ts'
import { assessStorageHealth, DEFAULT_STORAGE_HEALTH, type StorageHealthThresholds } from './storage-health.ts'
import { decodeItem, type BatchItem } from './storage-insert.ts'
import { IntentBook, newIntent, type IntentEntry } from './storage-intents.ts'
import { newStorageStats, type StorageLog, type StorageStats } from './storage-stats.ts'
import { StorageWriter } from './storage-writer.ts'
import { BEACONS_STREAM, STORAGE_CONSUMER } from '../nats/subjects.ts'

export interface StorageConsumerOptions {
  js: JetStreamClient
  store: ClickHouseStore
  /** KV bucket holding insert intents. */
  state: KV
  batchRows: number
  lingerMs: number
  consumerName?: string
  /** Writes queued or under way beyond which storage stops pulling (default 2: one written, one ready, as chDB runs one statement at a time). */
  maxQueuedWrites?: number
  /** When health() says not ok (storage-health.ts). */
  health?: Partial<StorageHealthThresholds>
  log?: StorageLog
  /** RowBinary inserts encoded off the main thread (default where the store reads local files: chDB); false for JSON text. */
  binaryInserts?: boolean
  /** Runs after a write's inserts succeeded and before its acks: tests use it to die at the worst moment. */
  afterInsert?: (token: string, messages: readonly JsMsg[]) => Promise<void> | void
}

export type { StorageStats } from './storage-stats.ts'

/** A delivered message, decoded once; aliveAt: JetStream's ack timer for it was last reset at or after this (epoch ms). */
interface Delivery {
  m: JsMsg
  item: BatchItem
  aliveAt: number
}

/** One insert (or a replay of one) and the latest delivery of each of its messages. */
interface Write {
  entry: IntentEntry
  deliveries: Map<number, Delivery>
  /** Fresh writes: the intent's put, started when the write was queued. Replays have their intent already. */
  saved: Promise<void> | undefined
  /** A replay waits until then for the rest of its messages before reading them from the stream. */
  readyAt: number
}

const FETCH_MAX_MESSAGES = 1000
/** nats.js' shortest fetch. Messages are handled as they arrive; this only bounds an idle pull. */
const FETCH_EXPIRES_MS = 1000
const FETCH_BACKOFF = { baseMs: 100, maxMs: 2000 }
/** Nak delay of handed-back messages, growing while writes keep failing, so a lasting failure is not a hot loop. */
const HAND_BACK_BACKOFF = { baseMs: 250, maxMs: 5000 }
/** Keep-alives go out every quarter of the ack wait, and at least this often, since the same tick refreshes the lag health reports. */
const KEEP_ALIVE_MAX_MS = 5000
/** health() reuses consumer info this fresh, and waits at most this long for a new one. */
const HEALTH_INFO_MAX_AGE_MS = 1000
const HEALTH_INFO_WAIT_MS = 500
/** stop() waits this long for the insert under way: one chDB is running cannot be taken back. */
const STOP_GRACE_MS = 5000

const rowsOf = (d: Delivery): number => d.item.rows

export class StorageConsumer {
  readonly stats: StorageStats = newStorageStats()
  readonly #o: StorageConsumerOptions
  readonly #name: string
  readonly #maxQueuedWrites: number
  readonly #thresholds: StorageHealthThresholds
  readonly #intents: IntentBook
  readonly #abort = new AbortController()
  #jsm: JetStreamManager | undefined
  #consumer: Consumer | undefined
  #writer: StorageWriter | undefined
  /** The consumer's own setting (JetStream redelivers by it), read at start. */
  #ackWaitMs = 30_000
  #stopped = false
  #pumping: Promise<void> | undefined
  #fetch: ConsumerMessages | undefined
  #keepAlive: NodeJS.Timeout | undefined
  #ticking = false
  /** Fresh messages by sequence: a redelivery replaces its earlier delivery, never joins it. */
  #buffer = new Map<number, Delivery>()
  #bufferRows = 0
  #linger: NodeJS.Timeout | undefined
  #flushDue = false
  /** Redelivered messages waiting for the intents to be re-read. */
  #unsure: Delivery[] = []
  #settling: Promise<void> | undefined
  readonly #queue: Write[] = []
  /** Every sequence of a queued write, to that write: its redeliveries join it. */
  readonly #writes = new Map<number, Write>()
  #runner: Promise<void> | undefined
  #room: Array<() => void> = []
  /** Running estimate, to size fetches to what fits; starts at ingest's largest batch. */
  #rowsPerMessage = 1000
  #handBacks = 0
  #info: { info: ConsumerInfo; at: number } | undefined
  #infoRequest: Promise<ConsumerInfo> | undefined

  constructor(options: StorageConsumerOptions) {
    this.#o = options
    this.#name = options.consumerName ?? STORAGE_CONSUMER
    this.#maxQueuedWrites = options.maxQueuedWrites ?? 2
    this.#thresholds = { ...DEFAULT_STORAGE_HEALTH, ...options.health }
    this.#intents = new IntentBook(options.state)
  }

  async start(): Promise<void> {
    const jsm = await this.#o.js.jetstreamManager()
    this.#jsm = jsm
    const { js, store, log } = this.#o
    this.#writer = new StorageWriter({ js, jsm, store, consumerName: this.#name, stats: this.stats, signal: this.#abort.signal, log, binary: this.#o.binaryInserts })
    const info = await this.#requestInfo()
    this.#ackWaitMs = (info.config.ack_wait ?? 30e9) / 1e6
    this.#intents.graceMs = this.#ackWaitMs
    // Intents left by an earlier run or another engine: their messages come back as redeliveries.
    await this.#intents.load(info.ack_floor.stream_seq)
    if (this.#intents.size > 0) this.#o.log?.info({ intents: this.#intents.size }, 'storage: redoing interrupted inserts')
    this.#consumer = await this.#o.js.consumers.get(BEACONS_STREAM, this.#name)
    const keepAliveMs = Math.max(50, Math.min(KEEP_ALIVE_MAX_MS, this.#ackWaitMs / 4))
    this.#keepAlive = setInterval(() => void this.#tick(keepAliveMs), keepAliveMs).unref()
    this.#pumping = this.#pump()
  }

  async #pump(): Promise<void> {
    for (let failures = 0; !this.#stopped; ) {
      // Bounded: nothing is pulled while the queue is full, so nothing waits unseen (and without keep-alives) in a client buffer.
      while (!this.#stopped && this.#queue.length >= this.#maxQueuedWrites) await new Promise<void>((resolve) => this.#room.push(resolve))
      if (this.#stopped) break
      try {
        const batch = await this.#consumer!.fetch({ max_messages: this.#fetchSize(), expires: FETCH_EXPIRES_MS })
        this.#fetch = batch
        if (this.#stopped) await batch.close()
        for await (const m of batch) this.#receive(m)
        failures = 0
      } catch (err) {
        if (this.#stopped || err instanceof ClosedConnectionError) break
        this.stats.fetchFailures++
        this.#noteError(err, 'storage: fetching from JetStream failed; retrying')
        await sleep(backoffDelayMs(failures++, FETCH_BACKOFF), undefined, { signal: this.#abort.signal }).catch(() => {})
      } finally {
        this.#fetch = undefined
      }
    }
  }

  /** As many messages as fill the room left in the queue, by the running estimate of rows per message. */
  #fetchSize(): number {
    let held = this.#bufferRows
    for (const w of this.#queue) for (const d of w.deliveries.values()) held += rowsOf(d)
    const room = this.#o.batchRows * this.#maxQueuedWrites - held
    return Math.max(1, Math.min(FETCH_MAX_MESSAGES, Math.floor(room / Math.max(1, this.#rowsPerMessage))))
  }

  #receive(m: JsMsg): void {
    // The stream engine's watermark ticks and config markers share the partitions' subjects
    // (engine/stream/watermark-ticks.ts, config-markers.ts): nothing to store.
    if (isControlMessage(m)) {
      if (isWatermarkTick(m)) this.stats.watermarkTicks++
      m.ack()
      return
    }
    const d: Delivery = { m, item: decodeItem(m.seq, m.subject, m.data, { decode: !this.#writer!.binary }), aliveAt: Date.now() }
    this.stats.messages++
    this.#rowsPerMessage += (rowsOf(d) - this.#rowsPerMessage) / 16
    if (m.redelivered) {
      this.stats.redelivered++
      // It may belong to another engine's interrupted write whose intent reached KV after we last looked.
      if (!this.#writes.has(m.seq) && !this.#intents.get(m.seq)) {
        this.#unsure.push(d)
        this.#settleUnsure()
        return
      }
    }
    this.#route(d)
  }

  /** Re-reads the intents once for every wave of redeliveries that arrived before the read began. */
  #settleUnsure(): void {
    if (this.#settling) return
    this.#settling = (async () => {
      while (this.#unsure.length > 0 && !this.#stopped) {
        const wave = this.#unsure.splice(0)
        try {
          await this.#intents.load(this.#info?.info.ack_floor.stream_seq ?? 0)
        } catch (err) {
          // Whose they are cannot be told: let them lapse, JetStream redelivers them after the ack wait.
          this.stats.lapsedMessages += wave.length
          this.#noteError(err, 'storage: could not read the intents; leaving redelivered messages to JetStream')
          continue
        }
        for (const d of wave) this.#route(d)
      }
    })().finally(() => {
      this.#settling = undefined
      if (this.#unsure.length > 0 && !this.#stopped) this.#settleUnsure()
    })
  }

  #route(d: Delivery): void {
    if (this.#stopped) return this.#handBack([d])
    const seq = d.m.seq
    const write = this.#writes.get(seq)
    if (write) {
      write.deliveries.set(seq, d)
      return
    }
    const entry = this.#intents.get(seq)
    if (entry?.done) {
      // Stored by a write of this process whose acks did not all land.
      d.m.ackAck().catch(() => {})
      return
    }
    if (entry) {
      this.#enqueue({ entry, deliveries: new Map([[seq, d]]), saved: undefined, readyAt: Date.now() + this.#o.lingerMs })
      return
    }
    const earlier = this.#buffer.get(seq)
    this.#buffer.set(seq, d)
    this.#bufferRows += rowsOf(d) - (earlier ? rowsOf(earlier) : 0)
    if (this.#bufferRows >= this.#o.batchRows) this.#flush()
    else this.#linger ??= setTimeout(() => this.#flush(), this.#o.lingerMs)
  }

  /** Turns what is buffered into writes of at most batchRows rows, as long as the queue has room (else when it has). */
  #flush(): void {
    clearTimeout(this.#linger)
    this.#linger = undefined
    while (this.#buffer.size > 0 && !this.#stopped) {
      if (this.#queue.length >= this.#maxQueuedWrites) {
        this.#flushDue = true
        return
      }
      this.#flushDue = false
      const now = Date.now()
      const deliveries = new Map<number, Delivery>()
      let rows = 0
      for (const [seq, d] of [...this.#buffer].sort((a, b) => a[0] - b[0])) {
        if (deliveries.size > 0 && rows + rowsOf(d) > this.#o.batchRows) break
        this.#buffer.delete(seq)
        this.#bufferRows -= rowsOf(d)
        // JetStream may have handed it to another engine already: claiming it in an intent could store it twice.
        if (this.#lapsed(d, now)) this.stats.lapsedMessages++
        else {
          deliveries.set(seq, d)
          rows += rowsOf(d)
        }
      }
      if (deliveries.size === 0) continue
      const entry = newIntent(this.#name, [...deliveries.keys()])
      // The intent is written now, while the write waits its turn, not when it starts.
      const saved = this.#intents.save(entry)
      saved.catch(() => {})
      this.#enqueue({ entry, deliveries, saved, readyAt: 0 })
    }
  }

  #enqueue(w: Write): void {
    for (const seq of w.entry.intent.seqs) this.#writes.set(seq, w)
    this.#queue.push(w)
    this.#runWrites()
  }

  /** Writes run one at a time, in order. */
  #runWrites(): void {
    if (this.#runner) return
    this.#runner = (async () => {
      while (this.#queue.length > 0 && !this.#stopped) {
        await this.#runWrite(this.#queue[0] as Write)
        this.#queue.shift()
        for (const wake of this.#room.splice(0)) wake()
        if (this.#flushDue || this.#bufferRows >= this.#o.batchRows) this.#flush()
      }
    })()
    void this.#runner.then(() => {
      this.#runner = undefined
      if (this.#queue.length > 0 && !this.#stopped) this.#runWrites()
    })
  }

  async #runWrite(w: Write): Promise<void> {
    const { token } = w.entry.intent
    try {
      if (w.saved) await w.saved
      else await this.#replayReady(w)
      const delivered = new Map([...w.deliveries].map(([seq, d]) => [seq, d.item]))
      const items = await this.#writer!.itemsOf(w.entry.intent.seqs, delivered)
      await this.#writer!.store(items, token)
      await this.#o.afterInsert?.(token, [...w.deliveries.values()].map((d) => d.m))
    } catch (err) {
      // Its intent (if saved) stays: the messages come back and the write is redone with the same token.
      this.stats.writeFailures++
      this.#noteError(err, 'storage: write failed; handing its messages back to JetStream')
      this.#release(w)
      this.#handBack(w.deliveries.values())
      return
    }
    await this.#acknowledge(w)
  }

  /** A replay waits a linger for the rest of its messages to be redelivered, then reads the others from the stream. */
  async #replayReady(w: Write): Promise<void> {
    while (!this.#stopped && w.deliveries.size < w.entry.intent.seqs.length && Date.now() < w.readyAt) await sleep(10)
  }

  async #acknowledge(w: Write): Promise<void> {
    const acked = new Set<JsMsg>()
    const ackedSeqs = new Set<number>()
    let confirmed = true
    // A redelivery may join while the acks' round trip is under way: ack until none is left unacked.
    for (;;) {
      const pending = [...w.deliveries.values()].filter((d) => !acked.has(d.m))
      if (pending.length === 0) break
      for (const d of pending) {
        try {
          d.m.ack()
        } catch {
          // The connection is gone: JetStream redelivers after the ack wait, and the intent stays for it.
          confirmed = false
          this.stats.ackFailures++
        }
        acked.add(d.m)
        ackedSeqs.add(d.m.seq)
      }
      // One request on the same connection after them: its answer means the server read every ack before it. An
      // ackAck a message was a request each, about 1,600 for a 100k-row write, sent all at once after every
      // insert: a burst of NATS.js request work on the event loop (and of JetStream API replies) that every
      // trigger decision and ingest request then waited behind.
      try {
        await this.#requestInfo()
      } catch {
        confirmed = false
        this.stats.ackFailures++
      }
    }
    // Synchronously with the loop's last check: from here a redelivery finds the intent, no longer the write.
    this.#release(w)
    const { entry } = w
    entry.done = true
    if (!w.saved) this.stats.replayedIntents++
    this.#writer!.progressAt = Date.now()
    this.#handBacks = 0
    const now = Date.now()
    // Deleted at once only if no other engine can hold one of its messages: all acked here, by deliveries that never lapsed.
    const alone = confirmed && entry.intent.seqs.every((seq) => ackedSeqs.has(seq)) && [...w.deliveries.values()].every((d) => !this.#lapsed(d, now))
    if (alone) await this.#intents.remove(entry).catch(() => {})
  }

  #release(w: Write): void {
    for (const seq of w.entry.intent.seqs) if (this.#writes.get(seq) === w) this.#writes.delete(seq)
  }

  /** JetStream may have redelivered it elsewhere by now. */
  #lapsed(d: Delivery, now: number): boolean {
    return now - d.aliveAt > this.#ackWaitMs / 2
  }

  /** Gives messages back to JetStream unwritten, after a backoff; a lapsed one is only let go, since a nak could deliver it twice. */
  #handBack(deliveries: Iterable<Delivery>): void {
    const now = Date.now()
    const delay = backoffDelayMs(this.#handBacks++, HAND_BACK_BACKOFF)
    for (const d of deliveries) {
      if (this.#lapsed(d, now)) {
        this.stats.lapsedMessages++
        continue
      }
      try {
        d.m.nak(delay)
      } catch {
        // The connection is gone: JetStream redelivers after the ack wait.
      }
    }
  }

  *#held(): Generator<Delivery> {
    yield* this.#buffer.values()
    yield* this.#unsure
    for (const w of this.#queue) yield* w.deliveries.values()
  }

  /** Keeps every held message alive, confirms that JetStream got the keep-alives, and refreshes the lag. */
  async #tick(intervalMs: number): Promise<void> {
    if (this.#ticking || this.#stopped) return
    this.#ticking = true
    try {
      const sentAt = Date.now()
      const sent: Delivery[] = []
      for (const d of this.#held()) {
        if (sentAt - d.aliveAt < intervalMs / 2) continue
        d.m.working()
        sent.push(d)
      }
      // A round trip on the same connection: the +WPIs before it reached the server.
      const info = await this.#requestInfo()
      for (const d of sent) d.aliveAt = Math.max(d.aliveAt, sentAt)
      if (this.#held().next().done && info.num_pending === 0) this.#writer!.progressAt = Date.now()
      await this.#intents.sweep(info.ack_floor.stream_seq)
    } catch {
      // NATS unreachable: nothing was confirmed, and health shows how old the lag figures are.
    } finally {
      this.#ticking = false
    }
  }

  #requestInfo(): Promise<ConsumerInfo> {
    return this.#jsm!.consumers.info(BEACONS_STREAM, this.#name).then((info) => {
      this.#info = { info, at: Date.now() }
      return info
    })
  }

  #noteError(err: unknown, msg: string): void {
    this.stats.lastError = (err as Error).message
    this.#o.log?.warn({ err }, msg)
  }

  /** What /api/v2/health reports for storage: ok false (503) with a reason when storage is stuck or dead-lettering. */
  async health(): Promise<{ ok: boolean; reason?: string } & Record<string, unknown>> {
    if (this.#jsm && (!this.#info || Date.now() - this.#info.at > HEALTH_INFO_MAX_AGE_MS)) {
      this.#infoRequest ??= this.#requestInfo().finally(() => (this.#infoRequest = undefined))
      await within(this.#infoRequest.catch(() => undefined), HEALTH_INFO_WAIT_MS)
    }
    const now = Date.now()
    let heldMessages = 0
    let heldRows = 0
    for (const d of this.#held()) {
      heldMessages++
      heldRows += rowsOf(d)
    }
    const writer = this.#writer
    const deadLetterTimes = writer?.deadLetterTimes ?? []
    while ((deadLetterTimes[0] ?? now) < now - this.#thresholds.deadLetterWindowMs) deadLetterTimes.shift()
    const info = this.#info?.info
    const retrying = writer?.retrying ? { attempts: writer.retrying.attempts, sinceMs: now - writer.retrying.since } : null
    const verdict = assessStorageHealth(
      {
        now,
        heldMessages,
        undelivered: info?.num_pending ?? null,
        progressAt: writer?.progressAt ?? now,
        retrying,
        recentDeadLetters: deadLetterTimes.length,
        lastError: this.stats.lastError,
      },
      this.#thresholds
    )
    const failure = verdict.ok ? {} : { code: 'TM_ENGINE_STORAGE_UNHEALTHY', reason: new EngineErrors.StorageUnhealthy(verdict.reason).message }
    return {
      ok: verdict.ok,
      ...failure,
      lag: { undelivered: info?.num_pending ?? null, unacknowledged: info?.num_ack_pending ?? null, ageMs: this.#info ? now - this.#info.at : null },
      held: { messages: heldMessages, rows: heldRows, writes: this.#queue.length },
      intents: this.#intents.size,
      lastInsertAgoMs: this.stats.lastInsertAt ? now - this.stats.lastInsertAt : null,
      retrying,
      recentDeadLetters: deadLetterTimes.length,
      ...this.stats,
    }
  }

  /** Stops after everything JetStream holds for this consumer is stored, or when timeoutMs ran out (ClickHouse down or not). */
  async drain(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline && !this.#stopped) {
      this.#flush()
      if (this.#buffer.size === 0 && this.#queue.length === 0 && this.#unsure.length === 0) {
        // num_ack_pending is not waited on: it counts other engines' messages, and messages delivered to a fetch an outage
        // cut short, which JetStream redelivers after the ack wait. Nothing of ours is lost.
        const info = await within(
          this.#requestInfo().catch(() => undefined),
          deadline - Date.now()
        )
        if (info?.num_pending === 0 && this.#buffer.size === 0 && this.#queue.length === 0) break
      }
      await sleep(Math.min(50, Math.max(0, deadline - Date.now())))
    }
    await this.stop(Math.max(0, deadline - Date.now()))
  }

  /** Stops pulling and hands back what was not written; waits up to graceMs for the write under way. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true
      this.#abort.abort()
      clearTimeout(this.#linger)
      clearInterval(this.#keepAlive)
      for (const wake of this.#room.splice(0)) wake()
      void this.#fetch?.close()
    }
    await this.#pumping?.catch(() => {})
    this.#handBack([...this.#buffer.values(), ...this.#unsure.splice(0)])
    this.#buffer.clear()
    this.#bufferRows = 0
    // Writes not started yet go back; the one under way gives up at its next failure (the abort ends its retries).
    const waiting = this.#queue.splice(this.#runner ? 1 : 0)
    for (const w of waiting) {
      this.#release(w)
      this.#handBack(w.deliveries.values())
    }
    if (this.#runner) await within(this.#runner, graceMs)
  }
}
