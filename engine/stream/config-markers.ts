// Config markers: how a change of the evaluators' configuration (a tenant's
// rules) takes a place in each partition's log, so outputs stay a function of
// the log. The owner of a partition publishes a marker naming the new version
// into the partition's own subject, as it does watermark ticks; every replay,
// by any owner, switches configurations at that same message. Header
// Tm-Kind: config, JSON body {"version": "<version>"}; the storage consumer
// acks it without inserting (isControlMessage).
//
// A marker names a version; the configuration itself is kept in the
// checkpoints bucket under `config.<version>` (ConfigArchive), written before
// any marker or checkpoint names it, so a replay long after the change (a new
// process, another engine) still finds the rules that were in effect.
import { headers, type MsgHdrs } from '@nats-io/transport-node'
import type { KV } from '@nats-io/kv'
import { CONFIG_KIND, KIND_HEADER } from './stream-layout.ts'

export interface ConfigMarkerMessage {
  data: Uint8Array
  headers: MsgHdrs
  msgID: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
/** A version is a KV key token (a digest in practice). */
const VERSION = /^[A-Za-z0-9_-]{1,128}$/

/**
 * epoch and afterSeq (the publisher's lease epoch and the last message it had read): a retried publish of the
 * same decision is one message, and never the duplicate of another owner's marker of the same version (two
 * readers that have read nothing yet both say 0; JetStream would drop the second and it would think it marked).
 */
export function configMarkerMessage(partition: number, version: string, epoch: number, afterSeq: number): ConfigMarkerMessage {
  if (!VERSION.test(version)) throw new TypeError(`config version "${version}" is not a key token`)
  const h = headers()
  h.set(KIND_HEADER, CONFIG_KIND)
  return { data: encoder.encode(JSON.stringify({ version })), headers: h, msgID: `config-${partition}-${version}-${epoch}-${afterSeq}` }
}

/** The marker's version; undefined when the message is not a config marker, or not a readable one. */
export function configMarkerOf(message: { headers?: MsgHdrs; data: Uint8Array }): string | undefined {
  if (message.headers?.get(KIND_HEADER) !== CONFIG_KIND) return undefined
  try {
    const { version } = JSON.parse(decoder.decode(message.data)) as { version: unknown }
    return typeof version === 'string' && VERSION.test(version) ? version : undefined
  } catch {
    return undefined
  }
}

/** True for anything on tm.beacons.<p> that is not a beacon batch (a watermark tick, a config marker): readers of beacons skip it. */
export function isControlMessage(message: { headers?: MsgHdrs }): boolean {
  const kind = message.headers?.get(KIND_HEADER)
  return kind !== undefined && kind !== ''
}

/** UTF-16 units per chunk: at most 3 UTF-8 bytes each, so a chunk stays under NATS' default 1 MiB payload. */
const CHUNK_UNITS = 256 * 1024

function chunksOf(text: string): string[] {
  const chunks: string[] = []
  for (let i = 0; i < text.length || chunks.length === 0; ) {
    let end = Math.min(text.length, i + CHUNK_UNITS)
    // Never split a surrogate pair: each half alone would not survive UTF-8.
    const last = text.charCodeAt(end - 1)
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--
    chunks.push(text.slice(i, end))
    i = end
  }
  return chunks
}

/** How long a version stored (or stored again) is kept whatever else says: another engine may be about to mark it. */
export const CONFIG_PURGE_GRACE_MS = 10 * 60_000

/** What a purge of unneeded versions looks at. */
export interface ConfigPurgeInput {
  /** The oldest message still in the beacons stream: markers before it are gone. */
  firstSeq: number
  /** The beacons stream's last seq now (recorded once, before which markers are not recorded). */
  lastSeq: number
  /** The version this process has in effect: never purged. */
  current?: string
  /** Now (ms), and the grace under which a version written since is kept. */
  now?: number
  graceMs?: number
}

/**
 * Configurations by version, in the checkpoints bucket: `config.<version>` holds the number of chunks,
 * `config.<version>.<i>` the chunks of its JSON. Versions are content digests, so entries never change.
 *
 * Kept while something can still need them, purged after (purgeUnneeded): a version is needed while a
 * partition's checkpoint names it (its resume point's rules), while a marker naming it is still in the
 * beacons stream (a replay from before the marker reaches it), while it is this process's current one, and
 * for CONFIG_PURGE_GRACE_MS after it was last stored. Markers are recorded as `mark.<version>.p<partition>`
 * (`pending` before the publish, the marker's seq after); `marks.since` holds the stream's last seq when the
 * recording began, and no version is purged while the stream still holds messages from before it (a marker
 * then was not recorded). Every purge is a compare-and-set on the revisions read when it was decided, and a
 * store writes the head, the chunks, then the head again, so a version stored again meanwhile (rules
 * reverted) is never left without its chunks.
 */
export class ConfigArchive {
  readonly #kv: KV
  readonly #known = new Map<string, unknown>()

  constructor(kv: KV) {
    this.#kv = kv
  }

