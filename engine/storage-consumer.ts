// The storage consumer: reads beacon batches from JetStream, writes their
// samples to ClickHouse in large inserts, and acks JetStream only after
// ClickHouse accepted the insert. Nothing acknowledged to a client is lost,
// and nothing redelivered is stored twice:
//
// Every insert carries an insert_deduplication_token made from the stream
// sequences it holds. Before inserting, the consumer writes the batch's
// sequences and token to a KV bucket (an intent); it deletes the intent once
// JetStream confirmed the acks. If the process dies between the insert and the
// acks, JetStream redelivers those messages, perhaps much later and mixed with
// new ones; the consumer finds them in an intent, regroups them exactly as
// before and inserts them with the same token, which ClickHouse drops as a
// duplicate (materialized views included).
import { setTimeout as sleep } from 'node:timers/promises'
import type { JetStreamClient, JsMsg, ConsumerMessages } from '@nats-io/jetstream'
import type { KV } from '@nats-io/kv'
import { decodeBatch } from './beacon-batch.ts'
import type { ClickHouseStore } from './clickhouse-store.ts'
import { SAMPLE_COLUMNS } from './clickhouse-schema.ts'
import { EngineErrors } from './errors.ts'
import { backoffDelayMs, retryWithBackoff } from './retry.ts'
import { SampleField, type Sample } from './sample.ts'
import { BEACONS_STREAM, STORAGE_CONSUMER } from './subjects.ts'

export interface StorageConsumerOptions {
  js: JetStreamClient
  store: ClickHouseStore
  /** KV bucket holding insert intents (see above). */
  state: KV
  batchRows: number
  lingerMs: number
  consumerName?: string
  log?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void; error(obj: object, msg?: string): void }
  /** Runs after an insert succeeded and before the acks: tests use it to die at the worst moment. */
  afterInsert?: (token: string) => Promise<void> | void
}

export interface StorageStats {
  inserts: number
  rows: number
  messages: number
  /** Messages JetStream delivered more than once. */
  redelivered: number
  /** Inserts redone from an intent with their original token. */
  replayedIntents: number
  insertFailures: number
  rejectedMessages: number
  lastInsertMs: number
  /** Times the consumer failed (KV or NATS errors, a hook that threw) and restarted itself. */
  restarts: number
  lastError: string | null
}

interface Intent {
  seqs: number[]
  token: string
}

/** A delivered message with its samples, decoded once. */
interface Delivery {
  m: JsMsg
  samples: Sample[]
}

interface PendingGroup {
  intent: Intent
  key: string
  deliveries: Map<number, Delivery>
}

const INTENT_PREFIX = 'batch.'
/** Redeliveries re-read the intents at most this often. */
const INTENT_RELOAD_MS = 1000

export class StorageConsumer {
  readonly stats: StorageStats = {
    inserts: 0,
    rows: 0,
    messages: 0,
    redelivered: 0,
    replayedIntents: 0,
    insertFailures: 0,
    rejectedMessages: 0,
    lastInsertMs: 0,
    restarts: 0,
    lastError: null,
  }
  readonly #o: StorageConsumerOptions
  readonly #consumerName: string
  /** By stream sequence: a message redelivered while still buffered replaces its first delivery, never joins it. */
  #buffer = new Map<number, Delivery>()
  #bufferRows = 0
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> = Promise.resolve()
  #messages: ConsumerMessages | undefined
  #running: Promise<void> | undefined
  #stopped = false
  /** Intents left by an earlier run (or another process), by stream sequence. */
  readonly #recovering = new Map<number, PendingGroup>()
  #intentsLoadedAt = 0
  /** Sequences of the write under way: a redelivery of one of them is left to that write's ack. */
  readonly #writing = new Set<number>()

  constructor(options: StorageConsumerOptions) {
    this.#o = options
    this.#consumerName = options.consumerName ?? STORAGE_CONSUMER
  }

  /** What /api/v2/health reports for storage: ok false (503) with a reason when storage is stuck. */
  async health(): Promise<{ ok: boolean; reason?: string } & Record<string, unknown>> {
    return { ok: true, ...this.stats }
  }

  async start(): Promise<void> {
    await this.#loadIntents()
    const consumer = await this.#o.js.consumers.get(BEACONS_STREAM, this.#consumerName)
    const messages = await consumer.consume({ max_messages: 1000 })
    this.#messages = messages
    this.#running = this.#pump(messages).catch((err: Error) => this.#fail(err))
  }

