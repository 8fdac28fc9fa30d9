// The token bucket per tenant, on a clock the test moves.
import { describe, expect, it } from 'vitest'
import type { TenantQuota } from '../../engine/index.ts'
import { TenantRateLimiter } from '../../ingest/rate-limiter.ts'

function limiter(quotas: Record<string, TenantQuota>, fallback: TenantQuota = { samplesPerSec: 0, burst: 1 }) {
  let now = 0
  const l = new TenantRateLimiter({ quotaOf: (t) => quotas[t] ?? fallback }, () => now)
  return { l, advance: (ms: number) => (now += ms) }
}

describe('TenantRateLimiter', () => {
  it('admits a burst at once, then the rate: over 10 s about rate x 10 + burst', () => {
    const { l, advance } = limiter({ a: { samplesPerSec: 1000, burst: 2000 } })
    let admitted = 0
    for (let ms = 0; ms < 10_000; ms += 10) {
      while (l.admit('a', 50) === 0) admitted += 50
      advance(10)
    }
    expect(admitted).toBeGreaterThanOrEqual(2000 + 9_900)
    expect(admitted).toBeLessThanOrEqual(2000 + 10_000 + 50)
  })

  it('says how long to wait, in whole seconds, at least 1', () => {
    const { l, advance } = limiter({ a: { samplesPerSec: 100, burst: 100 } })
    expect(l.admit('a', 100)).toBe(0)
    expect(l.admit('a', 100)).toBe(1)
    advance(500)
    expect(l.admit('a', 100)).toBe(1)
    expect(l.admit('a', 1)).toBe(0)
    const slow = limiter({ a: { samplesPerSec: 10, burst: 100 } })
    expect(slow.l.admit('a', 100)).toBe(0)
    expect(slow.l.admit('a', 100)).toBe(10)
  })

  it('admits a request larger than the burst once the bucket is full, and makes it pay: the rate holds', () => {
    const { l, advance } = limiter({ a: { samplesPerSec: 100, burst: 100 } })
    expect(l.admit('a', 1000)).toBe(0)
    // 900 in debt: 10 s before the bucket is full again.
    advance(9000)
    expect(l.admit('a', 1000)).toBe(1)
    advance(1000)
    expect(l.admit('a', 1000)).toBe(0)
  })

  it('keeps tenants apart, and 0 means no limit', () => {
    const { l } = limiter({ a: { samplesPerSec: 10, burst: 10 }, b: { samplesPerSec: 0, burst: 1 } })
    expect(l.admit('a', 10)).toBe(0)
    expect(l.admit('a', 10)).toBeGreaterThan(0)
    for (let i = 0; i < 100; i++) expect(l.admit('b', 1_000_000)).toBe(0)
    expect(l.admit('c', 1_000_000)).toBe(0)
  })

  it('caps the tokens at a lowered burst', () => {
    const quotas: Record<string, TenantQuota> = { a: { samplesPerSec: 1000, burst: 10_000 } }
    const { l } = limiter(quotas)
    expect(l.admit('a', 1)).toBe(0)
    quotas.a = { samplesPerSec: 1, burst: 10 }
    expect(l.admit('a', 10)).toBe(0)
    expect(l.admit('a', 10)).toBeGreaterThan(0)
  })
})
