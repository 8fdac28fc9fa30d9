// Tracker hits into ClickHouse's pageviews and events, read from TM_HITS by a
// durable consumer (`tm-hits`, shared by every engine process) and
// acknowledged only after the insert (engine/storage/stream-table-writer.ts):
// a hit ingest answered 2xx for is in the stream, and leaves it for the
// tables. A redelivered hit is stored once (the insert's token, the tables'
// ReplacingMergeTree by id). Kept apart from the beacons' storage consumer:
// hits are not samples, and never reach the windows, rules or samples table.
import type { JetStreamClient } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { ClickHouseStore } from '../clickhouse/clickhouse-store.ts'
import { HITS_CONSUMER, HITS_STREAM, HITS_SUBJECTS } from '../nats/subjects.ts'
import type { Logger } from '../runtime.ts'
import { StreamTableWriter, type StreamTableWriterStats } from '../storage/stream-table-writer.ts'
import type { Hit } from './hit.ts'
import { insertHits } from './tracker-tables.ts'

export type HitWriterStats = StreamTableWriterStats
export type HitWriter = StreamTableWriter<Hit>

export function startHitWriter(o: { nc: NatsConnection; js: JetStreamClient; store: ClickHouseStore; log?: Logger }): Promise<HitWriter> {
  return StreamTableWriter.start(o, {
    stream: HITS_STREAM,
    consumer: HITS_CONSUMER,
    filter: HITS_SUBJECTS,
    batch: 5000,
    what: 'hits',
    decode: (m) => m.json<Hit>(),
    insert: (hits) => insertHits(o.store, hits),
  })
}