  /**
   * Reads every open intent from KV, this process's or another's: with several
   * engine processes on one durable consumer, a dead one's batch is redelivered
   * to a live one, which must regroup it by the dead one's intent.
   */
  async #loadIntents(): Promise<void> {
    this.#intentsLoadedAt = Date.now()
    const jsm = await this.#o.js.jetstreamManager()
    const ackFloor = (await jsm.consumers.info(BEACONS_STREAM, this.#consumerName)).ack_floor.stream_seq
    const previous = new Map([...this.#recovering.values()].map((g) => [g.key, g]))
    this.#recovering.clear()
    for await (const key of await this.#o.state.keys(`${INTENT_PREFIX}*`)) {
      const entry = await this.#o.state.get(key)
      if (!entry || entry.operation !== 'PUT') continue
      const intent = entry.json<Intent>()
      // Every sequence at or below the ack floor was acked: that intent finished and only its delete was lost.
      if (Math.max(...intent.seqs) <= ackFloor) {
        await this.#o.state.delete(key)
        continue
      }
      const group: PendingGroup = previous.get(key) ?? { intent, key, deliveries: new Map() }
      for (const seq of intent.seqs) this.#recovering.set(seq, group)
    }
    if (this.#recovering.size > 0) this.#o.log?.info({ sequences: this.#recovering.size }, 'storage: redoing interrupted inserts')
  }

  async #pump(messages: ConsumerMessages): Promise<void> {
    for await (const m of messages) {
      this.stats.messages++
      if (m.redelivered) this.stats.redelivered++
      let samples: Sample[]
      try {
        samples = decodeBatch(m.data)
      } catch (err) {
        // Ingest validated every sample; an undecodable batch is a bug, kept in the stream for inspection.
        this.stats.rejectedMessages++
        this.#o.log?.error({ err, seq: m.seq }, 'storage: undecodable batch terminated')
        m.term()
        continue
      }
      if (this.#writing.has(m.seq)) continue
      const delivery: Delivery = { m, samples }
      // A redelivery we hold no intent for may belong to another process's interrupted insert.
      if (m.redelivered && !this.#recovering.has(m.seq) && Date.now() - this.#intentsLoadedAt > INTENT_RELOAD_MS) await this.#loadIntents()
      const group = this.#recovering.get(m.seq)
      if (group) {
        group.deliveries.set(m.seq, delivery)
        if (group.deliveries.size === group.intent.seqs.length) {
          for (const seq of group.intent.seqs) this.#recovering.delete(seq)
          this.stats.replayedIntents++
          await this.#schedule([...group.deliveries.values()], group.intent, group.key)
        }
        continue
      }
      const earlier = this.#buffer.get(m.seq)
      this.#buffer.set(m.seq, delivery)
      this.#bufferRows += samples.length - (earlier?.samples.length ?? 0)
      if (this.#bufferRows >= this.#o.batchRows) await this.flush()
      else this.#timer ??= setTimeout(() => void this.flush(), this.#o.lingerMs)
    }
  }

  /** Queues a write; from now until it ends, redeliveries of its messages are ignored. */
  #schedule(deliveries: Delivery[], intent: Intent, key: string): Promise<void> {
    for (const d of deliveries) this.#writing.add(d.m.seq)
    return this.#serialize(() => this.#write(deliveries, intent, key))
  }

  #serialize(work: () => Promise<void>): Promise<void> {
    this.#flushing = this.#flushing.then(work).catch((err: Error) => this.#fail(err))
    return this.#flushing
  }

  /**
   * Anything but a ClickHouse error (those are retried in place) ends this
   * generation as a crash would: what it held is nakked (never acked), so
   * JetStream redelivers it, and a fresh start reloads the intents and carries on.
   */
  #fail(err: Error): void {
    this.stats.restarts++
    this.stats.lastError = err.message
    this.#o.log?.error({ err }, 'storage: consumer failed; restarting it')
    if (this.#stopped) return
    const messages = this.#messages
    this.#messages = undefined
    clearTimeout(this.#timer)
    this.#timer = undefined
    for (const { m } of this.#buffer.values()) m.nak()
    for (const group of new Set(this.#recovering.values())) for (const { m } of group.deliveries.values()) m.nak()
    this.#buffer = new Map()
    this.#bufferRows = 0
    this.#recovering.clear()
    void (async () => {
      await messages?.close()
      await sleep(backoffDelayMs(this.stats.restarts - 1, { baseMs: 250, maxMs: 5000 }))
      if (!this.#stopped) await this.start().catch((startErr: Error) => this.#fail(startErr))
    })()
  }

  /** Writes what is buffered now. */
  flush(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    const deliveries = [...this.#buffer.values()]
    if (deliveries.length === 0) return this.#flushing
    this.#buffer = new Map()
    this.#bufferRows = 0
    const seqs = deliveries.map((d) => d.m.seq)
    const intent: Intent = { seqs, token: `${this.#consumerName}:${seqs[0]}-${seqs[seqs.length - 1]}:${seqs.length}` }
    return this.#schedule(deliveries, intent, `${INTENT_PREFIX}${seqs[0]}`)
  }

  async #write(deliveries: Delivery[], intent: Intent, key: string): Promise<void> {
    const lines: string[] = []
    for (const { m, samples } of deliveries) {
      // Built by hand: stringifying a fresh array per sample was the top cost of this function (bench/README.md).
      for (const s of samples) {
        const tags = s[SampleField.Tags]
        lines.push(
          `[${JSON.stringify(s[SampleField.Tenant])},${JSON.stringify(s[SampleField.Metric])},${s[SampleField.Ts]},${s[SampleField.Value]},${tags === null ? '{}' : JSON.stringify(tags)},${s[SampleField.ReceivedAt]},${m.seq}]`
        )
      }
    }
    const messages = deliveries.map((d) => d.m)
    try {
      await this.#o.state.put(key, JSON.stringify(intent))
      await this.#insertWithRetry(lines, intent.token, messages)
      await this.#o.afterInsert?.(intent.token)
      this.stats.inserts++
      this.stats.rows += lines.length
      await Promise.all(messages.map((m) => m.ackAck()))
    } catch (err) {
      // Hand them back now rather than after the ack wait; if the insert did land, the intent makes the redo a no-op.
      for (const m of messages) m.nak()
      throw err
    } finally {
      for (const m of messages) this.#writing.delete(m.seq)
    }
    await this.#o.state.delete(key)
  }

  async #insertWithRetry(lines: string[], token: string, messages: JsMsg[]): Promise<void> {
    const { store } = this.#o
    const sql =
      `INSERT INTO ${store.database}.samples (${SAMPLE_COLUMNS.join(', ')}) ` +
      `SETTINGS insert_deduplication_token = '${token}', async_insert = 0, deduplicate_blocks_in_dependent_materialized_views = 1 ` +
      `FORMAT JSONCompactEachRow\n${lines.join('\n')}\n`
    await retryWithBackoff(
      async () => {
        const started = performance.now()
        await store.command(sql)
        this.stats.lastInsertMs = performance.now() - started
      },
      {
        baseMs: 200,
        maxMs: 10_000,
        giveUp: (_err, attempt) => this.#stopped && attempt >= 2,
        onRetry: (err, attempt) => {
          this.stats.insertFailures++
          const error = new EngineErrors.StorageInsertFailed((err as Error).message, { cause: err })
          this.#o.log?.warn({ err: error, attempt, rows: lines.length }, 'storage: insert failed, retrying with the same token')
          // Keep JetStream from redelivering while we retry.
          for (const m of messages) m.working()
        },
      }
    )
  }

  /** Stops after everything JetStream holds for this consumer is stored, or when timeoutMs ran out. */
  async drain(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const jsm = await this.#o.js.jetstreamManager()
    while (Date.now() < deadline) {
      await this.flush()
      // num_ack_pending is not waited on: it counts other processes' batches, and messages stranded on a
      // subscription an outage broke, which JetStream redelivers after the ack wait. Nothing of ours is lost.
      const info = await jsm.consumers.info(BEACONS_STREAM, this.#consumerName)
      if (info.num_pending === 0 && this.#buffer.size === 0) break
      await sleep(50)
    }
    await this.stop()
  }

  /** Stops consuming; unacked messages stay in JetStream for the next run. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#messages?.close()
    await this.#running?.catch(() => {})
    await this.#flushing.catch(() => {})
  }
}
