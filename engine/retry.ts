// One retry-with-backoff for every dependency call that may fail for a while
// (a JetStream publish, a ClickHouse insert, a nats-server restart): the delay
// doubles from baseMs up to maxMs, and a deadline or a stop condition ends it.
import { setTimeout as sleep } from 'node:timers/promises'

export interface Backoff {
  /** The first delay. */
  baseMs: number
  /** No delay is longer than this. */
  maxMs: number
}

/** The delay before retry number `attempt` (0-based): baseMs · 2^attempt, capped at maxMs. */
export function backoffDelayMs(attempt: number, { baseMs, maxMs }: Backoff): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30))
}

export interface RetryOptions extends Backoff {
  /** Epoch ms after which the last error is thrown instead of waiting again. */
  deadline?: number
  /** Checked after each failure: true throws the error at once (a stop, an error no retry can fix). */
  giveUp?: (err: unknown, attempt: number) => boolean
  /** Called before each wait, e.g. to log, count, or keep a message alive. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void
  /** Aborted: the wait under way ends at once and the last error is thrown (a stop with a deadline). */
  signal?: AbortSignal
}

/** Runs work until it succeeds, waiting backoffDelayMs between attempts. */
export async function retryWithBackoff<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work(attempt)
    } catch (err) {
      const delay = backoffDelayMs(attempt, options)
      if (options.giveUp?.(err, attempt)) throw err
      if (options.deadline !== undefined && Date.now() + delay > options.deadline) throw err
      if (options.signal?.aborted) throw err
      options.onRetry?.(err, attempt, delay)
      await sleep(delay, undefined, { signal: options.signal }).catch(() => {
        throw err
      })
    }
  }
}

/** Resolves with work's result, or undefined once ms passed (work goes on; the timer keeps no process alive). */
export function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([work, sleep(Math.max(0, ms), undefined, { ref: false })])
}
