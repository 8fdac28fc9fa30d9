// A JetStream stream copied into a ClickHouse table: a durable pull consumer
// (shared by every engine process), a batch at a time, acknowledged only after
// the insert, handed back (nak) when it fails. The insert must store a
// redelivered batch once (a dedup token, a ReplacingMergeTree). Trigger
// history (engine/rules/trigger-history-writer.ts) and tracker hits
// (engine/tracker/hit-writer.ts) are written this way; beacons have their own
// consumer (storage-consumer.ts), which also keeps intents and dead letters.
import { setTimeout as sleep } from 'node:timers/promises'
import { AckPolicy, DeliverPolicy, jetstreamManager, type JetStreamClient, type JsMsg } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { backoffDelayMs } from '../retry.ts'
import type { Logger } from '../runtime.ts'

const ACK_WAIT_NS = 60_000_000_000

export interface StreamTableWriterStats {
  /** Items inserted (a redelivered one counts again; the table keeps it once). */
  stored: number
  insertFailures: number
}

export interface StreamTableSpec<T> {
  stream: string
  consumer: string
  filter: string
  /** Messages a fetch takes at most. */
  batch: number
  /** What the log calls the items ("trigger events", "hits"). */
  what: string
  decode(message: JsMsg): T
  insert(items: T[]): Promise<void>
}

export class StreamTableWriter<T> {
  readonly stats: StreamTableWriterStats = { stored: 0, insertFailures: 0 }
  readonly #js: JetStreamClient
  readonly #spec: StreamTableSpec<T>
  readonly #log: Logger | undefined
  #stopping = false
  #loop: Promise<void> | undefined

  private constructor(js: JetStreamClient, spec: StreamTableSpec<T>, log: Logger | undefined) {
    this.#js = js
    this.#spec = spec
    this.#log = log
  }

  static async start<T>(o: { nc: NatsConnection; js: JetStreamClient; log?: Logger }, spec: StreamTableSpec<T>): Promise<StreamTableWriter<T>> {
    const jsm = await jetstreamManager(o.nc)
    // add() with the same config is a no-op: every engine process shares the one durable.
    await jsm.consumers.add(spec.stream, {
      durable_name: spec.consumer,
      filter_subject: spec.filter,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ACK_WAIT_NS,
      max_ack_pending: 10 * spec.batch,
    })
    const writer = new StreamTableWriter(o.js, spec, o.log)
    writer.#loop = writer.#run()
    return writer
  }

  async #run(): Promise<void> {
    const spec = this.#spec
    const consumer = await this.#js.consumers.get(spec.stream, spec.consumer)
    for (let failures = 0; !this.#stopping; ) {
      const messages: JsMsg[] = []
      try {
        const batch = await consumer.fetch({ max_messages: spec.batch, expires: 1000 })
        for await (const m of batch) messages.push(m)
        if (messages.length === 0) continue
        const items: T[] = []
        for (const m of messages) {
          try {
            items.push(spec.decode(m))
          } catch (err) {
            // Only Tidemark publishes here; a message it cannot read would otherwise come back forever.
            this.#log?.error({ err, seq: m.seq }, `${spec.stream}: a message is not one of the ${spec.what}; skipped`)
          }
        }
        await spec.insert(items)
        this.stats.stored += items.length
        for (const m of messages) m.ack()
        failures = 0
      } catch (err) {
        if (messages.length > 0) {
          this.stats.insertFailures++
          this.#log?.warn({ err, [spec.what]: messages.length }, `${spec.stream}: writing the ${spec.what} to ClickHouse failed; JetStream redelivers them`)
        } else {
          // A pull that failed (a missed heartbeat while the event loop was held up): nothing was taken.
          this.#log?.debug({ err }, `${spec.stream}: pulling failed; retrying`)
        }
        for (const m of messages) m.nak(1000)
        await sleep(backoffDelayMs(failures++, { baseMs: 200, maxMs: 5000 }))
      }
    }
  }

  /** Finishes the batch in hand (inserted and acked, or handed back); what is left stays in the stream. */
  async stop(): Promise<void> {
    this.#stopping = true
    await this.#loop?.catch(() => {})
  }
}
