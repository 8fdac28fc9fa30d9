// A rule change takes effect at its config marker's place in each partition's
// log (docs/stream.md, Config markers): data posted before the marker is
// decided under the rules before it. A test that changes rules and then posts
// data waits here until every partition has the marker of the rules now in the
// bucket.
//
// Read from the config archive's records (ConfigArchive.markerSeq: the marker's
// seq once JetStream acked it), not from the partition's last message:
// a watermark tick published after the marker (a partition holding usage
// samples goes idle) is the last message then, and the marker is still in place.
import type { NatsConnection } from '@nats-io/transport-node'
import { openBucket, RULES_BUCKET, RuleStore } from '../../engine/index.ts'
import { streamRulesSnapshot } from '../../engine/rules/index.ts'
import { STREAM_CHECKPOINTS_BUCKET } from '../../engine/stream/index.ts'
import { ConfigArchive } from '../../engine/stream/config-markers.ts'

export async function waitForRulesMarked(nc: NatsConnection, partitions: number, timeout = 45_000): Promise<void> {
  const store = await RuleStore.open({ kv: await openBucket(nc, RULES_BUCKET) })
  const version = streamRulesSnapshot(store).config.version
  await store.close()
  const configs = new ConfigArchive(await openBucket(nc, STREAM_CHECKPOINTS_BUCKET))
  // A loop of its own, not expect.poll: callers wait in beforeAll too.
  const deadline = Date.now() + timeout
  let marked = 0
  while (Date.now() < deadline) {
    marked = 0
    for (let p = 0; p < partitions; p++) {
      if ((await configs.markerSeq(version, p)) !== undefined) marked++
    }
    if (marked === partitions) return
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`rules ${version}: marked in ${marked} of ${partitions} partitions after ${timeout} ms`)
}