  /** Whether this process stored (or read) the version: only such versions are marked. */
  has(version: string): boolean {
    return this.#known.has(version)
  }

  async put(version: string, config: unknown): Promise<void> {
    if (!VERSION.test(version)) throw new TypeError(`config version "${version}" is not a key token`)
    // Written every time (the same bytes): a purge decided on the old revisions fails its compare-and-set.
    const chunks = chunksOf(JSON.stringify(config))
    await this.#kv.put(`config.${version}`, String(chunks.length))
    for (const [i, chunk] of chunks.entries()) await this.#kv.put(`config.${version}.${i}`, chunk)
    await this.#kv.put(`config.${version}`, String(chunks.length))
    this.#known.set(version, config)
  }

  /** A marker naming the version is about to be published into the partition (seq undefined), or was, at seq. */
  async noteMarker(version: string, partition: number, seq?: number): Promise<void> {
    await this.#kv.put(`mark.${version}.p${partition}`, seq === undefined ? 'pending' : String(seq))
  }

  /** The seq of the marker naming the version in the partition, once JetStream acked it; undefined before. */
  async markerSeq(version: string, partition: number): Promise<number | undefined> {
    const e = await this.#kv.get(`mark.${version}.p${partition}`)
    const text = e?.operation === 'PUT' ? e.string() : ''
    return /^\d+$/.test(text) ? Number(text) : undefined
  }

  /** Records where marker recording began (once, by whoever is first). */
  async #marksSince(lastSeq: number): Promise<number> {
    const e = await this.#kv.get('marks.since')
    if (e?.operation === 'PUT') return Number(e.string())
    try {
      await this.#kv.create('marks.since', String(lastSeq))
      return lastSeq
    } catch {
      return Number((await this.#kv.get('marks.since'))?.string() ?? lastSeq)
    }
  }

  /** Purges every stored version nothing can need any more (see the class); answers the versions purged. */
  async purgeUnneeded(input: ConfigPurgeInput): Promise<string[]> {
    const since = await this.#marksSince(input.lastSeq)
    // Markers from before the recording began may still be in the stream, naming any version.
    if (input.firstSeq <= since) return []
    const now = input.now ?? Date.now()
    const grace = input.graceMs ?? CONFIG_PURGE_GRACE_MS
    const versions = new Map<string, string[]>()
    const needed = new Set<string>(input.current === undefined ? [] : [input.current])
    const marks = new Map<string, string[]>()
    for await (const key of await this.#kv.keys()) {
      const parts = key.split('.')
      if (parts[0] === 'config' && parts[1] !== undefined) {
        const list = versions.get(parts[1]) ?? []
        if (parts.length === 3) list.push(key)
        versions.set(parts[1], list)
      } else if (parts[0] === 'mark' && parts[1] !== undefined) {
        marks.set(parts[1], [...(marks.get(parts[1]) ?? []), key])
      } else if (/^p\d+$/.test(key)) {
        const e = await this.#kv.get(key)
        const version = e?.operation === 'PUT' ? (JSON.parse(e.string()) as { resume?: { config?: string } }).resume?.config : undefined
        if (version !== undefined) needed.add(version)
      }
    }
    for (const [version, keys] of marks) {
      for (const key of keys) {
        const e = await this.#kv.get(key)
        if (e?.operation !== 'PUT') continue
        const text = e.string()
        if (text === 'pending' || Number(text) >= input.firstSeq) needed.add(version)
      }
    }
    const purged: string[] = []
    for (const [version, chunkKeys] of versions) {
      if (needed.has(version)) continue
      // Revisions as decided: the chunks first, the head last (a store begins with the head).
      const chunks: [string, number][] = []
      for (const key of chunkKeys) {
        const e = await this.#kv.get(key)
        if (e?.operation === 'PUT') chunks.push([key, e.revision])
      }
      const head = await this.#kv.get(`config.${version}`)
      if (head?.operation === 'PUT' && now - head.created.getTime() < grace) continue
      try {
        if (head?.operation === 'PUT') await this.#kv.purge(`config.${version}`, { previousSeq: head.revision })
        for (const [key, revision] of chunks) await this.#kv.purge(key, { previousSeq: revision })
      } catch {
        // Stored again meanwhile: needed after all.
        continue
      }
      for (const key of marks.get(version) ?? []) await this.#kv.purge(key).catch(() => {})
      this.#known.delete(version)
      purged.push(version)
    }
    return purged
  }

  /** The configuration of a version, or undefined when none was stored under it. */
  async get(version: string): Promise<unknown> {
    if (this.#known.has(version)) return this.#known.get(version)
    if (!VERSION.test(version)) return undefined
    const head = await this.#kv.get(`config.${version}`)
    if (head?.operation !== 'PUT') return undefined
    let text = ''
    for (let i = 0, n = Number(head.string()); i < n; i++) {
      const chunk = await this.#kv.get(`config.${version}.${i}`)
      if (chunk?.operation !== 'PUT') return undefined
      text += chunk.string()
    }
    const config = JSON.parse(text) as unknown
    this.#known.set(version, config)
    return config
  }
}
