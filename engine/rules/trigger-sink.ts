// Where the stream engine's outputs go in a Tidemark process: window results
// to tm.windows.<p> as before, trigger events to tm.triggers.<tenant>.<rule>
// (TM_TRIGGERS, msgID = the event's stable id, one alert's events in order).
// The partition checkpoints only after publish() resolves, so an event is
// durable on NATS before the engine can forget it; a failure makes the
// partition replay and decide the same events again, which JetStream keeps
// once (by id). ClickHouse's trigger_events is written from the stream
// (trigger-history-writer.ts), off this path.
import type { JetStreamClient } from '@nats-io/jetstream'
import { JetStreamOutputSink, type OutputSink } from '../stream/output-sink.ts'
import type { StreamOutput } from '../stream/series-evaluator.ts'
import { isTriggerOutput } from './stream-rules.ts'
import type { TriggerEvent } from './trigger-event.ts'
import { publishTriggerEvents } from './trigger-stream.ts'

export interface TriggerSinkStats {
  /** Trigger events JetStream took as new. */
  published: number
  /** Trigger events JetStream already held (re-decided after a replay). */
  duplicates: number
}

export class TriggerOutputSink implements OutputSink {
  readonly stats: TriggerSinkStats = { published: 0, duplicates: 0 }
  readonly #js: JetStreamClient
  readonly #windows: JetStreamOutputSink

  constructor(js: JetStreamClient) {
    this.#js = js
    this.#windows = new JetStreamOutputSink(js)
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
    const result = await publishTriggerEvents(this.#js, events)
    this.stats.published += result.published
    this.stats.duplicates += result.duplicates
  }
}
