// A nats-server of the test's own with the stream engine's checkpoints bucket in
// it, made as the engine makes it (ensureStreamLayout), under names of the test's
// own: what the checkpoint store and the config archive are tested against.
import type { KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { ensureStreamLayout } from '../../engine/stream/stream-layout.ts'
import { connectAs, startNats } from './stack.ts'

export interface CheckpointsBucket {
  nc: NatsConnection
  kv: KV
  stop(): Promise<void>
}

export async function checkpointsBucket(name: string): Promise<CheckpointsBucket> {
  const nats = await startNats()
  const nc = await connectAs(nats)
  const { checkpoints } = await ensureStreamLayout(nc, { replicas: 1, leaseTtlMs: 3000, checkpointsBucket: name, leasesBucket: `${name}_leases` })
  return {
    nc,
    kv: checkpoints,
    async stop() {
      await nc.close()
      await nats.stop()
    },
  }
}
