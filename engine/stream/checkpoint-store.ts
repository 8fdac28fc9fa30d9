// Replay checkpoints, one KV key per partition. A checkpoint says: every output
// of the partition's messages up to `seq` was emitted, and replaying from
// `resume` (with the watermark and late count it names) rebuilds the state
// exactly. The owner writes one only after the outputs it covers are durable,
// with compare-and-set on the key's revision, and never moves it back.
// Before a partition's first checkpoint there is an anchor: start at a stream
// time, emit everything. All owners agree on it because the first one creates it.
//
// A checkpoint may refer to a snapshot (partition-snapshot.ts): the evaluators'
// states a replay cannot rebuild. It is written first, in chunks under
// `snap.p<partition>.<id>.<i>` (KV values are bounded by max_payload, 1 MiB by
// default), then the checkpoint naming it; the snapshot it replaced is purged
// only after that. A checkpoint and the snapshot it names always go together.
import type { KV } from '@nats-io/kv'
import { EngineErrors } from '../errors.ts'
import type { PartitionCheckpoint } from './window-pipeline.ts'

/** Where a partition's snapshot is stored: `chunks` values under `<key>.<i>`, `bytes` in all. */
export interface SnapshotRef {
  key: string
  chunks: number
  bytes: number
  /** The partition had applied its messages up to here when it was taken. */
  seq: number
}

/** Under the default max_payload (1 MiB) with room for the headers. */
export const SNAPSHOT_CHUNK_BYTES = 512 * 1024

export interface StoredResume {
  /** Replay from this stream sequence; absent on an anchor, which starts at startTime. */
  seq?: number
  /** ISO time: an anchor replays the log from here. */
  startTime?: string
  watermark: number
  late: number
  /** The config version (rules) in effect at the resume point (config-markers.ts); absent on an anchor. */
  config?: string
}

export interface StoredCheckpoint {
  v: 1
  /** Outputs of messages up to here were emitted; 0 on an anchor. */
  seq: number
  resume: StoredResume
  watermark: number
  late: number
  /** The window names the state was built with; a change is logged (results of the first replayed windows may then be partial). */
  windows: string
  owner: string
  epoch: number
  /** Epoch ms of the write. */
  at: number
  /** The evaluators' states this checkpoint's resume point relies on (absent: none kept any). */
  snapshot?: SnapshotRef
}

export interface LoadedCheckpoint {
  checkpoint: StoredCheckpoint
  revision: number
}

export function checkpointKey(partition: number): string {
  return `p${partition}`
}

// The watermark is -Infinity before the first sample; JSON has no -Infinity.
const encode = (c: StoredCheckpoint): string => JSON.stringify(c, (_k, v: unknown) => (v === -Infinity ? null : v))

function decode(text: string): StoredCheckpoint {
  const c = JSON.parse(text) as StoredCheckpoint
  c.watermark ??= -Infinity
  c.resume.watermark ??= -Infinity
  return c
}

function isCasConflict(err: unknown): boolean {
  return /wrong last sequence|key exists/i.test((err as Error).message)
}

export function toStored(checkpoint: PartitionCheckpoint, meta: Pick<StoredCheckpoint, 'windows' | 'owner' | 'epoch' | 'snapshot'>): StoredCheckpoint {
  const { snapshot, ...rest } = meta
  const stored: StoredCheckpoint = { v: 1, seq: checkpoint.seq, resume: { ...checkpoint.resume }, watermark: checkpoint.watermark, late: checkpoint.late, ...rest, at: Date.now() }
  if (snapshot) stored.snapshot = snapshot
  return stored
}

let snapshotIds = 0

export class CheckpointStore {
  readonly #kv: KV

  constructor(kv: KV) {
    this.#kv = kv
  }

  async load(partition: number): Promise<LoadedCheckpoint | undefined> {
    const entry = await this.#kv.get(checkpointKey(partition))
    if (!entry || entry.operation !== 'PUT') return undefined
    return { checkpoint: decode(entry.string()), revision: entry.revision }
  }

