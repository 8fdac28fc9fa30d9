// Tracker hits into ClickHouse's pageviews and events, read from TM_HITS by a
// durable consumer (`tm-hits`, shared by every engine process) and
// acknowledged only after the insert: a hit ingest answered 2xx for is in the
// stream, and leaves it for the tables or not at all. A redelivered hit is
// stored once (the insert's token, the tables' ReplacingMergeTree by id).
// Kept apart from the beacons' storage consumer: hits are not samples, and
// never reach the windows, rules or the samples table.
import { setTimeout as sleep } from 'node:timers/promises'
import { AckPolicy, DeliverPolicy, jetstreamManager, type JetStreamClient, type JsMsg } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { ClickHouseStore } from '../clickhouse/clickhouse-store.ts'
import { HITS_CONSUMER, HITS_STREAM, HITS_SUBJECTS } from '../nats/subjects.ts'
import { backoffDelayMs } from '../retry.ts'
import type { Logger } from '../runtime.ts'
import type { Hit } from './hit.ts'
import { insertHits } from './tracker-tables.ts'

const BATCH = 5000
const ACK_WAIT_NS = 60_000_000_000

export interface HitWriterStats {
  /** Hits inserted (a redelivered one counts again; the tables keep it once). */
  stored: number
  insertFailures: number
  /** Messages that were not hits (only ingest publishes here): logged and dropped. */
  skipped: number
}

export class HitWriter {
  readonly stats: HitWriterStats = { stored: 0, insertFailures: 0, skipped: 0 }
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

  static async start(o: { nc: NatsConnection; js: JetStreamClient; store: ClickHouseStore; log?: Logger }): Promise<HitWriter> {
    const jsm = await jetstreamManager(o.nc)
    // add() with the same config is a no-op: every engine process shares the one durable.
    await jsm.consumers.add(HITS_STREAM, {
      durable_name: HITS_CONSUMER,
      filter_subject: HITS_SUBJECTS,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ACK_WAIT_NS,
      max_ack_pending: 4 * BATCH,
    })
    const writer = new HitWriter(o.js, o.store, o.log)
    writer.#loop = writer.#run()
    return writer
  }

  async #run(): Promise<void> {
    const consumer = await this.#js.consumers.get(HITS_STREAM, HITS_CONSUMER)
    for (let failures = 0; !this.#stopping; ) {
      const messages: JsMsg[] = []
      try {
        const batch = await consumer.fetch({ max_messages: BATCH, expires: 1000 })
        for await (const m of batch) messages.push(m)
        if (messages.length === 0) continue
        const hits: Hit[] = []
        for (const m of messages) {
          try {
            hits.push(m.json<Hit>())
          } catch (err) {
            this.stats.skipped++
            this.#log?.error({ err, seq: m.seq }, 'tracker: a TM_HITS message is not a hit; skipped')
          }
        }
        await insertHits(this.#store, hits)
        this.stats.stored += hits.length
        for (const m of messages) m.ack()
        failures = 0
      } catch (err) {
        if (messages.length > 0) {
          this.stats.insertFailures++
          this.#log?.warn({ err, hits: messages.length }, 'tracker: writing pageviews/events failed; JetStream redelivers them')
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
