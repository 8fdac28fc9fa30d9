// Tenants and their credentials, kept in a NATS KV bucket so every process of
// a deployment sees the same ones. Tokens are stored as SHA-256 digests only:
// a copy of the bucket does not reveal a usable credential.
//
// Keys: `name.<name>` -> {id} (kv.create on it keeps names unique), `tenant.<id>`
// -> the record (with its credentials' digests), `token.<digest>` -> {tenantId, role}.
// A credential is withdrawn by deleting its token key; every process follows
// the `token.>` keys with a watch and forgets a withdrawn one within a second.
import { randomBytes } from 'node:crypto'
import type { KV, KvEntry, KvWatchEntry } from '@nats-io/kv'
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node'
import { sha256Hex } from './digest.ts'
import { EngineErrors } from '../errors.ts'
import { isPermissionViolation } from '../nats/jetstream-setup.ts'
import { retryWithBackoff } from '../retry.ts'

/** An ingestToken may only write its tenant's data; an apiKey may only read it. */
export type Role = 'ingest' | 'read'

export interface Principal {
  tenantId: string
  role: Role
}

export interface TenantRecord {
  id: string
  name: string
  createdAt: string
}

export interface CreatedTenant {
  id: string
  ingestToken: string
  apiKey: string
}

/** The credentials as the API names them, and the role each stands for. */
export const CREDENTIAL_ROLES = { ingestToken: 'ingest', apiKey: 'read' } as const satisfies Record<string, Role>
export type CredentialName = keyof typeof CREDENTIAL_ROLES

/**
 * The record as stored. `credentials` holds the digest of each current token, so a
 * rotation or a delete knows which token keys to withdraw without scanning them all
 * (tenants created before it existed have none: those are found by a scan once).
 * `withdrawing` holds digests a change replaced but may not have deleted yet (a crash
 * between the two writes): every later change deletes them again.
 */
interface StoredTenant extends TenantRecord {
  credentials?: Record<Role, string>
  withdrawing?: string[]
}

/**
 * The one rule for tenant names, as a pattern string (JSON Schema takes it as
 * is): route schemas reuse it, and create() checks it for every other caller.
 */
export const TENANT_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$'
const TENANT_NAME = new RegExp(TENANT_NAME_PATTERN)
/** What create() makes: anything else names no tenant (and could not be a KV key). */
const TENANT_ID = /^t_[0-9a-f]{12}$/

const TOKEN_PREFIX: Record<Role, string> = { ingest: 'tmi_', read: 'tmk_' }
const TOKEN_KEYS = 'token.>'
/** Unknown tokens are remembered briefly, so a flood of bad ones does not become a flood of KV reads. */
const NEGATIVE_CACHE_MS = 2000
/**
 * A backstop under the watch: a known token is read again after this long, so even a
 * watch that silently stopped delivering (a consumer lost on the server without a
 * disconnect, noticed by its 30 s heartbeats only) cannot keep a withdrawn one alive longer.
 */
const KNOWN_MAX_AGE_MS = 60_000
const CACHE_LIMIT = 100_000
/** How often a change retries when another change to the same tenant won the race (a rotation of the other credential). */
const CHANGE_ATTEMPTS = 5

function newToken(role: Role): string {
  return TOKEN_PREFIX[role] + randomBytes(24).toString('base64url')
}

const principalJson = (principal: Principal): string => JSON.stringify(principal)
const isWrongSequence = (err: unknown): boolean => /wrong last sequence/i.test((err as Error).message)
const publicRecord = ({ id, name, createdAt }: StoredTenant): TenantRecord => ({ id, name, createdAt })

/** Whether a bearer token's length is one a credential can have: any other is refused before it is hashed. */
export function isTokenLength(token: string): boolean {
  return token.length >= 8 && token.length <= 128
}

