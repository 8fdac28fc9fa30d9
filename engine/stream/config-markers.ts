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

/**
 * Configurations by version, in the checkpoints bucket: `config.<version>` holds the number of chunks,
 * `config.<version>.<i>` the chunks of its JSON (written first, so a reader that finds the count finds them).
 * Versions are content digests, so a write is idempotent and entries never change. They are not deleted
 * (one per rule change, the size of the rules).
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
    if (this.#known.has(version)) return
    if (!VERSION.test(version)) throw new TypeError(`config version "${version}" is not a key token`)
    if ((await this.#kv.get(`config.${version}`))?.operation !== 'PUT') {
      const chunks = chunksOf(JSON.stringify(config))
      for (const [i, chunk] of chunks.entries()) await this.#kv.put(`config.${version}.${i}`, chunk)
      await this.#kv.put(`config.${version}`, String(chunks.length))
    }
    this.#known.set(version, config)
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
