// Where every process gets a tenant's rules from. Three layers, lowest first
// (rule-layers.ts): the specification's defaults, the operator's file
// (TIDEMARK_RULES_FILE, read once at start, for every tenant), and the
// tenant's own rule file, set through the rules API and kept as JSON in the
// NATS KV bucket tm_rules under `tenant.<id>`. Each process watches the bucket
// and holds every tenant's file in memory, so a PUT on one query process is
// in effect on every engine within milliseconds (test: under 1 s), and
// reading a tenant's rules on the hot path is a Map lookup.
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { Kvm, type KV, type KvEntry } from '@nats-io/kv'
import { EngineErrors } from '../errors.ts'
import { openBucket } from '../nats/jetstream-setup.ts'
import type { Logger } from '../runtime.ts'
import { DEFAULT_RULES } from './default-rules.ts'
import { loadRuleFileFromDisk, parseRulesBody, ruleInvalidError } from './rule-errors.ts'
import { compileRuleFile, RuleFileError, type RuleFileSpec, type RuleGroup, type RuleProblem } from './rule-file.ts'
import { layerRules, type LayeredRules, type RuleLayer } from './rule-layers.ts'

export const RULES_BUCKET = 'tm_rules'
const KEY_PREFIX = 'tenant.'
/** A few old versions per tenant, for an operator who needs to see what changed (`nats kv history`). */
export const RULES_HISTORY = 10
/** Rules per tenant at most: every rule costs evaluation on every sample it selects. */
export const MAX_RULES_PER_TENANT = 500
/** A tenant's rule file as JSON at most (the API's body limit too); far below NATS' 1 MiB payload. */
export const MAX_RULE_FILE_BYTES = 256 * 1024

const TENANT_KEY_TOKEN = /^[A-Za-z0-9_-]{1,128}$/

function keyOf(tenant: string): string {
  if (!TENANT_KEY_TOKEN.test(tenant)) throw new TypeError(`tenant id "${tenant}" cannot be a key of ${RULES_BUCKET}`)
  return KEY_PREFIX + tenant
}

/** What the bucket holds per tenant. */
interface StoredRules {
  spec: RuleFileSpec
  updatedAt: string
}

export interface TenantRules {
  tenant: string
  /** The KV revision of the tenant's own file; null when it has none (defaults and file only). */
  revision: number | null
  updatedAt: string | null
  /** The tenant's own file as it set it, or null. */
  own: RuleFileSpec | null
  /** The effective rules with the layer of each group and what overrides what. */
  layered: LayeredRules
  /** The same, compiled for the evaluator. */
  groups: RuleGroup[]
}

interface Cached {
  revision: number
  /** null: deleted (a tombstone, so an older value arriving late is not taken for new). */
  stored: StoredRules | null
  rules: TenantRules | undefined
}

/** Creates the bucket if it is missing (the JetStream layout's owner calls this; see jetstream-setup.ts). */
export async function ensureRulesBucket(nc: NatsConnection, replicas: number): Promise<KV> {
  const jsm = await jetstreamManager(nc)
  try {
    await jsm.streams.info(`KV_${RULES_BUCKET}`)
  } catch (err) {
    if (!/not found/i.test((err as Error).message)) throw err
    // Kvm.create reads the stream's info first and adds it only when missing: two owners starting together both succeed.
    return new Kvm(nc).create(RULES_BUCKET, { history: RULES_HISTORY, replicas, maxValueSize: MAX_RULE_FILE_BYTES + 1024 })
  }
  return openBucket(nc, RULES_BUCKET)
}

export interface RuleStoreOptions {
  kv: KV
  /** The operator's rule file (TIDEMARK_RULES_FILE): YAML or JSON, for every tenant. */
  file?: string
  /** Default: the specification's (DEFAULT_RULES). */
  defaults?: RuleFileSpec
  log?: Logger
}

export type RulesListener = (tenant: string) => void

export class RuleStore {
  readonly #kv: KV
  readonly #baseLayers: RuleLayer[]
  /** The defaults and the file, compiled once: every tenant without rules of its own shares them. */
  readonly #base: { layered: LayeredRules; groups: RuleGroup[] }
  readonly #cache = new Map<string, Cached>()
  readonly #listeners = new Set<RulesListener>()
  readonly #log: Logger | undefined
  #watch: Awaited<ReturnType<KV['watch']>> | undefined
  #watching: Promise<void> | undefined