export class TenantRegistry {
  readonly #kv: KV
  /**
   * Principals by token digest, never by token. A Map lookup hashes its key and then
   * compares it with what is stored, stopping at the first differing character: keyed
   * by the token, its timing would tell an attacker how much of a guess matches a real
   * token. Keyed by the digest, it can only tell how much of the guess's digest matches
   * a stored digest, which gives nothing towards a token (the bucket holds the same
   * digests for the same reason). So the hot path stays one Map lookup after one hash
   * (measured here: about 1 µs a request with the hash, against 12 ns keyed by the token).
   */
  readonly #known = new Map<string, { principal: Principal; until: number }>()
  readonly #unknown = new Map<string, number>()
  /** The watch on the token keys while it runs; positive answers are cached only then. */
  #watch: QueuedIterator<KvWatchEntry> | undefined
  #watching: Promise<void> | undefined
  /** Changes with every watch event and watch (re)start: a lookup that overlapped one does not cache its answer. */
  #epoch = 0
  readonly #stop = new AbortController()
  #nc: NatsConnection | undefined

  constructor(kv: KV) {
    this.#kv = kv
  }

  async create(name: string): Promise<CreatedTenant> {
    if (typeof name !== 'string' || !TENANT_NAME.test(name)) throw new EngineErrors.TenantNameInvalid(String(name))
    const id = 't_' + randomBytes(6).toString('hex')
    // kv.create fails if the key exists: that is what makes names unique across processes.
    // It succeeds over a deleted key: a deleted tenant's name is free again (its data stays under its id).
    try {
      await this.#kv.create(`name.${name}`, JSON.stringify({ id }))
    } catch (err) {
      if (/wrong last sequence|exists/i.test((err as Error).message)) throw new EngineErrors.TenantNameTaken(name)
      throw err
    }
    const ingestToken = newToken('ingest')
    const apiKey = newToken('read')
    const record: StoredTenant = {
      id,
      name,
      createdAt: new Date().toISOString(),
      credentials: { ingest: sha256Hex(ingestToken), read: sha256Hex(apiKey) },
    }
    await this.#kv.put(`tenant.${id}`, JSON.stringify(record))
    await this.#kv.put(`token.${record.credentials!.ingest}`, principalJson({ tenantId: id, role: 'ingest' }))
    await this.#kv.put(`token.${record.credentials!.read}`, principalJson({ tenantId: id, role: 'read' }))
    return { id, ingestToken, apiKey }
  }

  async get(id: string): Promise<TenantRecord | undefined> {
    const stored = await this.#stored(id)
    return stored ? publicRecord(stored.record) : undefined
  }

  async list(): Promise<TenantRecord[]> {
    const records: TenantRecord[] = []
    for await (const key of await this.#kv.keys('tenant.*')) {
      const record = await this.get(key.slice('tenant.'.length))
      if (record) records.push(record)
    }
    return records.sort((a, b) => a.name.localeCompare(b.name))
  }

  /**
   * Replaces one credential: the new token is returned (shown once), the old one is
   * withdrawn (its key deleted), and every process refuses it within a second.
   * Writes in an order a crash cannot turn into a credential that stays valid unseen:
   * the new key first (a crash leaves an unknown random token no one was shown), then
   * the record naming the new digest and the old one as withdrawing (compare-and-set:
   * two rotations of one credential do not both win), then the old key's delete.
   */
  async rotate(id: string, credential: CredentialName): Promise<string> {
    const role = CREDENTIAL_ROLES[credential]
    const other: Role = role === 'ingest' ? 'read' : 'ingest'
    const token = newToken(role)
    const digest = sha256Hex(token)
    let replaced: string | undefined
    for (let attempt = 1; ; attempt++) {
      const stored = await this.#stored(id)
      if (!stored) {
        if (replaced !== undefined) await this.#kv.delete(`token.${digest}`)
        throw new EngineErrors.TenantNotFound(id)
      }
      const { record, revision } = stored
      const current = await this.#current(record)
      // A concurrent rotation of this same credential won: its caller holds the current token, so stop.
      if (replaced !== undefined && current[role].join() !== replaced) {
        await this.#kv.delete(`token.${digest}`)
        throw new EngineErrors.TenantChanged(`the ${credential} of tenant ${id} was rotated by another request meanwhile; this one changed nothing`)
      }
      replaced = current[role].join()
      await this.#kv.put(`token.${digest}`, principalJson({ tenantId: id, role }))
      const withdrawing = [...new Set([...(record.withdrawing ?? []), ...current[role], ...current[other].slice(1)])]
      const next: StoredTenant = { ...record, credentials: { [role]: digest, [other]: current[other][0] ?? '' } as Record<Role, string>, withdrawing }
      let nextRevision: number
      try {
        nextRevision = await this.#kv.update(`tenant.${id}`, JSON.stringify(next), revision)
      } catch (err) {
        if (!isWrongSequence(err) || attempt >= CHANGE_ATTEMPTS) {
          await this.#kv.delete(`token.${digest}`)
          throw isWrongSequence(err) ? new EngineErrors.TenantChanged(`tenant ${id} kept changing during the rotation; this one changed nothing`) : err
        }
        continue // another change to the tenant (its other credential, or a delete) won: read it again
      }
      await this.#withdraw(withdrawing)
      // The deletes are done: clear the list. Losing this race is harmless (a later change deletes them again).
      await this.#kv.update(`tenant.${id}`, JSON.stringify({ ...next, withdrawing: [] }), nextRevision).catch(() => undefined)
      return token
    }
  }

