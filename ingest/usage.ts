// What each tenant's ingest credential did on this process (requests, samples
// made durable, body bytes as sent, requests rate-limited, requests otherwise
// refused), published every interval as samples of the system tenant tagged
// with the tenant and this process (engine/tenancy/usage-series.ts says why there).
// Each point is the count over its interval, so a sum over a range is the total.
// /metrics carries no tenant at all.
import { randomBytes } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { USAGE_METRICS, USAGE_TENANT, USAGE_TENANT_TAG, type Sample, type UsageCounter } from '../engine/index.ts'

type Counts = Record<UsageCounter, number>
const zero = (): Counts => ({ requests: 0, samples: 0, bytes: 0, rateLimited: 0, refused: 0 })
const COUNTERS = Object.keys(USAGE_METRICS) as UsageCounter[]
const COUNTER_OF = Object.fromEntries(COUNTERS.map((counter) => [USAGE_METRICS[counter], counter])) as Record<string, UsageCounter>

export class IngestUsage {
  /** Tells this process's points from another's: two processes' points at one ts are two series. */
  readonly process = randomBytes(4).toString('hex')
  #counts = new Map<string, Counts>()

  add(tenantId: string, counter: UsageCounter, n: number): void {
    let counts = this.#counts.get(tenantId)
    if (!counts) this.#counts.set(tenantId, (counts = zero()))
    counts[counter] += n
  }

  /**
   * Takes the counts since the last take as samples stamped `now`. `giveBack` restores those whose publish
   * failed: the ones flagged in notDurable, none for null (the publish outcome's "every sample is durable"),
   * all when called without an argument (the publish failed as a whole).
   */
  take(now: number): { samples: Sample[]; giveBack: (notDurable?: Uint8Array | null) => void } {
    const taken = this.#counts
    this.#counts = new Map()
    const samples: Sample[] = []
    for (const [tenant, counts] of taken) {
      const tags = { [USAGE_TENANT_TAG]: tenant, process: this.process }
      for (const counter of COUNTERS) if (counts[counter] > 0) samples.push([USAGE_TENANT, USAGE_METRICS[counter], now, counts[counter], tags, now])
    }
    const giveBack = (notDurable?: Uint8Array | null) => {
      samples.forEach((s, i) => {
        // No flags: the publish failed, all of it comes back; null: every sample is durable, none does.
        if (notDurable === undefined || (notDurable !== null && notDurable[i])) {
          this.add((s[4] as Record<string, string>)[USAGE_TENANT_TAG] as string, COUNTER_OF[s[1]] as UsageCounter, s[3])
        }
      })
    }
    return { samples, giveBack }
  }
}

/**
 * A route's onResponse hook counting each request for the tenant it wrote for (none found: not counted).
 * Callback style, not async: it runs for every request, and has nothing to wait for.
 */
export function usageHook(usage: () => IngestUsage | undefined, tenantOf: (request: FastifyRequest) => string | undefined) {
  return (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const counts = usage()
    const tenant = tenantOf(request)
    if (counts && tenant) {
      counts.add(tenant, 'requests', 1)
      const length = Number(request.headers['content-length'])
      if (length > 0) counts.add(tenant, 'bytes', length)
      if (reply.statusCode === 429) counts.add(tenant, 'rateLimited', 1)
      else if (reply.statusCode >= 400) counts.add(tenant, 'refused', 1)
    }
    done()
  }
}
