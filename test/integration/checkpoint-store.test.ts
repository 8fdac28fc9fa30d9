// A partition's checkpoint and the snapshot it names, against a real nats-server's
// KV: a snapshot written for a checkpoint is purged only when that checkpoint
// surely did not land. A write that timed out may have landed; had its snapshot
// been purged, every later generation would open a checkpoint naming missing
// chunks and fail, and the partition would never run again (seen in the trigger
// bench: kv.update timed out under load and four partitions stopped for good).
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { KV } from '@nats-io/kv'
import { checkpointsBucket, type CheckpointsBucket } from '../helpers/checkpoints-bucket.ts'
import { CheckpointStore, type StoredCheckpoint } from '../../engine/stream/checkpoint-store.ts'

let bucket: CheckpointsBucket
let kv: KV

beforeAll(async () => {
  bucket = await checkpointsBucket('tm_checkpoint_store_test')
  kv = bucket.kv
})

afterAll(() => bucket?.stop())

const checkpointAt = (seq: number): StoredCheckpoint => ({
  v: 1,
  seq,
  resume: { seq: seq + 1, watermark: 1000, late: 0 },
  watermark: 1000,
  late: 0,
  windows: '1m',
  owner: 'engine-a',
  epoch: 1,
  at: Date.now(),
})

/** The bucket, except that update() writes and then fails as a timeout would: the caller cannot tell it landed. */
function updatesThenTimesOut(inner: KV): KV {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'update') {
        return async (key: string, value: string, revision: number) => {
          await target.update(key, value, revision)
          throw Object.assign(new Error('timeout'), { name: 'TimeoutError' })
        }
      }
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}

it('keeps the fresh snapshot when the checkpoint write fails in a way that may have landed, and the partition opens again', async () => {
  const partition = 1
  const plain = new CheckpointStore(kv)
  const { revision } = await plain.loadOrAnchor(partition, () => checkpointAt(0))
  const bytes = new Uint8Array(300_000).map((_, i) => i % 251)
  const fresh = await plain.saveSnapshot(partition, 1, 10, bytes)

  const flaky = new CheckpointStore(updatesThenTimesOut(kv))
  await expect(flaky.save(partition, { ...checkpointAt(10), snapshot: fresh }, revision, fresh)).rejects.toThrow(/timeout/)
  // Give a purge (fire and forget) time to land, were there one.
  await new Promise((r) => setTimeout(r, 300))

  // The next generation: the checkpoint landed and names the snapshot, which must still be whole.
  const loaded = await plain.load(partition)
  expect(loaded?.checkpoint.seq).toBe(10)
  expect(loaded?.checkpoint.snapshot?.key).toBe(fresh.key)
  expect(await plain.loadSnapshot(loaded!.checkpoint.snapshot!)).toEqual(bytes)
})

it('purges the fresh snapshot when a newer checkpoint was written elsewhere, and keeps the one that names its own', async () => {
  const partition = 2
  const store = new CheckpointStore(kv)
  const { revision } = await store.loadOrAnchor(partition, () => checkpointAt(0))
  // Another owner got further meanwhile, with a snapshot of its own.
  const theirs = await store.saveSnapshot(partition, 2, 20, new Uint8Array([1, 2, 3]))
  expect(await store.save(partition, { ...checkpointAt(20), snapshot: theirs }, revision, theirs)).toBeTypeOf('number')

  const ours = await store.saveSnapshot(partition, 1, 15, new Uint8Array([4, 5, 6]))
  expect(await store.save(partition, { ...checkpointAt(15), snapshot: ours }, revision, ours)).toBeUndefined()
  const deadline = Date.now() + 5000
  let purged = false
  while (!purged && Date.now() < deadline) {
    purged = await store.loadSnapshot(ours).then(
      () => false,
      (err: Error) => /missing/.test(err.message)
    )
    if (!purged) await new Promise((r) => setTimeout(r, 50))
  }
  expect(purged, 'the snapshot no checkpoint names is purged').toBe(true)
  const loaded = await store.load(partition)
  expect(loaded?.checkpoint.seq).toBe(20)
  expect(await store.loadSnapshot(loaded!.checkpoint.snapshot!)).toEqual(new Uint8Array([1, 2, 3]))
})