  /**
   * Deletes a tenant: its credentials first (every process refuses them within a
   * second), then its name (free again), then its record. Its stored data is not
   * touched: it stays under the tenant's id until its retention expires it, readable
   * by no one (no credential names that id, and ids are never reused).
   */
  async delete(id: string): Promise<TenantRecord> {
    for (let attempt = 1; ; attempt++) {
      const stored = await this.#stored(id)
      if (!stored) throw new EngineErrors.TenantNotFound(id)
      const { record, revision } = stored
      const current = await this.#current(record)
      await this.#withdraw([...current.ingest, ...current.read, ...(record.withdrawing ?? [])])
      // Only while the name still points here: a retry after a crash must not free a new tenant's name.
      const name = await this.#kv.get(`name.${record.name}`)
      if (name && name.operation === 'PUT' && name.json<{ id: string }>().id === id) {
        await this.#kv.delete(`name.${record.name}`, { previousSeq: name.revision }).catch((err) => {
          if (!isWrongSequence(err)) throw err
        })
      }
      try {
        // Compare-and-set: a rotation that slipped in after the read above added a token to withdraw.
        await this.#kv.delete(`tenant.${id}`, { previousSeq: revision })
        return publicRecord(record)
      } catch (err) {
        if (!isWrongSequence(err) || attempt >= CHANGE_ATTEMPTS) throw isWrongSequence(err) ? new EngineErrors.TenantChanged(`tenant ${id} kept changing during the delete; try again`) : err
      }
    }
  }

  /** The principal a bearer token stands for, or undefined. */
  async resolve(token: string): Promise<Principal | undefined> {
    return this.lookup(token)
  }

  /**
   * resolve() without a promise when the answer is cached: the hot path pays one hash and one Map lookup, and
   * its auth hook goes on in the same turn. A promise only when NATS must be asked. `digest`, when given, is the
   * token's SHA-256 in hex, already known to the caller.
   */
  lookup(token: string, digest?: string): Principal | undefined | Promise<Principal | undefined> {
    if (!isTokenLength(token)) return undefined
    digest ??= sha256Hex(token)
    const known = this.#known.get(digest)
    if (known && known.until > Date.now()) return known.principal
    const missUntil = this.#unknown.get(digest)
    if (missUntil !== undefined && missUntil > Date.now()) return undefined
    return this.#fetch(digest)
  }

  /** Reads a token's record from the bucket, and caches the answer. */
  async #fetch(digest: string): Promise<Principal | undefined> {
    const epoch = this.#epoch
    const entry = await this.#kv.get(`token.${digest}`)
    if (!entry || entry.operation !== 'PUT') {
      this.#known.delete(digest)
      if (this.#unknown.size >= CACHE_LIMIT) this.#unknown.clear()
      this.#unknown.set(digest, Date.now() + NEGATIVE_CACHE_MS)
      return undefined
    }
    const principal = entry.json<Principal>()
    // Cached only if the watch ran through the whole lookup and saw no change meanwhile: the watch is what
    // withdraws a cached entry later, so an answer it could not correct must not be kept.
    if (this.#watch && this.#epoch === epoch) {
      if (this.#known.size >= CACHE_LIMIT) this.#known.clear()
      this.#known.set(digest, { principal, until: Date.now() + KNOWN_MAX_AGE_MS })
    }
    return principal
  }

  /**
   * Starts following the token keys: each change (a rotation's delete, a tenant's
   * delete) drops that token from the cache as it arrives. Every process that
   * resolves tokens calls it at start; a permission refusal there is an error that
   * names what is missing. After a reconnect to NATS the watch starts afresh and the
   * cache is emptied, since changes made while it was away may not be delivered.
   */
  async followCredentials(nc: NatsConnection): Promise<void> {
    this.#nc = nc
    try {
      await this.#startWatch()
    } catch (err) {
      if (isPermissionViolation(err)) {
        throw new EngineErrors.NatsPermissionDenied(`watching ${TOKEN_KEYS} in the tenants bucket: ${(err as Error).message}`, { cause: err })
      }
      throw err
    }
    void (async () => {
      for await (const status of nc.status()) {
        if (this.#stop.signal.aborted) return
        if (status.type === 'reconnect') this.#watch?.stop()
      }
    })()
  }

  /** Stops following (before the connection closes). Resolving still works, uncached. */
  async close(): Promise<void> {
    this.#stop.abort()
    this.#watch?.stop()
    await this.#watching
  }

  async #startWatch(): Promise<void> {
    const watch = await this.#kv.watch({ key: TOKEN_KEYS, include: 'updates' })
    if (this.#stop.signal.aborted) {
      watch.stop()
      return
    }
    this.#epoch++
    this.#watch = watch
    this.#watching = (async () => {
      try {
        for await (const entry of watch) this.#take(entry)
      } finally {
        this.#watch = undefined
        this.#epoch++
        // Nothing corrects cached answers while no watch runs: read every token again.
        this.#known.clear()
      }
      if (!this.#stop.signal.aborted && !this.#nc?.isClosed()) await this.#restartWatch()
    })().catch(() => undefined)
  }

  async #restartWatch(): Promise<void> {
    await retryWithBackoff(() => this.#startWatch(), {
      baseMs: 100,
      maxMs: 5000,
      signal: this.#stop.signal,
      giveUp: () => this.#nc?.isClosed() === true,
    })
  }

  #take(entry: KvWatchEntry): void {
    const digest = entry.key.slice('token.'.length)
    this.#epoch++
    this.#known.delete(digest)
    this.#unknown.delete(digest)
  }

  async #withdraw(digests: readonly string[]): Promise<void> {
    // A delete of a key already deleted only adds a marker: withdrawing twice is harmless.
    for (const digest of new Set(digests)) {
      if (!digest) continue
      await this.#kv.delete(`token.${digest}`)
      // This process need not wait for its own watch to hear of it.
      this.#known.delete(digest)
    }
  }

  async #stored(id: string): Promise<{ record: StoredTenant; revision: number } | undefined> {
    if (typeof id !== 'string' || !TENANT_ID.test(id)) return undefined
    const entry: KvEntry | null = await this.#kv.get(`tenant.${id}`)
    return entry && entry.operation === 'PUT' ? { record: entry.json<StoredTenant>(), revision: entry.revision } : undefined
  }

  /**
   * The digests of a tenant's current tokens, by role. A tenant created before records named them
   * has them found by reading every token key (once: the change that follows records them).
   */
  async #current(record: StoredTenant): Promise<Record<Role, string[]>> {
    if (record.credentials) return { ingest: [record.credentials.ingest].filter(Boolean), read: [record.credentials.read].filter(Boolean) }
    const found: Record<Role, string[]> = { ingest: [], read: [] }
    for await (const key of await this.#kv.keys('token.*')) {
      const entry = await this.#kv.get(key)
      if (!entry || entry.operation !== 'PUT') continue
      const principal = entry.json<Principal>()
      if (principal.tenantId === record.id) found[principal.role].push(key.slice('token.'.length))
    }
    return found
  }
}
