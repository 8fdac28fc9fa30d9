// A rule change takes effect at its config marker's place in each partition's
// log (docs/stream.md, Config markers): data posted before the marker is
// decided under the rules before it. A test that changes rules and then posts
// data waits here until every partition's log ends with the marker of the rules
// now in the bucket.
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { BEACONS_STREAM, beaconSubject, openBucket, RULES_BUCKET, RuleStore } from '../../engine/index.ts'
import { streamRulesSnapshot } from '../../engine/rules/index.ts'
import { CONFIG_KIND, KIND_HEADER } from '../../engine/stream/index.ts'

export async function waitForRulesMarked(nc: NatsConnection, partitions: number, timeout = 45_000): Promise<void> {
  const store = await RuleStore.open({ kv: await openBucket(nc, RULES_BUCKET) })
  const version = streamRulesSnapshot(store).config.version
  await store.close()
  const jsm = await jetstreamManager(nc)
  // A loop of its own, not expect.poll: callers wait in beforeAll too.
  const deadline = Date.now() + timeout
  let marked = 0
  while (Date.now() < deadline) {
    marked = 0
    for (let p = 0; p < partitions; p++) {
      const last = await jsm.streams.getMessage(BEACONS_STREAM, { last_by_subj: beaconSubject(p) }).catch(() => undefined)
      if (last?.header?.get(KIND_HEADER) === CONFIG_KIND && last.json<{ version: string }>().version === version) marked++
    }
    if (marked === partitions) return
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`rules ${version}: marked in ${marked} of ${partitions} partitions after ${timeout} ms`)
}
