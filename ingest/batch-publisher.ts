// Coalesces samples from many requests into one msgpack batch per partition and
// publishes it to JetStream. A request's promise settles only when every batch
// holding one of its samples was acknowledged by JetStream: that is what lets
// the route answer 2xx only for durable data.
//
// Each batch has a message id; a failed publish is retried with the same id,
// and JetStream's duplicate window drops the copy if the first one did land.
import { randomBytes } from 'node:crypto'
import type { JetStreamClient } from '@nats-io/jetstream'
import { beaconSubject, encodeBatch, partitionOf, retryWithBackoff, seriesKey, SampleField, type Sample } from '../engine/index.ts'
import { IngestErrors } from './errors.ts'

export interface BatchPublisherOptions {
  js: JetStreamClient
  partitions: number
  /** Samples per message at most. */
  maxSamples: number
  /** How long a batch waits for more samples before it is published. */
  lingerMs: number
  /** Samples waiting for JetStream beyond which requests are refused with 503 (backpressure). */
  maxPendingSamples?: number
  /** Total time to keep retrying one batch before its requests get 503. */
  retryBudgetMs?: number
}

interface PendingBatch {
  samples: Sample[]
  settled: Promise<void>
  resolve: () => void
  reject: (err: Error) => void
}

export interface PublisherStats {
  batches: number
  samples: number
  retries: number
  failures: number
  pendingSamples: number
}

function newBatch(): PendingBatch {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const settled = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // A batch nobody awaits any more (its request was refused) must not crash the process.
  settled.catch(() => {})
  return { samples: [], settled, resolve, reject }
}

export class BatchPublisher {
  readonly stats: PublisherStats = { batches: 0, samples: 0, retries: 0, failures: 0, pendingSamples: 0 }
  readonly #o: Required<BatchPublisherOptions>
  readonly #open: (PendingBatch | undefined)[]
  readonly #inFlight = new Set<Promise<void>>()
  readonly #idPrefix = randomBytes(8).toString('hex')
  #sequence = 0
  #timer: NodeJS.Timeout | undefined

  constructor(options: BatchPublisherOptions) {
    this.#o = { maxPendingSamples: 500_000, retryBudgetMs: 10_000, ...options }
    this.#open = new Array(options.partitions).fill(undefined)
  }

  /** What /api/v2/health reports for ingest: ok false (503) with a reason when publishing is failing. */
  health(): { ok: boolean; reason?: string } & Record<string, unknown> {
    return { ok: true, ...this.stats }
  }

  /** Resolves once every sample is in JetStream; rejects with TM_INGEST_* if that cannot be done. */
  publish(samples: Sample[]): Promise<void> {
    if (this.stats.pendingSamples + samples.length > this.#o.maxPendingSamples) {
      return Promise.reject(new IngestErrors.Overloaded(String(this.#o.maxPendingSamples)))
    }
    this.stats.pendingSamples += samples.length
    const waits: Promise<void>[] = []
    for (const sample of samples) {
      const partition = partitionOf(sample[SampleField.Tenant], seriesKey(sample[SampleField.Metric], sample[SampleField.Tags]), this.#o.partitions)
      let batch = this.#open[partition]
      if (!batch) {
        batch = newBatch()
        this.#open[partition] = batch
      }
      batch.samples.push(sample)
      if (waits[waits.length - 1] !== batch.settled && !waits.includes(batch.settled)) waits.push(batch.settled)
      if (batch.samples.length >= this.#o.maxSamples) this.#send(partition)
    }
    if (this.#timer === undefined && this.#open.some((b) => b !== undefined)) {
      this.#timer = setTimeout(() => this.flush(), this.#o.lingerMs)
    }
    return waits.length === 1 ? (waits[0] as Promise<void>) : Promise.all(waits).then(() => undefined)
  }

  /** Publishes every open batch now. */
  flush(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    for (let partition = 0; partition < this.#open.length; partition++) if (this.#open[partition]) this.#send(partition)
  }

  /** Publishes what is open and waits for every publish to settle. */
  async drain(): Promise<void> {
    this.flush()
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight])
  }

  #send(partition: number): void {
    const batch = this.#open[partition]
    if (!batch) return
    this.#open[partition] = undefined
    const msgID = `${this.#idPrefix}-${++this.#sequence}`
    const done = this.#publishWithRetry(beaconSubject(partition), encodeBatch(batch.samples), msgID).then(
      () => {
        this.stats.batches++
        this.stats.samples += batch.samples.length
        this.stats.pendingSamples -= batch.samples.length
        batch.resolve()
      },
      (err: Error) => {
        this.stats.failures++
        this.stats.pendingSamples -= batch.samples.length
        batch.reject(new IngestErrors.Unavailable(err.message, { cause: err }))
      }
    )
    this.#inFlight.add(done)
    void done.finally(() => this.#inFlight.delete(done))
  }

  #publishWithRetry(subject: string, data: Uint8Array, msgID: string): Promise<void> {
    const deadline = Date.now() + this.#o.retryBudgetMs
    // An ack marked duplicate means an earlier attempt landed: that is success too.
    return retryWithBackoff(
      async () => {
        await this.#o.js.publish(subject, data, { msgID, timeout: Math.max(100, Math.min(5000, deadline - Date.now())) })
      },
      { baseMs: 100, maxMs: 2000, deadline, onRetry: () => this.stats.retries++ }
    )
  }
}