  /** The partition's checkpoint, or the anchor made by whoever got there first. */
  async loadOrAnchor(partition: number, anchor: () => StoredCheckpoint): Promise<LoadedCheckpoint> {
    for (;;) {
      const loaded = await this.load(partition)
      if (loaded) return loaded
      const checkpoint = anchor()
      try {
        return { checkpoint, revision: await this.#kv.create(checkpointKey(partition), encode(checkpoint)) }
      } catch (err) {
        if (!isCasConflict(err)) throw err
        // Another owner anchored it a moment ago: use theirs.
      }
    }
  }

  /** Writes a snapshot's chunks under a key of its own; the checkpoint that names it is written after. */
  async saveSnapshot(partition: number, epoch: number, seq: number, bytes: Uint8Array): Promise<SnapshotRef> {
    const key = `snap.p${partition}.${epoch}-${seq}-${Date.now().toString(36)}${(snapshotIds++).toString(36)}`
    const chunks = Math.max(1, Math.ceil(bytes.length / SNAPSHOT_CHUNK_BYTES))
    const writes: Promise<number>[] = []
    for (let i = 0; i < chunks; i++) writes.push(this.#kv.put(`${key}.${i}`, bytes.subarray(i * SNAPSHOT_CHUNK_BYTES, (i + 1) * SNAPSHOT_CHUNK_BYTES)))
    await Promise.all(writes)
    return { key, chunks, bytes: bytes.length, seq }
  }

  /** The snapshot a checkpoint names; TM_ENGINE_SNAPSHOT_INVALID when a chunk is missing or the length differs. */
  async loadSnapshot(ref: SnapshotRef): Promise<Uint8Array> {
    const parts = await Promise.all(Array.from({ length: ref.chunks }, (_, i) => this.#kv.get(`${ref.key}.${i}`)))
    const out = new Uint8Array(ref.bytes)
    let at = 0
    for (const [i, e] of parts.entries()) {
      if (!e || e.operation !== 'PUT') throw new EngineErrors.SnapshotInvalid(`chunk ${i} of ${ref.key} is missing`)
      if (at + e.value.length > ref.bytes) throw new EngineErrors.SnapshotInvalid(`${ref.key} is longer than the ${ref.bytes} bytes its checkpoint names`)
      out.set(e.value, at)
      at += e.value.length
    }
    if (at !== ref.bytes) throw new EngineErrors.SnapshotInvalid(`${ref.key} holds ${at} bytes, its checkpoint names ${ref.bytes}`)
    return out
  }

  /** Purges a snapshot no checkpoint names any more (best effort: a leftover is only space). */
  async dropSnapshot(ref: SnapshotRef): Promise<void> {
    await Promise.all(Array.from({ length: ref.chunks }, (_, i) => this.#kv.purge(`${ref.key}.${i}`).catch(() => {})))
  }

  /**
   * Writes checkpoint over the one at revision. Answers the new revision, or
   * undefined when the stored one is already as far or further (someone else
   * wrote it since: the caller's state is behind and should be rebuilt).
   *
   * `fresh`, the snapshot this checkpoint is the first to name, is purged only
   * when the checkpoint is known not to have been written (the undefined
   * answer). A write that failed otherwise (a timeout, NATS going away) may
   * have landed all the same, and a stored checkpoint naming a purged snapshot
   * would stop its partition for good: each generation would open it and fail
   * on the missing chunk (seen in the trigger bench under load, kv.update timing out).
   * Kept, an unnamed snapshot is only space.
   */
  async save(partition: number, checkpoint: StoredCheckpoint, revision: number, fresh?: SnapshotRef): Promise<number | undefined> {
    const written = await this.#write(partition, checkpoint, revision)
    if (written === undefined && fresh) void this.dropSnapshot(fresh)
    return written
  }

  async #write(partition: number, checkpoint: StoredCheckpoint, revision: number): Promise<number | undefined> {
    try {
      return await this.#kv.update(checkpointKey(partition), encode(checkpoint), revision)
    } catch (err) {
      if (!isCasConflict(err)) throw err
    }
    const current = await this.load(partition)
    if (current && current.checkpoint.seq >= checkpoint.seq) return undefined
    // An older one was written in between (a stale owner's last write): ours is newer, keep it.
    return current ? this.#write(partition, checkpoint, current.revision) : this.#kv.create(checkpointKey(partition), encode(checkpoint))
  }
}
