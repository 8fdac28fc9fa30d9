// Per-tenant ingest quotas (samples a second, with a burst), kept in the
// tenants bucket under `quota.<tenantId>` so every ingest process sees a change
// within a moment: each one watches those keys (the ingest NATS user may
// create a consumer on them and nothing else of the bucket: nats-permissions.ts).
// The admin route writes them (query/quota-route.ts); engine/tenancy/tenant-registry.ts
// keeps the tenants themselves.
import type { KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { Type, type Static } from '@sinclair/typebox'
import { openBucket } from '../nats/jetstream-setup.ts'
import type { Logger } from '../runtime.ts'
import { TENANTS_BUCKET } from '../nats/subjects.ts'

export const QUOTA_KEY_PREFIX = 'quota.'

export function quotaKey(tenantId: string): string {
  return `${QUOTA_KEY_PREFIX}${tenantId}`
}

/** The most a quota may say: far above what one process takes (about 1.6M samples/s measured), so it never overflows a bucket. */
const MAX_RATE = 1_000_000_000

export const TenantQuotaSchema = Type.Object(
  {
    samplesPerSec: Type.Integer({ minimum: 0, maximum: MAX_RATE, description: 'samples a second each ingest process admits for the tenant; 0 for no limit' }),
    burst: Type.Integer({ minimum: 1, maximum: MAX_RATE, description: 'samples admitted at once after a quiet spell (the token bucket size)' }),
  },
  { additionalProperties: false }
)

export type TenantQuota = Static<typeof TenantQuotaSchema>

/** The quota of a tenant that has none of its own: TIDEMARK_QUOTA_SAMPLES_PER_SEC and TIDEMARK_QUOTA_BURST. */
export function defaultQuota(config: { quotaSamplesPerSec: number; quotaBurst: number }): TenantQuota {
  return { samplesPerSec: config.quotaSamplesPerSec, burst: config.quotaBurst }
}

export async function openQuotaBucket(nc: NatsConnection): Promise<KV> {
  return openBucket(nc, TENANTS_BUCKET)
}

export async function readQuota(kv: KV, tenantId: string): Promise<TenantQuota | undefined> {
  const entry = await kv.get(quotaKey(tenantId))
  return entry && entry.operation === 'PUT' ? entry.json<TenantQuota>() : undefined
}

export async function writeQuota(kv: KV, tenantId: string, quota: TenantQuota): Promise<void> {
  await kv.put(quotaKey(tenantId), JSON.stringify(quota))
}

export async function deleteQuota(kv: KV, tenantId: string): Promise<void> {
  await kv.delete(quotaKey(tenantId))
}

/**
 * The quotas one ingest process enforces: every tenant's own, from a watch on `quota.>`, and the
 * default for the rest. Until the watch has started (or while NATS is away) the last known quotas
 * hold: a process never stops ingesting because it cannot read a quota.
 */
export class TenantQuotas {
  readonly #own = new Map<string, TenantQuota>()
  readonly #default: TenantQuota
  #stopped = false
  #watching: { stop(): void } | undefined

  constructor(defaults: TenantQuota) {
    this.#default = defaults
  }

  get defaults(): TenantQuota {
    return this.#default
  }

  quotaOf(tenantId: string): TenantQuota {
    return this.#own.get(tenantId) ?? this.#default
  }

  /**
   * Watches the tenants bucket's quota keys from now until stop() or the connection closes, restarting
   * the watch after a failure. The stored quotas arrive a moment after the start; the default holds till then.
   */
  watch(nc: NatsConnection, log?: Logger): void {
    const run = async (): Promise<void> => {
      while (!this.#stopped && !nc.isClosed()) {
        try {
          const kv = await openQuotaBucket(nc)
          const iterator = await kv.watch({ key: `${QUOTA_KEY_PREFIX}>` })
          this.#watching = iterator
          if (this.#stopped) iterator.stop()
          for await (const entry of iterator) {
            const tenantId = entry.key.slice(QUOTA_KEY_PREFIX.length)
            if (entry.operation === 'PUT') this.#own.set(tenantId, entry.json<TenantQuota>())
            else this.#own.delete(tenantId)
          }
        } catch (err) {
          if (!nc.isClosed()) log?.warn({ err }, 'the quota watch failed; the last known quotas hold, retrying')
        }
        if (!this.#stopped && !nc.isClosed()) await new Promise((resolve) => setTimeout(resolve, 1000))
      }
    }
    void run()
  }

  stop(): void {
    this.#stopped = true
    this.#watching?.stop()
  }
}
