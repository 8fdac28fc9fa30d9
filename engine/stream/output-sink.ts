// Where a partition's outputs go. Outputs are deterministic (same log, same id
// and content), so the sink only has to drop repeats: JetStream does, by msgID
// within the stream's duplicate window. The owner's lease epoch rides along in
// a header; since two owners emit identical outputs, a consumer needs it only to
// tell who emitted what, never to choose between versions.
import { headers } from '@nats-io/transport-node'
import type { JetStreamClient } from '@nats-io/jetstream'
import { retryWithBackoff } from '../retry.ts'
import type { StreamOutput } from './series-evaluator.ts'
import { EPOCH_HEADER, windowsSubject } from './stream-layout.ts'

export interface OutputSink {
  /** Resolves once every output is durable; rejects if that could not be done (the partition then rebuilds and re-emits). */
  publish(partition: number, epoch: number, outputs: StreamOutput[]): Promise<void>
}

export interface JetStreamOutputSinkOptions {
  /** The subject of an output; window results go to tm.windows.<partition>. */
  subjectOf?: (output: StreamOutput, partition: number) => string
  /** How long one publish is retried (same msgID) before the batch fails. */
  retryBudgetMs?: number
}

const encoder = new TextEncoder()

function defaultSubject(output: StreamOutput, partition: number): string {
  if (output.kind === 'window') return windowsSubject(partition)
  throw new Error(`no subject for stream output kind ${output.kind}`)
}

export class JetStreamOutputSink implements OutputSink {
  readonly #js: JetStreamClient
  readonly #subjectOf: (output: StreamOutput, partition: number) => string
  readonly #budget: number

  constructor(js: JetStreamClient, options: JetStreamOutputSinkOptions = {}) {
    this.#js = js
    this.#subjectOf = options.subjectOf ?? defaultSubject
    this.#budget = options.retryBudgetMs ?? 10_000
  }

  async publish(partition: number, epoch: number, outputs: StreamOutput[]): Promise<void> {
    const deadline = Date.now() + this.#budget
    const h = headers()
    h.set(EPOCH_HEADER, String(epoch))
    await Promise.all(
      outputs.map((o) => {
        const subject = this.#subjectOf(o, partition)
        const data = encoder.encode(JSON.stringify(o))
        // A duplicate ack (an earlier attempt, or another owner, landed it) is success too.
        return retryWithBackoff(() => this.#js.publish(subject, data, { msgID: o.id, headers: h, timeout: 5000 }), { baseMs: 100, maxMs: 2000, deadline })
      })
    )
  }
}
