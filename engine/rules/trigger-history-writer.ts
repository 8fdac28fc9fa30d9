// Trigger events into ClickHouse's trigger_events, read from TM_TRIGGERS by a
// durable consumer (`tm-trigger-history`) and acknowledged only after the
// insert: the stream is the source, the table its history. Kept off the
// engine's path on purpose: the chDB connection runs one query at a time, so
// an insert made by the partition itself waited behind storage's 100k-row
// inserts, and the partition's next events with it (bench/triggers.ts). A
// redelivered batch is stored once (the insert's dedup token, the table's
// ReplacingMergeTree by id).
import { setTimeout as sleep } from 'node:timers/promises'
import { AckPolicy, DeliverPolicy, jetstreamManager, type JetStreamClient, type JsMsg } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { ClickHouseStore } from '../clickhouse/clickhouse-store.ts'
import { backoffDelayMs } from '../retry.ts'
import type { Logger } from '../runtime.ts'
import { TRIGGERS_SUBJECTS } from '../nats/subjects.ts'
import type { TriggerEvent } from './trigger-event.ts'
import { insertTriggerEvents } from './trigger-history.ts'
import { TRIGGERS_STREAM } from './trigger-stream.ts'

export const TRIGGER_HISTORY_CONSUMER = 'tm-trigger-history'
const BATCH = 1000
const ACK_WAIT_NS = 60_000_000_000

export interface TriggerHistoryStats {
  /** Events inserted into trigger_events (a redelivered one counts again; the table keeps it once). */
  stored: number
  insertFailures: number
}

export class TriggerHistoryWriter {
  readonly stats: TriggerHistoryStats = { stored: 0, insertFailures: 0 }
  readonly #js: JetStreamClient
  readonly #store: ClickHouseStore
  readonly #log: Logger | undefined
  #stopping = false
  #loop: Promise<void> | undefined

  private constructor(js: JetStreamClient, store: ClickHouseStore, log: Logger | undefined) {
    this.#js = js
    this.#store = store
    this.#log = log
  }

  static async start(o: { nc: NatsConnection; js: JetStreamClient; store: ClickHouseStore; log?: Logger }): Promise<TriggerHistoryWriter> {
    const jsm = await jetstreamManager(o.nc)
    // add() with the same config is a no-op: every engine process shares the one durable.
    await jsm.consumers.add(TRIGGERS_STREAM, {
      durable_name: TRIGGER_HISTORY_CONSUMER,
      filter_subject: TRIGGERS_SUBJECTS,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ACK_WAIT_NS,
      max_ack_pending: 10 * BATCH,
    })
    const writer = new TriggerHistoryWriter(o.js, o.store, o.log)
    writer.#loop = writer.#run()
    return writer
  }

  async #run(): Promise<void> {
    const consumer = await this.#js.consumers.get(TRIGGERS_STREAM, TRIGGER_HISTORY_CONSUMER)
    for (let failures = 0; !this.#stopping; ) {
      const messages: JsMsg[] = []
      try {
        const batch = await consumer.fetch({ max_messages: BATCH, expires: 1000 })
        for await (const m of batch) messages.push(m)
        if (messages.length === 0) continue
        const events: TriggerEvent[] = []
        for (const m of messages) {
          try {
            events.push(m.json<TriggerEvent>())
          } catch (err) {
            // Only the engine publishes here; a message that is not an event would otherwise come back forever.
            this.#log?.error({ err, seq: m.seq }, 'triggers: a TM_TRIGGERS message is not a trigger event; skipped')
          }
        }
        await insertTriggerEvents(this.#store, events)
        this.stats.stored += events.length
        for (const m of messages) m.ack()
        failures = 0
      } catch (err) {
        if (messages.length > 0) {
          this.stats.insertFailures++
          this.#log?.warn({ err, events: messages.length }, 'triggers: writing trigger_events failed; JetStream redelivers them')
        } else {
          // A pull that failed (a missed heartbeat while the event loop was held up): nothing was taken.
          this.#log?.debug({ err }, 'triggers: pulling from TM_TRIGGERS failed; retrying')
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
