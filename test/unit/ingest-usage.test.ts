// What IngestUsage gives back after a publish: only what did not land.
import { expect, it } from 'vitest'
import { IngestUsage } from '../../ingest/usage.ts'

it('counts a durable publish once, and gives back all of a failed one and the flagged samples of a partial one', () => {
  const usage = new IngestUsage()
  usage.add('t_1', 'requests', 2)
  usage.add('t_1', 'samples', 300)
  const first = usage.take(1000)
  expect(first.samples.map((s) => [s[1], s[3]])).toEqual([
    ['ingest_requests', 2],
    ['ingest_samples', 300],
  ])
  // Every sample durable (the publisher passes notDurable = null): nothing comes back to be counted again.
  first.giveBack(null)
  expect(usage.take(2000).samples).toEqual([])

  usage.add('t_1', 'requests', 1)
  usage.add('t_1', 'samples', 5)
  usage.take(3000).giveBack()
  const failed = usage.take(4000)
  expect(failed.samples.map((s) => s[3])).toEqual([1, 5])
  // A partial publish: only the flagged sample (samples, the second) is counted again.
  failed.giveBack(Uint8Array.of(0, 1))
  expect(usage.take(5000).samples.map((s) => [s[1], s[3]])).toEqual([['ingest_samples', 5]])
})
