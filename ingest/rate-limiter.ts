// Per-tenant rate limits as a token bucket per tenant in this process: a
// bucket holds up to `burst` samples' worth of tokens and refills at
// `samplesPerSec`. A request is admitted when the bucket holds as many tokens
// as it has samples (or a full burst, for a request larger than the burst, so
// it is not refused forever); it takes all its samples, possibly running the
// bucket into debt, which the refill pays back before the next one passes. So
// the long-run rate stays at the quota whatever the request sizes.
//
// Each ingest process enforces the quota on what it sees: behind a load
// balancer spreading a tenant over N processes, the tenant gets up to N times
// its quota (README, "Quotas").
import type { TenantQuota } from '../engine/index.ts'

interface Bucket {
  tokens: number
  at: number
}

export interface QuotaSource {
  quotaOf(tenantId: string): TenantQuota
}

export class TenantRateLimiter {
  readonly #buckets = new Map<string, Bucket>()
  readonly #quotas: QuotaSource
  readonly #now: () => number

  constructor(quotas: QuotaSource, now: () => number = () => performance.now()) {
    this.#quotas = quotas
    this.#now = now
  }

  quotaOf(tenantId: string): TenantQuota {
    return this.#quotas.quotaOf(tenantId)
  }

  /** 0 when the samples are admitted (and their tokens taken); otherwise the whole seconds to wait before retrying. */
  admit(tenantId: string, samples: number): number {
    const quota = this.#quotas.quotaOf(tenantId)
    if (quota.samplesPerSec === 0) return 0
    const now = this.#now()
    let bucket = this.#buckets.get(tenantId)
    if (!bucket) this.#buckets.set(tenantId, (bucket = { tokens: quota.burst, at: now }))
    // A quota lowered since the last request caps the tokens at its burst here.
    bucket.tokens = Math.min(quota.burst, bucket.tokens + ((now - bucket.at) / 1000) * quota.samplesPerSec)
    bucket.at = now
    const needed = Math.min(samples, quota.burst)
    if (bucket.tokens >= needed) {
      bucket.tokens -= samples
      return 0
    }
    return Math.max(1, Math.ceil((needed - bucket.tokens) / quota.samplesPerSec))
  }
}
