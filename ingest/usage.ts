// What each tenant's ingest credential did on this process (requests, samples
// accepted, body bytes as sent, requests rate-limited, requests otherwise
// refused), published every interval into that tenant's own data as the
// series tm_usage_* with a `process` tag: the tenant reads its usage with its
// apiKey like any metric (aggregate, SQL) and no other tenant can, and /metrics
// carries no tenant at all. Each point is the count over its interval, so a sum
// over a range is the total. The tm_usage_ prefix is reserved: beacons may not
// use it (beacon-samples.ts), so the series cannot be forged.
import { randomBytes } from 'node:crypto'
import type { Sample } from '../engine/index.ts'

export const USAGE_METRIC_PREFIX = 'tm_usage_'
export const USAGE_METRICS = {
  requests: 'tm_usage_requests',
  samples: 'tm_usage_samples',
  bytes: 'tm_usage_bytes',
  rateLimited: 'tm_usage_rate_limited',
  refused: 'tm_usage_refused',
} as const

export type UsageCounter = keyof typeof USAGE_METRICS

type Counts = Record<UsageCounter, number>
const zero = (): Counts => ({ requests: 0, samples: 0, bytes: 0, rateLimited: 0, refused: 0 })

export class IngestUsage {
  /** Tells this process's points from another's: two processes' points at one ts are two series. */
  readonly process = randomBytes(4).toString('hex')
  #counts = new Map<string, Counts>()

  add(tenantId: string, counter: UsageCounter, n: number): void {
    let counts = this.#counts.get(tenantId)
    if (!counts) this.#counts.set(tenantId, (counts = zero()))
    counts[counter] += n
  }

  /** What was counted since the last take, for one tenant (tests) or all. */
  peek(tenantId: string): Counts | undefined {
    return this.#counts.get(tenantId)
  }

  /** Takes the counts since the last take as samples stamped `now`; `giveBack` restores those whose publish failed (all, without flags). */
  take(now: number): { samples: Sample[]; giveBack: (notDurable?: Uint8Array | null) => void } {
    const taken = this.#counts
    this.#counts = new Map()
    const tags = { process: this.process }
    const samples: Sample[] = []
    for (const [tenant, counts] of taken) {
      for (const counter of Object.keys(USAGE_METRICS) as UsageCounter[]) {
        if (counts[counter] > 0) samples.push([tenant, USAGE_METRICS[counter], now, counts[counter], tags, now])
      }
    }
    const counterOf = Object.fromEntries(Object.entries(USAGE_METRICS).map(([counter, metric]) => [metric, counter])) as Record<string, UsageCounter>
    const giveBack = (notDurable?: Uint8Array | null) => {
      samples.forEach((s, i) => {
        if (notDurable === undefined || notDurable === null || notDurable[i]) this.add(s[0], counterOf[s[1]] as UsageCounter, s[3])
      })
    }
    return { samples, giveBack }
  }
}
