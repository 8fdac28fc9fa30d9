// Where the stream engine's outputs go in a Tidemark process: window results
// to tm.windows.<p> as before, trigger events to tm.triggers.<tenant>.<rule>
// (TM_TRIGGERS, msgID = the event's stable id, one alert's events in order)
// and then into ClickHouse's trigger_events. The partition checkpoints only
// after publish() resolves, so an event is durable on NATS and in ClickHouse
// before the engine can forget it; a failure makes the partition replay and
// decide the same events again, which both places keep once (by id).
import type { JetStreamClient } from '@nats-io/jetstream'
import type { ClickHouseStore } from '../clickhouse-store.ts'
import { JetStreamOutputSink, type OutputSink } from '../stream/output-sink.ts'
import type { StreamOutput } from '../stream/series-evaluator.ts'
import { isTriggerOutput } from './stream-rules.ts'
import type { TriggerEvent } from './trigger-event.ts'
import { insertTriggerEvents } from './trigger-history.ts'
import { publishTriggerEvents } from './trigger-stream.ts'

export interface TriggerSinkStats {
  /** Trigger events JetStream took as new. */
  published: number
  /** Trigger events JetStream already held (re-decided after a replay). */
  duplicates: number
  /** Trigger events written to ClickHouse (re-inserts after a replay included; the table keeps each id once). */
  stored: number
}

export class TriggerOutputSink implements OutputSink {
  readonly stats: TriggerSinkStats = { published: 0, duplicates: 0, stored: 0 }
  readonly #js: JetStreamClient
  readonly #windows: JetStreamOutputSink
  readonly #store: ClickHouseStore | undefined

  constructor(js: JetStreamClient, store: ClickHouseStore | undefined) {
    this.#js = js
    this.#windows = new JetStreamOutputSink(js)
    this.#store = store
  }

  async publish(partition: number, epoch: number, outputs: StreamOutput[]): Promise<void> {
    const events: TriggerEvent[] = []
    const others: StreamOutput[] = []
    for (const o of outputs) {
      if (isTriggerOutput(o)) events.push(o.event)
      else others.push(o)
    }
    await Promise.all([others.length > 0 ? this.#windows.publish(partition, epoch, others) : undefined, events.length > 0 ? this.#triggers(events) : undefined])
  }

  async #triggers(events: TriggerEvent[]): Promise<void> {
    // NATS first: autoscalers wait on it; the history row follows.
    const result = await publishTriggerEvents(this.#js, events)
    this.stats.published += result.published
    this.stats.duplicates += result.duplicates
    if (this.#store) {
      await insertTriggerEvents(this.#store, events)
      this.stats.stored += events.length
    }
  }
}
