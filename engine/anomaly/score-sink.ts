// Where anomaly scores go: the scores released by one watermark broadcast of a
// partition become beacon batches (the same msgpack format ingest writes) on
// `tm.beacons.scores.<partition>`, with msgID `anomaly-<p>-<watermark>-<k>`.
// The content is a function of the log (outputs sorted by id, cut in order),
// so a replay re-emits identical messages under identical ids and JetStream
// keeps one; the storage consumer stores them like any beacon, with its
// insert deduplication tokens, so a restart never duplicates a row. No
// partition reader reads these subjects: a score never re-enters the scorer.
// Everything else goes to the sink this one wraps (window results, triggers).
import type { JetStreamClient } from '@nats-io/jetstream'
import { encodeBatch } from '../model/beacon-batch.ts'
import type { Sample } from '../model/sample.ts'
import { scoresSubject } from '../nats/subjects.ts'
import { retryWithBackoff } from '../retry.ts'
import type { OutputSink } from '../stream/output-sink.ts'
import type { StreamOutput } from '../stream/series-evaluator.ts'
import { ANOMALY_METRIC, isAnomalyOutput, type AnomalyOutput } from './stream-anomaly.ts'

/** A batch stays under this many bytes (NATS' default max_payload is 1 MiB). */
const MAX_BATCH_BYTES = 768 * 1024
const MAX_BATCH_SAMPLES = 5000

export interface ScoreSinkStats {
  /** Score batches JetStream took as new, and those it already held (re-emitted after a replay). */
  published: number
  duplicates: number
  /** Scores in the batches taken as new. */
  scores: number
}

/** The batches of one broadcast's scores, in a deterministic order and cut: the same outputs give the same bytes. */
export function scoreBatches(outputs: AnomalyOutput[]): Uint8Array[] {
  const sorted = [...outputs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const samples: Sample[] = []
  for (const o of sorted) {
    // received_at is the watermark that released the score: a function of the log, like the rest of the row.
    for (let i = 0; i < o.ts.length; i++) samples.push([o.tenant, ANOMALY_METRIC, o.ts[i] as number, o.scores[i] as number, o.tags, o.watermark])
  }
  const batches: Uint8Array[] = []
  const cut = (part: Sample[]): void => {
    const bytes = encodeBatch(part)
    if (bytes.length <= MAX_BATCH_BYTES || part.length === 1) {
      batches.push(bytes)
      return
    }
    const half = Math.ceil(part.length / 2)
    cut(part.slice(0, half))
    cut(part.slice(half))
  }
  for (let i = 0; i < samples.length; i += MAX_BATCH_SAMPLES) cut(samples.slice(i, i + MAX_BATCH_SAMPLES))
  return batches
}

export class ScoreOutputSink implements OutputSink {
  readonly stats: ScoreSinkStats = { published: 0, duplicates: 0, scores: 0 }
  readonly #js: JetStreamClient
  readonly #inner: OutputSink
  readonly #budgetMs: number

  constructor(js: JetStreamClient, inner: OutputSink, options: { retryBudgetMs?: number } = {}) {
    this.#js = js
    this.#inner = inner
    this.#budgetMs = options.retryBudgetMs ?? 10_000
  }

  async publish(partition: number, epoch: number, outputs: StreamOutput[]): Promise<void> {
    const byBroadcast = new Map<number, AnomalyOutput[]>()
    const others: StreamOutput[] = []
    for (const o of outputs) {
      if (!isAnomalyOutput(o)) {
        others.push(o)
        continue
      }
      let group = byBroadcast.get(o.watermark)
      if (!group) byBroadcast.set(o.watermark, (group = []))
      group.push(o)
    }
    const scores = [...byBroadcast].map(([watermark, group]) => this.#publishScores(partition, watermark, group))
    await Promise.all([others.length > 0 ? this.#inner.publish(partition, epoch, others) : undefined, ...scores])
  }

  async #publishScores(partition: number, watermark: number, outputs: AnomalyOutput[]): Promise<void> {
    const deadline = Date.now() + this.#budgetMs
    const subject = scoresSubject(partition)
    const batches = scoreBatches(outputs)
    const count = outputs.reduce((n, o) => n + o.ts.length, 0)
    const acks = await Promise.all(
      batches.map((data, k) =>
        retryWithBackoff(() => this.#js.publish(subject, data, { msgID: `anomaly-${partition}-${watermark}-${k}`, timeout: 5000 }), { baseMs: 100, maxMs: 2000, deadline })
      )
    )
    for (const ack of acks) {
      if (ack.duplicate) this.stats.duplicates++
      else this.stats.published++
    }
    if (acks.every((a) => !a.duplicate)) this.stats.scores += count
  }
}
