// The stream engine's gauges are read from the runtime's stats at scrape time.
import { expect, it } from 'vitest'
import { Registry } from 'prom-client'
import { registerStreamMetrics } from '../../engine/stream/stream-metrics.ts'
import type { StreamRuntimeStats } from '../../engine/stream/stream-runtime.ts'
import type { PartitionStats } from '../../engine/stream/partition-reader.ts'

const partition = (p: number, late: number, watermark: number): PartitionStats => ({
  partition: p, epoch: 1, generation: 1, threadId: 2, state: 'running', lastSeq: 10, watermark, late, samples: 100, messages: 10,
  outputs: 4, ticksPublished: 0, markersPublished: 0, undecodable: 0, backlog: 3, checkpointSeq: 9, replayed: p + 4, resumeSeq: 6, snapshots: 0, snapshotBytes: 0, rebuilds: 0, lastError: null,
})

it('reports late samples and watermarks per owned partition, and the engine’s threads', async () => {
  let stats: StreamRuntimeStats = {
    engineId: 'e', liveEngines: 2, owned: [0, 3],
    partitions: [partition(0, 7, 1_700_000_000_000), partition(3, 0, -Infinity)],
    pool: { threads: 2, maxThreads: 4, pins: {}, grown: 0, moves: 0 },
  }
  const registry = new Registry()
  registerStreamMetrics(registry, () => stats)
  let text = await registry.metrics()
  expect(text).toContain('tidemark_stream_late_samples{partition="0"} 7')
  expect(text).toContain('tidemark_stream_late_samples{partition="3"} 0')
  expect(text).toContain('tidemark_stream_watermark_seconds{partition="0"} 1700000000')
  expect(text).toContain('tidemark_stream_worker_threads 2')
  expect(text).toContain('tidemark_stream_owned_partitions 2')
  expect(text).toContain('tidemark_stream_replayed_messages{partition="3"} 7')
  // A partition that moved away is no longer reported here.
  stats = { ...stats, owned: [0], partitions: [partition(0, 9, 1_700_000_060_000)] }
  text = await registry.metrics()
  expect(text).toContain('tidemark_stream_late_samples{partition="0"} 9')
  expect(text).not.toContain('partition="3"')
})