  private constructor(kv: KV, baseLayers: RuleLayer[], base: { layered: LayeredRules; groups: RuleGroup[] }, log: Logger | undefined) {
    this.#kv = kv
    this.#baseLayers = baseLayers
    this.#base = base
    this.#log = log
  }

  /**
   * Reads the file (a bad one throws TM_ENGINE_RULE_INVALID naming it: the
   * process must not start with rules it cannot evaluate), loads every
   * tenant's rules and starts watching the bucket.
   */
  static async open(options: RuleStoreOptions): Promise<RuleStore> {
    const layers: RuleLayer[] = [{ source: 'default', spec: options.defaults ?? DEFAULT_RULES }]
    if (options.file !== undefined) layers.push({ source: 'file', spec: (await loadRuleFileFromDisk(options.file)).spec })
    // Defaults and file must make a valid rule set on their own, before any tenant adds to them.
    const base = compileLayers(layers, options.file ?? '(defaults)')
    const store = new RuleStore(options.kv, layers, base, options.log)
    await store.#start()
    return store
  }

  /** Called with a tenant's id whenever its rules changed (here or in another process). */
  onChange(listener: RulesListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** A tenant's effective rules. Synchronous: memory only, compiled once per change. */
  rulesOf(tenant: string): TenantRules {
    keyOf(tenant)
    const cached = this.#cache.get(tenant)
    if (cached?.rules !== undefined) return cached.rules
    const stored = cached?.stored ?? null
    const { layered, groups } = stored === null ? this.#base : compileLayers([...this.#baseLayers, { source: 'tenant', spec: stored.spec }], `rules of tenant ${tenant}`)
    const rules: TenantRules = {
      tenant,
      revision: stored === null ? null : (cached?.revision ?? null),
      updatedAt: stored?.updatedAt ?? null,
      own: stored?.spec ?? null,
      layered,
      groups,
    }
    // A tenant with no entry is not remembered (any id may be asked about); its answer costs one small object.
    if (cached !== undefined) cached.rules = rules
    return rules
  }

  /** Every tenant with rules of its own, by id: what the stream engine's worker threads are sent. */
  tenantsWithRules(): string[] {
    return [...this.#cache].filter(([, c]) => c.stored !== null).map(([tenant]) => tenant).sort()
  }

  /** The rules of a tenant with no file of its own (defaults < TIDEMARK_RULES_FILE), compiled once. */
  baseRules(): { layered: LayeredRules; groups: RuleGroup[] } {
    return this.#base
  }

  /** Replaces the tenant's rule file; throws TM_ENGINE_RULE_INVALID naming every problem, changing nothing. */
  async put(tenant: string, body: unknown): Promise<TenantRules> {
    const key = keyOf(tenant)
    const { spec } = parseRulesBody(body)
    const problems = limitProblems(spec)
    if (problems.length > 0) throw ruleInvalidError(new RuleFileError(problems))
    // A tenant file that is valid alone is valid over the base layers too (names are made unique); check anyway.
    compileLayers([...this.#baseLayers, { source: 'tenant', spec }], `rules of tenant ${tenant}`)
    const stored: StoredRules = { spec, updatedAt: new Date().toISOString() }
    const revision = await this.#kv.put(key, JSON.stringify(stored))
    this.#apply(tenant, revision, stored)
    return this.rulesOf(tenant)
  }

  /** Removes the tenant's own rules: back to the defaults and the file. */
  async clear(tenant: string): Promise<TenantRules> {
    const key = keyOf(tenant)
    // Always written, even when this process knows of no file: another may have just stored one.
    await this.#kv.delete(key)
    const entry = await this.#kv.get(key)
    if (entry) this.#apply(tenant, entry.revision, null)
    return this.rulesOf(tenant)
  }

  /**
   * Removes one group of the tenant's own file. Read-modify-write with the
   * revision it read, so a concurrent PUT elsewhere is never overwritten with
   * stale content: the loser re-reads and tries again.
   */
  async deleteGroup(tenant: string, group: string): Promise<TenantRules> {
    const key = keyOf(tenant)
    for (let attempt = 0; ; attempt++) {
      const entry = await this.#kv.get(key)
      const stored = entry && entry.operation === 'PUT' ? entry.json<StoredRules>() : null
      const groups = stored?.spec.groups ?? []
      if (!groups.some((g) => g.name === group)) throw this.#groupNotFound(tenant, group)
      const next: StoredRules = { spec: { groups: groups.filter((g) => g.name !== group) }, updatedAt: new Date().toISOString() }
      try {
        const revision = await this.#kv.update(key, JSON.stringify(next), (entry as KvEntry).revision)
        this.#apply(tenant, revision, next)
        return this.rulesOf(tenant)
      } catch (err) {
        if (attempt >= 5 || !/wrong last sequence/i.test((err as Error).message)) throw err
      }
    }
  }

  async close(): Promise<void> {
    this.#watch?.stop()
    await this.#watching
    this.#listeners.clear()
  }

  #groupNotFound(tenant: string, group: string): Error {
    const rules = this.rulesOf(tenant)
    const layered = rules.layered.groups.find((g) => g.spec.name === group || g.ownName === group)
    const why =
      layered && layered.source !== 'tenant'
        ? `"${group}" comes from the ${layered.source === 'default' ? 'defaults' : 'rules file'}, which a tenant cannot delete; override its alerts by name in a group of your own`
        : `your rules have no group "${group}"`
    return new EngineErrors.RuleGroupNotFound(why)
  }

  async #start(): Promise<void> {
    // Watch first, then read what is there: anything written in between arrives through the watch,
    // and revisions decide which of two copies of a key is newer.
    this.#watch = await this.#kv.watch({ key: `${KEY_PREFIX}*`, include: 'updates' })
    const watch = this.#watch
    this.#watching = (async () => {
      for await (const entry of watch) this.#take(entry)
    })().catch((err) => this.#log?.error({ err }, 'rules: the watch on the rules bucket ended'))
    for await (const key of await this.#kv.keys(`${KEY_PREFIX}*`)) {
      const entry = await this.#kv.get(key)
      if (entry) this.#take(entry)
    }
  }

  #take(entry: KvEntry): void {
    const tenant = entry.key.slice(KEY_PREFIX.length)
    if (entry.operation !== 'PUT') {
      this.#apply(tenant, entry.revision, null)
      return
    }
    let stored: StoredRules
    try {
      stored = entry.json<StoredRules>()
      const problems = limitProblems(stored.spec)
      if (problems.length > 0) throw new RuleFileError(problems)
      compileLayers([...this.#baseLayers, { source: 'tenant', spec: stored.spec }], `rules of tenant ${tenant}`)
    } catch (err) {
      // Only a hand-written value gets here (the API validates): keep what was in effect, and say why.
      this.#log?.error({ err, tenant, revision: entry.revision }, `rules: ${RULES_BUCKET} holds invalid rules for tenant ${tenant}; the previous rules stay in effect`)
      return
    }
    this.#apply(tenant, entry.revision, stored)
  }

  #apply(tenant: string, revision: number, stored: StoredRules | null): void {
    const cached = this.#cache.get(tenant)
    if (cached !== undefined && cached.revision >= revision) return
    this.#cache.set(tenant, { revision, stored, rules: undefined })
    for (const listener of this.#listeners) {
      try {
        listener(tenant)
      } catch (err) {
        this.#log?.error({ err, tenant }, 'rules: a change listener failed')
      }
    }
  }
}

function limitProblems(spec: RuleFileSpec): RuleProblem[] {
  const problems: RuleProblem[] = []
  const rules = spec.groups.reduce((n, g) => n + (g.rules ?? []).length, 0)
  if (rules > MAX_RULES_PER_TENANT) problems.push({ field: 'groups', problem: `holds ${rules} rules; a tenant may have at most ${MAX_RULES_PER_TENANT}` })
  const bytes = Buffer.byteLength(JSON.stringify(spec))
  if (bytes > MAX_RULE_FILE_BYTES) problems.push({ field: '(file)', problem: `is ${bytes} bytes as JSON; at most ${MAX_RULE_FILE_BYTES}` })
  return problems
}

function compileLayers(layers: readonly RuleLayer[], source: string): { layered: LayeredRules; groups: RuleGroup[] } {
  const layered = layerRules(layers)
  try {
    return { layered, groups: compileRuleFile(layered.spec, source).groups }
  } catch (err) {
    if (err instanceof RuleFileError) throw ruleInvalidError(err)
    throw err
  }
}
