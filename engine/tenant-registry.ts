// Tenants and their credentials, kept in a NATS KV bucket so every process of
// a deployment sees the same ones. Tokens are stored as SHA-256 digests only:
// a copy of the bucket does not reveal a usable credential.
import { randomBytes } from 'node:crypto'
import type { KV } from '@nats-io/kv'
import { sha256Hex } from './digest.ts'
import { EngineErrors } from './errors.ts'

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

/**
 * The one rule for tenant names, as a pattern string (JSON Schema takes it as
 * is): route schemas reuse it, and create() checks it for every other caller.
 */
export const TENANT_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$'
const TENANT_NAME = new RegExp(TENANT_NAME_PATTERN)

const TOKEN_PREFIX: Record<Role, string> = { ingest: 'tmi_', read: 'tmk_' }
/** Unknown tokens are remembered briefly, so a flood of bad ones does not become a flood of KV reads. */
const NEGATIVE_CACHE_MS = 2000
const CACHE_LIMIT = 100_000

function newToken(role: Role): string {
  return TOKEN_PREFIX[role] + randomBytes(24).toString('base64url')
}

export class TenantRegistry {
  readonly #kv: KV
  readonly #known = new Map<string, Principal>()
  readonly #unknown = new Map<string, number>()

  constructor(kv: KV) {
    this.#kv = kv
  }

  async create(name: string): Promise<CreatedTenant> {
    if (typeof name !== 'string' || !TENANT_NAME.test(name)) throw new EngineErrors.TenantNameInvalid(String(name))
    const id = 't_' + randomBytes(6).toString('hex')
    // kv.create fails if the key exists: that is what makes names unique across processes.
    try {
      await this.#kv.create(`name.${name}`, JSON.stringify({ id }))
    } catch (err) {
      if (/wrong last sequence|exists/i.test((err as Error).message)) throw new EngineErrors.TenantNameTaken(name)
      throw err
    }
    const record: TenantRecord = { id, name, createdAt: new Date().toISOString() }
    const ingestToken = newToken('ingest')
    const apiKey = newToken('read')
    await this.#kv.put(`tenant.${id}`, JSON.stringify(record))
    await this.#kv.put(`token.${sha256Hex(ingestToken)}`, JSON.stringify({ tenantId: id, role: 'ingest' } satisfies Principal))
    await this.#kv.put(`token.${sha256Hex(apiKey)}`, JSON.stringify({ tenantId: id, role: 'read' } satisfies Principal))
    return { id, ingestToken, apiKey }
  }

  async get(id: string): Promise<TenantRecord | undefined> {
    const entry = await this.#kv.get(`tenant.${id}`)
    return entry && entry.operation === 'PUT' ? entry.json<TenantRecord>() : undefined
  }

  async list(): Promise<TenantRecord[]> {
    const records: TenantRecord[] = []
    for await (const key of await this.#kv.keys('tenant.*')) {
      const record = await this.get(key.slice('tenant.'.length))
      if (record) records.push(record)
    }
    return records.sort((a, b) => a.name.localeCompare(b.name))
  }

  /** The principal a bearer token stands for, or undefined. Cached: the hot path pays one Map lookup. */
  async resolve(token: string): Promise<Principal | undefined> {
    const cached = this.#known.get(token)
    if (cached) return cached
    const missUntil = this.#unknown.get(token)
    if (missUntil !== undefined && missUntil > Date.now()) return undefined
    if (token.length < 8 || token.length > 128) return undefined
    const entry = await this.#kv.get(`token.${sha256Hex(token)}`)
    if (!entry || entry.operation !== 'PUT') {
      if (this.#unknown.size >= CACHE_LIMIT) this.#unknown.clear()
      this.#unknown.set(token, Date.now() + NEGATIVE_CACHE_MS)
      return undefined
    }
    const principal = entry.json<Principal>()
    if (this.#known.size >= CACHE_LIMIT) this.#known.clear()
    this.#known.set(token, principal)
    return principal
  }
}
