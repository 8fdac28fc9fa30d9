// A tenant's sites for the browser tracker: a name and the domains its pages
// are served from, under a public id (`s_` and 12 hex digits) the tracker's
// <script> tag carries. Kept in the tenants bucket under `site.<id>`, so every
// process sees the same ones; ingest follows `site.>` with a watch (its NATS
// user may watch those keys and no others of the bucket: nats-permissions.ts)
// and sees a create or a delete within a moment, so a deleted site's beacons
// are refused at once everywhere.
import { randomBytes } from 'node:crypto'
import type { KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { EngineErrors } from '../errors.ts'
import { openBucket } from '../nats/jetstream-setup.ts'
import { TENANTS_BUCKET } from '../nats/subjects.ts'
import type { Logger } from '../runtime.ts'

export const SITE_KEY_PREFIX = 'site.'
export const SITE_ID_PATTERN = '^s_[0-9a-f]{12}$'
const SITE_ID = new RegExp(SITE_ID_PATTERN)
/** A host name as a browser puts it in Origin (lower case; `localhost` too), without port or scheme. */
export const SITE_DOMAIN_PATTERN = '^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$'
const SITE_DOMAIN = new RegExp(SITE_DOMAIN_PATTERN)
export const MAX_SITE_DOMAINS = 20
export const MAX_SITE_NAME = 100
/** An unknown id is remembered this long, so a flood of made-up ids is not a flood of KV reads (and a new site is found within it). */
const NEGATIVE_CACHE_MS = 1000
const CACHE_LIMIT = 100_000

export interface Site {
  id: string
  tenant: string
  name: string
  domains: string[]
  createdAt: string
}

export function isSiteId(id: unknown): id is string {
  return typeof id === 'string' && SITE_ID.test(id)
}

/** Whether a page at `hostname` belongs to the site: one of its domains, or a subdomain of one. */
export function siteServes(site: Site, hostname: string): boolean {
  const host = hostname.toLowerCase()
  return site.domains.some((d) => host === d || host.endsWith(`.${d}`))
}

/** The problems of a site's name and domains, named one by one; empty when it may be stored. */
export function siteProblems(name: unknown, domains: unknown): string[] {
  const problems: string[] = []
  if (typeof name !== 'string' || name.trim() === '' || name.length > MAX_SITE_NAME) problems.push(`name must be 1 to ${MAX_SITE_NAME} characters`)
  if (!Array.isArray(domains) || domains.length === 0 || domains.length > MAX_SITE_DOMAINS) {
    problems.push(`domains must be a list of 1 to ${MAX_SITE_DOMAINS} host names`)
  } else {
    for (const d of domains) {
      if (typeof d !== 'string' || !SITE_DOMAIN.test(d)) problems.push(`domain ${JSON.stringify(d)} is not a lower-case host name (example.com, www.example.com, localhost; no scheme, port or path)`)
    }
  }
  return problems
}

export class SiteRegistry {
  readonly #kv: KV
  /** Every site, from the watch (ingest); a process that does not follow reads KV. */
  readonly #sites = new Map<string, Site>()
  readonly #unknown = new Map<string, number>()
  #stopped = false
  #watching: { stop(): void } | undefined

  constructor(kv: KV) {
    this.#kv = kv
  }

  /** The registry over the tenants bucket (which the engine role creates). */
  static async open(nc: NatsConnection): Promise<SiteRegistry> {
    return new SiteRegistry(await openBucket(nc, TENANTS_BUCKET))
  }

  async create(tenant: string, name: string, domains: string[]): Promise<Site> {
    const problems = siteProblems(name, domains)
    if (problems.length > 0) throw new EngineErrors.SiteInvalid(problems.join('; '))
    const site: Site = { id: 's_' + randomBytes(6).toString('hex'), tenant, name: name.trim(), domains: [...new Set(domains)], createdAt: new Date().toISOString() }
    // kv.create: a (vanishingly unlikely) id collision fails instead of overwriting another tenant's site.
    await this.#kv.create(`${SITE_KEY_PREFIX}${site.id}`, JSON.stringify(site))
    this.#sites.set(site.id, site)
    this.#unknown.delete(site.id)
    return site
  }

  /** The tenant's sites, read from KV (so a command that just connected sees them all), oldest first. */
  async list(tenant: string): Promise<Site[]> {
    const sites: Site[] = []
    for await (const key of await this.#kv.keys(`${SITE_KEY_PREFIX}*`)) {
      const site = await this.#read(key.slice(SITE_KEY_PREFIX.length))
      if (site && site.tenant === tenant) sites.push(site)
    }
    return sites.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
  }

  /** Deletes one of the tenant's sites; another tenant's id is answered as unknown, as a missing one is. */
  async delete(tenant: string, id: string): Promise<Site> {
    const site = isSiteId(id) ? await this.#read(id) : undefined
    if (!site || site.tenant !== tenant) throw new EngineErrors.SiteNotFound(String(id))
    await this.#kv.delete(`${SITE_KEY_PREFIX}${id}`)
    this.#sites.delete(id)
    return site
  }

  /** Deletes every site of a tenant (the tenant is being deleted): their beacons are refused from then on. */
  async deleteAllOf(tenant: string): Promise<void> {
    for (const site of await this.list(tenant)) await this.#kv.delete(`${SITE_KEY_PREFIX}${site.id}`)
  }

  /**
   * The site with this id, on the tracker's hot path: from the watch's map; a miss reads KV (a site
   * created a moment ago, or before the watch delivered it), and an unknown id is remembered briefly.
   */
  async lookup(id: string): Promise<Site | undefined> {
    if (!isSiteId(id)) return undefined
    const known = this.#sites.get(id)
    if (known) return known
    const missUntil = this.#unknown.get(id)
    if (missUntil !== undefined && missUntil > Date.now()) return undefined
    const site = await this.#read(id)
    if (!site) {
      if (this.#unknown.size >= CACHE_LIMIT) this.#unknown.clear()
      this.#unknown.set(id, Date.now() + NEGATIVE_CACHE_MS)
    }
    // Not put in the map: only the watch does that, so a delete it delivers cannot be overtaken by this read.
    return site
  }

  /** Follows `site.>` from now until stop() or the connection closes, restarting after a failure. */
  follow(nc: NatsConnection, log?: Logger): void {
    const run = async (): Promise<void> => {
      while (!this.#stopped && !nc.isClosed()) {
        try {
          const iterator = await this.#kv.watch({ key: `${SITE_KEY_PREFIX}>` })
          this.#watching = iterator
          if (this.#stopped) iterator.stop()
          for await (const entry of iterator) {
            const id = entry.key.slice(SITE_KEY_PREFIX.length)
            if (entry.operation === 'PUT') {
              this.#sites.set(id, entry.json<Site>())
              this.#unknown.delete(id)
            } else this.#sites.delete(id)
          }
        } catch (err) {
          if (!nc.isClosed()) log?.warn({ err }, 'the site watch failed; retrying')
        }
        // While no watch runs nothing would tell this process of a delete: forget, and read again.
        this.#sites.clear()
        if (!this.#stopped && !nc.isClosed()) await new Promise((resolve) => setTimeout(resolve, 1000))
      }
    }
    void run()
  }

  stop(): void {
    this.#stopped = true
    this.#watching?.stop()
  }

  async #read(id: string): Promise<Site | undefined> {
    const entry = await this.#kv.get(`${SITE_KEY_PREFIX}${id}`)
    return entry && entry.operation === 'PUT' ? entry.json<Site>() : undefined
  }
}
