// IngestUsage: counts taken once are published once; only what JetStream did not take is counted again.
import { describe, expect, it } from 'vitest'
import { IngestUsage } from '../../ingest/usage.ts'

describe('ingest usage counts', () => {
  it('gives back nothing when every sample was durable, the flagged ones when some were not, all when the publish failed', () => {
    const usage = new IngestUsage()
    usage.add('t_a', 'requests', 3)
    usage.add('t_a', 'samples', 9)
    const first = usage.take(1000)
    expect(first.samples.map((s) => [s[1], s[3]])).toEqual([
      ['ingest_requests', 3],
      ['ingest_samples', 9],
    ])
    // The publish outcome's null: every sample durable, nothing to count again.
    first.giveBack(null)
    expect(usage.take(2000).samples).toEqual([])

    usage.add('t_a', 'requests', 2)
    usage.add('t_a', 'refused', 1)
    const second = usage.take(3000)
    second.giveBack(Uint8Array.of(0, 1))
    expect(usage.take(4000).samples.map((s) => [s[1], s[3]])).toEqual([['ingest_refused', 1]])

    usage.add('t_a', 'bytes', 100)
    usage.take(5000).giveBack()
    expect(usage.take(6000).samples.map((s) => [s[1], s[3]])).toEqual([['ingest_bytes', 100]])
  })
})
