// Unique visitors without cookies: a visitor is hash(daily salt, scope, client
// IP, User-Agent), as Plausible and Fathom count them. The salt is random,
// one per UTC day, kept in KV `tm_tracker_salts` so every ingest process
// hashes the same visitor to the same id; the bucket's 48 h age limit deletes
// each salt, after which nothing can tie an id to an address, not even with
// the IP in hand. The IP and the User-Agent are used here and nowhere else:
// neither is published, stored or logged.
import { randomBytes } from 'node:crypto'
import type { KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { openBucket } from '../nats/jetstream-setup.ts'
import { TRACKER_SALTS_BUCKET } from '../nats/subjects.ts'
import { sha256Hex } from '../tenancy/digest.ts'

/** The day a salt serves, UTC: `2026-11-22`. */
export function saltDay(nowMs: number): string {
  return new Date(nowMs).toISOString().slice(0, 10)
}

/** 64 bits of the digest: counts of distinct visitors per day stay exact far past any site's traffic. */
export function visitorId(salt: string, scope: string, ip: string, userAgent: string): string {
  return sha256Hex(`${salt}\n${scope}\n${ip}\n${userAgent}`).slice(0, 16)
}

export class VisitorSalts {
  readonly #nc: NatsConnection
  #kv: Promise<KV> | undefined
  #current: { day: string; salt: Promise<string> } | undefined

  constructor(nc: NatsConnection) {
    this.#nc = nc
  }

  /** Today's salt: from this process's memory, else KV, else made now (kv.create: the first process to make it wins, the others read it). */
  saltFor(nowMs: number): Promise<string> {
    const day = saltDay(nowMs)
    if (this.#current?.day === day) return this.#current.salt
    const salt = this.#load(day)
    this.#current = { day, salt }
    // A failure (NATS away) is not kept: the next request tries again.
    salt.catch(() => {
      if (this.#current?.salt === salt) this.#current = undefined
    })
    return salt
  }

  async #load(day: string): Promise<string> {
    this.#kv ??= openBucket(this.#nc, TRACKER_SALTS_BUCKET)
    const kv = await this.#kv.catch((err: unknown) => {
      this.#kv = undefined
      throw err
    })
    const key = `salt.${day}`
    const stored = await kv.get(key)
    if (stored && stored.operation === 'PUT') return stored.string()
    const fresh = randomBytes(32).toString('base64url')
    try {
      await kv.create(key, fresh)
      return fresh
    } catch (err) {
      if (!/wrong last sequence|exists/i.test((err as Error).message)) throw err
      const won = await kv.get(key)
      if (!won || won.operation !== 'PUT') throw err
      return won.string()
    }
  }
}
