// Where anomaly scores go: the scores released by one watermark broadcast of a
// partition become beacon batches (the same msgpack format ingest writes) on
// `tm.beacons.scores.<partition>`, with msgID `anomaly-<p>-<watermark>-<k>`
// (`anomaly-<p>-<watermark>-g<group>-<k>` for scoring the worker put off after
// the broadcast and finished a group of series at a time: a group's outputs of
// one broadcast always arrive together, whichever message finished them).
// The content is a function of the log (outputs sorted by id, cut in order),
// so a replay re-emits identical messages under identical ids and JetStream
// keeps one; the storage consumer stores them like any beacon, with its
// insert deduplication tokens, so a restart never duplicates a row. No
// partition reader reads these subjects: a score never re-enters the scorer.
// Everything else goes to the sink this one wraps (window results, triggers).
import type { JetStreamClient } from '@nats-io/jetstream'
import { scoresSubject } from '../nats/subjects.ts'
import { retryWithBackoff } from '../retry.ts'
import type { OutputSink } from '../stream/output-sink.ts'
import type { StreamOutput } from '../stream/series-evaluator.ts'
import { isAnomalyOutput, isScoreBatchOutput, packScores, type ScoreBatchOutput } from './stream-anomaly.ts'

export interface ScoreSinkStats {
  /** Score batches JetStream took as new, and those it already held (re-emitted after a replay). */
  published: number
  duplicates: number
  /** Scores in the batches taken as new. */
  scores: number
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
    // The worker threads pack scores into batches (stream-anomaly.ts packOutputs); scores that come unpacked
    // (a pipeline run outside them) are packed here, the same way.
    const batches: ScoreBatchOutput[] = []
    const others: StreamOutput[] = []
    const raw = outputs.some(isAnomalyOutput) ? packScores(partition, outputs) : outputs
    for (const o of raw) {
      if (isScoreBatchOutput(o)) batches.push(o)
      else others.push(o)
    }
    await Promise.all([others.length > 0 ? this.#inner.publish(partition, epoch, others) : undefined, ...batches.map((b) => this.#publishBatch(partition, b))])
  }

  async #publishBatch(partition: number, batch: ScoreBatchOutput): Promise<void> {
    const deadline = Date.now() + this.#budgetMs
    const ack = await retryWithBackoff(() => this.#js.publish(scoresSubject(partition), batch.data, { msgID: batch.id, timeout: 5000 }), { baseMs: 100, maxMs: 2000, deadline })
    if (ack.duplicate) this.stats.duplicates++
    else {
      this.stats.published++
      this.stats.scores += batch.scores
    }
  }
}
