// What GET /metrics exports for a process, by role: the components' own stats
// objects (read at scrape time, so the hot paths pay nothing) and the process's
// event-loop delay, heap and GC from prom-client's defaults.
import { TidemarkMetrics, type StorageConsumer } from '../engine/index.ts'
import type { TriggerHistoryWriter, TriggerOutputSink } from '../engine/rules/index.ts'
import type { HitWriter } from '../engine/tracker/index.ts'
import { registerStreamMetrics, type StreamRuntime } from '../engine/stream/index.ts'
import type { BatchPublisher } from '../ingest/index.ts'

export function createProcessMetrics(parts: { storage?: StorageConsumer; publisher?: BatchPublisher; stream?: StreamRuntime; triggers?: TriggerOutputSink; triggerHistory?: TriggerHistoryWriter; hitWriter?: HitWriter }): TidemarkMetrics {
  const metrics = new TidemarkMetrics()
  const { storage, publisher } = parts
  if (storage) {
    metrics.exportStats({
      prefix: 'tidemark_storage_',
      read: () => storage.stats,
      counters: {
        messages: 'Beacon batch messages delivered to storage',
        redelivered: 'Messages JetStream delivered more than once',
        inserts: 'ClickHouse inserts that succeeded',
        rows: 'Sample rows inserted into ClickHouse',
        replayedIntents: 'Writes redone from an intent with their original deduplication token',
        readFromStream: 'Messages of a replayed write read back from the stream by sequence',
        insertFailures: 'Insert attempts that failed and were retried with the same token',
        refusedInserts: 'Inserts ClickHouse refused for their content (split to find the refused messages)',
        deadLetters: 'Messages set aside in the dead-letter stream TM_DEAD_LETTERS',
        writeFailures: 'Writes handed back to JetStream after a NATS or KV failure',
        ackFailures: 'Acks JetStream did not confirm',
        lapsedMessages: 'Messages let go unwritten because their keep-alives did not reach JetStream',
        fetchFailures: 'Pulls from JetStream that failed',
      },
      gauges: { lastInsertMs: 'Duration of the last successful insert, ms', lastInsertAt: 'Epoch ms of the last successful insert' },
    })
    metrics.labelledGauge('tidemark_storage_consumer_lag', 'Messages the storage consumer has not yet received (undelivered) or acked (unacknowledged)', ['state'], async () => {
      const { lag } = (await storage.health()) as { lag?: { undelivered: number | null; unacknowledged: number | null } }
      return [
        { labels: { state: 'undelivered' }, value: lag?.undelivered ?? 0 },
        { labels: { state: 'unacknowledged' }, value: lag?.unacknowledged ?? 0 },
      ]
    })
  }
  if (publisher) {
    metrics.exportStats({
      prefix: 'tidemark_ingest_',
      read: () => publisher.stats,
      counters: {
        batches: 'Beacon batches JetStream acknowledged',
        samples: 'Samples JetStream acknowledged',
        retries: 'Publish attempts retried with the same message id',
        failures: 'Batches that could not be made durable within the publish timeout (their requests got 503)',
      },
      gauges: { pendingSamples: 'Samples accepted by ingest and waiting for JetStream acks' },
    })
  }
  const { stream, triggers, triggerHistory, hitWriter } = parts
  if (stream) {
    // Per partition: backlog (consumer lag), late samples, watermark, rebuilds, outputs; the pool's threads and
    // their utilisation; rule evaluations and transitions from the worker threads.
    registerStreamMetrics(metrics.registry, () => stream.stats(), { workers: () => stream.pool.workerThreads() })
  }
  if (triggers) {
    metrics.exportStats({
      prefix: 'tidemark_triggers_',
      read: () => triggers.stats,
      counters: {
        published: 'Trigger events JetStream took as new on tm.triggers.<tenant>.<rule>',
        duplicates: 'Trigger events JetStream already held (decided again after a replay; dropped by id)',
      },
    })
  }
  if (triggerHistory) {
    metrics.exportStats({
      prefix: 'tidemark_triggers_',
      read: () => triggerHistory.stats,
      counters: {
        stored: 'Trigger events written from TM_TRIGGERS to ClickHouse trigger_events (redeliveries included; the table keeps each id once)',
        insertFailures: 'Inserts into trigger_events that failed (the events were handed back to JetStream)',
      },
    })
  }
  if (hitWriter) {
    metrics.exportStats({
      prefix: 'tidemark_tracker_',
      read: () => hitWriter.stats,
      counters: {
        stored: 'Tracker hits written from TM_HITS to ClickHouse pageviews and events (redeliveries included; the tables keep each id once)',
        insertFailures: 'Inserts into pageviews or events that failed (the hits were handed back to JetStream)',
      },
    })
  }
  return metrics
}
