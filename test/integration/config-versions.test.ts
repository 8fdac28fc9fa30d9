// Stored config versions (the rules each marker and checkpoint names, in the
// checkpoints bucket) are purged once nothing can need them: no checkpoint of
// any partition names one, no marker naming it is still in the beacons stream,
// it is not the current one, and it was not stored within the grace period.
// Against a real nats-server's KV bucket; a purged version stored again reads
// back whole.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { KV } from '@nats-io/kv'
import { ConfigArchive } from '../../engine/stream/config-markers.ts'
import { checkpointsBucket, type CheckpointsBucket } from '../helpers/checkpoints-bucket.ts'

let bucket: CheckpointsBucket
let kv: KV

beforeAll(async () => {
  bucket = await checkpointsBucket('tm_config_versions_test')
  kv = bucket.kv
})

afterAll(() => bucket?.stop())

const rules = (name: string): unknown => ({ version: name, base: { groups: [{ name, rules: [{ alert: name, expr: 'cpu_usage > 80' }] }] }, tenants: {} })

async function keysOf(version: string): Promise<string[]> {
  const out: string[] = []
  for await (const key of await kv.keys()) if (key.split('.')[1] === version) out.push(key)
  return out.sort()
}

describe('config versions in the checkpoints bucket', () => {
  it('keeps what a checkpoint, a marker still in the stream, a pending marker or the current rules need; purges the rest', async () => {
    const archive = new ConfigArchive(kv)
    // The first purge records where marker recording began (the stream's last seq then): markers before it
    // were not recorded, so nothing is purged while the stream still holds any of them.
    expect(await archive.purgeUnneeded({ firstSeq: 1, lastSeq: 10, graceMs: 0 })).toEqual([])
    for (const v of ['named', 'marked', 'aged', 'pending', 'current', 'loose']) await archive.put(v, rules(v))
    // A big one: several chunks.
    await archive.put('big', { version: 'big', text: 'x'.repeat(600_000) })
    await kv.put('p0', JSON.stringify({ v: 1, seq: 70, resume: { seq: 60, watermark: 0, late: 0, config: 'named' } }))
    await kv.put('p3', JSON.stringify({ v: 1, seq: 0, resume: { startTime: new Date().toISOString(), watermark: null, late: 0 } }))
    await archive.noteMarker('marked', 1, 55)
    await archive.noteMarker('aged', 2, 30)
    await archive.noteMarker('pending', 2)
    // Still the marks of the stream's first messages (seq 9 and on): nothing yet.
    expect(await archive.purgeUnneeded({ firstSeq: 9, lastSeq: 90, current: 'current', graceMs: 0 })).toEqual([])
    // Messages up to 39 are gone from the stream.
    const purged = await archive.purgeUnneeded({ firstSeq: 40, lastSeq: 90, current: 'current', graceMs: 0 })
    expect(purged.sort()).toEqual(['aged', 'big', 'loose'])
    for (const v of purged) expect(await keysOf(v), v).toEqual([])
    const fresh = new ConfigArchive(kv)
    for (const v of ['named', 'marked', 'pending', 'current']) expect(await fresh.get(v), v).toEqual(rules(v))
    for (const v of purged) expect(await fresh.get(v), v).toBeUndefined()
  })

  it('keeps a version stored within the grace period (another engine may be about to mark it)', async () => {
    const archive = new ConfigArchive(kv)
    await archive.put('recent', rules('recent'))
    expect(await archive.purgeUnneeded({ firstSeq: 100, lastSeq: 200 })).not.toContain('recent')
    expect(await archive.purgeUnneeded({ firstSeq: 100, lastSeq: 200, graceMs: 0 })).toContain('recent')
  })

  it('a version purged and stored again (the rules reverted) reads back whole; a marker for it keeps it', async () => {
    const archive = new ConfigArchive(kv)
    await archive.put('again', { version: 'again', text: 'y'.repeat(700_000) })
    expect(await archive.purgeUnneeded({ firstSeq: 100, lastSeq: 200, graceMs: 0 })).toContain('again')
    await archive.put('again', { version: 'again', text: 'y'.repeat(700_000) })
    await archive.noteMarker('again', 0, 150)
    expect(await archive.purgeUnneeded({ firstSeq: 100, lastSeq: 200, graceMs: 0 })).not.toContain('again')
    expect(await new ConfigArchive(kv).get('again')).toEqual({ version: 'again', text: 'y'.repeat(700_000) })
  })
})
