// Trigger events into ClickHouse's trigger_events, read from TM_TRIGGERS by a
// durable consumer (`tm-trigger-history`) and acknowledged only after the
// insert: the stream is the source, the table its history. Kept off the
// engine's path on purpose: the chDB connection runs one query at a time, so
// an insert made by the partition itself waited behind storage's 100k-row
// inserts, and the partition's next events with it (bench/triggers.ts). A
// redelivered batch is stored once (the insert's dedup token, the table's
// ReplacingMergeTree by id). The copying itself is engine/storage/stream-table-writer.ts.
import type { JetStreamClient } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { ClickHouseStore } from '../clickhouse/clickhouse-store.ts'
import type { Logger } from '../runtime.ts'
import { TRIGGERS_SUBJECTS } from '../nats/subjects.ts'
import { StreamTableWriter, type StreamTableWriterStats } from '../storage/stream-table-writer.ts'
import type { TriggerEvent } from './trigger-event.ts'
import { insertTriggerEvents } from './trigger-history.ts'
import { TRIGGERS_STREAM } from './trigger-stream.ts'

export const TRIGGER_HISTORY_CONSUMER = 'tm-trigger-history'

export type TriggerHistoryStats = StreamTableWriterStats
export type TriggerHistoryWriter = StreamTableWriter<TriggerEvent>

export const TriggerHistoryWriter = {
  start(o: { nc: NatsConnection; js: JetStreamClient; store: ClickHouseStore; log?: Logger }): Promise<TriggerHistoryWriter> {
    return StreamTableWriter.start(o, {
      stream: TRIGGERS_STREAM,
      consumer: TRIGGER_HISTORY_CONSUMER,
      filter: TRIGGERS_SUBJECTS,
      batch: 1000,
      what: 'trigger events',
      decode: (m) => m.json<TriggerEvent>(),
      insert: (events) => insertTriggerEvents(o.store, events),
    })
  },
}
