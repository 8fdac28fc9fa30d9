// Prometheus gauges for the stream engine, read from the runtime's stats at
// scrape time (nothing is counted twice on the hot path). Per-partition values
// are reported by the partition's current owner only, and are functions of the
// partition's log (late samples, watermark), so summing over engines is right:
// a partition that moved is reported by its new owner with the same count.
import { performance } from 'node:perf_hooks'
import type { Worker } from 'node:worker_threads'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { StreamRuntimeStats } from './stream-runtime.ts'

type EventLoopUtilization = ReturnType<typeof performance.eventLoopUtilization>

/** The evaluator module's counters (engine/rules/stream-rules.ts), summed over the threads. */
const EVALUATOR_COUNTERS: Record<string, [name: string, help: string]> = {
  ruleEvaluations: ['tidemark_rules_evaluations_total', 'Rule evaluations run in the worker threads (one rule, one series, one grid time).'],
  transitions: ['tidemark_rules_transitions_total', 'Alert transitions decided (pending, firing, resolved, inactive), replays included.'],
  ladderSteps: ['tidemark_rules_ladder_steps_total', 'Action ladder steps decided (escalate, step down), replays included.'],
}

export interface StreamMetricsOptions {
  /** The pool's threads, for their utilisation between scrapes. */
  workers?: () => readonly Worker[]
}

export function registerStreamMetrics(registry: Registry, stats: () => StreamRuntimeStats, options: StreamMetricsOptions = {}): void {
  const perPartition = (name: string, help: string, value: (p: StreamRuntimeStats['partitions'][number]) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['partition'],
      registers: [registry],
      collect() {
        this.reset()
        for (const p of stats().partitions) this.set({ partition: String(p.partition) }, value(p))
      },
    })
  }
  const perEngine = (name: string, help: string, value: (s: StreamRuntimeStats) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value(stats()))
      },
    })
  }
  perPartition('tidemark_stream_late_samples', 'Samples older than the watermark when they arrived (stored, kept out of windows), over the partition’s log.', (p) => p.late)
  perPartition('tidemark_stream_watermark_seconds', 'The partition’s event-time watermark.', (p) => (Number.isFinite(p.watermark) ? p.watermark / 1000 : 0))
  perPartition('tidemark_stream_backlog_messages', 'Messages of the partition not yet applied (stream pending plus read ahead).', (p) => p.backlog)
  perPartition('tidemark_stream_rebuilds', 'Times the partition was rebuilt by replay in this process (worker lost, move, failure).', (p) => p.rebuilds)
  perPartition('tidemark_stream_replayed_messages', 'Messages this process read again to rebuild the partition’s state (at or before the checkpoint it opened from).', (p) => p.replayed)
  perPartition('tidemark_stream_outputs', 'Results this process emitted for the partition (re-emissions after a replay included).', (p) => p.outputs)
  perEngine('tidemark_stream_owned_partitions', 'Partitions this engine holds a lease on.', (s) => s.owned.length)
  perEngine('tidemark_stream_live_engines', 'Engine processes alive, as this one sees them.', (s) => s.liveEngines)
  perEngine('tidemark_stream_worker_threads', 'Window worker threads in this engine’s pool.', (s) => s.pool.threads)
  for (const [field, [name, help]] of Object.entries(EVALUATOR_COUNTERS)) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset()
        this.inc(stats().evaluatorCounters?.[field] ?? 0)
      },
    })
  }
  const workers = options.workers
  if (workers) {
    // Event-loop utilisation of each worker thread since the previous scrape (the first scrape: since it started).
    const previous = new Map<number, EventLoopUtilization>()
    new Gauge({
      name: 'tidemark_stream_worker_utilization',
      help: 'Share of time each worker thread was busy since the previous scrape (0..1).',
      labelNames: ['thread'],
      registers: [registry],
      collect() {
        this.reset()
        const seen = new Set<number>()
        for (const w of workers()) {
          if (w.threadId < 0) continue
          seen.add(w.threadId)
          const now = w.performance.eventLoopUtilization()
          const before = previous.get(w.threadId)
          this.set({ thread: String(w.threadId) }, (before ? w.performance.eventLoopUtilization(now, before) : now).utilization)
          previous.set(w.threadId, now)
        }
        for (const id of previous.keys()) if (!seen.has(id)) previous.delete(id)
      },
    })
  }
}
