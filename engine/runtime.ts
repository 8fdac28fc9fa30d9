// Opens what a Tidemark process needs, in order, from a validated Config:
// NATS (supervised child or NATS_URL, with credentials), JetStream streams and
// buckets (set up by their owner, the engine role; checked by everyone else),
// the tenant registry and, where the process reads or stores data, ClickHouse
// with its schema. close() releases them in reverse order.
import fs from 'node:fs'
import path from 'node:path'
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstream, type JetStreamClient } from '@nats-io/jetstream'
import type { KV } from '@nats-io/kv'
import type { Config } from './config.ts'
import { openClickHouse, type ClickHouseStore } from './clickhouse/clickhouse-store.ts'
import { applyMigrations } from './clickhouse/migrator.ts'
import { BUCKETS, connectNats, layoutOf, openBucket, setupJetStream, verifyJetStream } from './nats/jetstream-setup.ts'
import { natsAuthFromConfig } from './nats/nats-auth.ts'
import { externalNats, natsStoreDir, natsUrlFile, SupervisedNatsServer, type NatsEndpoint } from './nats/nats-endpoint.ts'
import { inboxPrefixFor, NATS_ROLES, type NatsRole } from './nats/nats-permissions.ts'
import { TenantRegistry } from './tenancy/tenant-registry.ts'

export interface Logger {
  info(obj: object | string, msg?: string): void
  warn(obj: object | string, msg?: string): void
  error(obj: object | string, msg?: string): void
  debug(obj: object | string, msg?: string): void
}

export interface EngineRuntime {
  config: Config
  nats: NatsEndpoint
  nc: NatsConnection
  js: JetStreamClient
  tenants: TenantRegistry
  /** The storage consumer's bucket: opened by processes with the engine role only. */
  storageState: KV | undefined
  /** What this process changed in JetStream as its owner (empty: nothing differed); undefined when it only checked. */
  setupChanges: string[] | undefined
  /** Present when the process was opened with clickhouse: true. */
  store: ClickHouseStore | undefined
  close(): Promise<void>
}

export async function openNatsEndpoint(config: Config, log?: Logger): Promise<NatsEndpoint> {
  if (config.natsUrl) return externalNats(config.natsUrl, natsAuthFromConfig(config))
  const server = await SupervisedNatsServer.start({
    binary: config.natsServerBin,
    storeDir: natsStoreDir(config.dataDir),
    onLog: (line) => log?.debug({ nats: line }),
    onRestart: (restarts, code) => log?.warn({ restarts, code }, 'nats-server exited; restarting it'),
  })
  fs.writeFileSync(natsUrlFile(config.dataDir), server.url + '\n')
  return server
}

/** Runs the pending schema migrations (engine/clickhouse/migrations.ts) and re-applies the tenants' retention policies. */
export async function applySchema(store: ClickHouseStore): Promise<void> {
  await applyMigrations(store)
}

export interface RuntimeOptions {
  clickhouse: boolean
  /** The connection's name, seen in the server's monitoring. */
  name: string
  log?: Logger
  /** The tiers this process runs (default: all). They decide whether it sets JetStream up or checks it, what it opens, and its inboxes. */
  roles?: readonly NatsRole[]
  /** Owns JetStream without the engine role: `tidemark setup`, or the CLI on a temporary server of its own store. */
  ownsJetStream?: boolean
  /** NATS found by the caller (the CLI): used as it is, and stopped by the caller. */
  nats?: NatsEndpoint
  /** How long a process that does not own JetStream waits for the engine to set it up (default config.setupWaitMs). */
  setupWaitMs?: number
}

export async function openEngineRuntime(config: Config, options: RuntimeOptions): Promise<EngineRuntime> {
  const opened: Array<() => Promise<void>> = []
  const closeAll = async (): Promise<void> => {
    for (const close of opened.reverse()) await close().catch((err) => options.log?.warn({ err }, 'close failed'))
    opened.length = 0
  }
  const roles = options.roles ?? NATS_ROLES
  try {
    let nats = options.nats
    if (!nats) {
      const own = await openNatsEndpoint(config, options.log)
      opened.push(async () => {
        await own.stop()
        if (own.kind === 'supervised') fs.rmSync(natsUrlFile(config.dataDir), { force: true })
      })
      nats = own
    }
    const nc = await connectNats(nats.url, options.name, { auth: nats.auth, inboxPrefix: inboxPrefixFor(roles) })
    opened.push(() => nc.drain())
    const layout = layoutOf(config)
    let setupChanges: string[] | undefined
    if (options.ownsJetStream ?? roles.includes('engine')) {
      setupChanges = await setupJetStream(nc, layout)
      if (setupChanges.length > 0) options.log?.info({ changes: setupChanges }, 'JetStream set up to this configuration')
    } else {
      const waitMs = options.setupWaitMs ?? config.setupWaitMs
      await verifyJetStream(nc, layout, {
        waitMs,
        onWait: (missing) => options.log?.warn({ missing, waitMs }, `waiting up to ${Math.round(waitMs / 1000)} s for the engine to create ${missing.join(' and ')}`),
      })
    }
    const tenants = new TenantRegistry(await openBucket(nc, BUCKETS.tenants))
    // The tiers that resolve tokens follow their withdrawals (engine/tenancy/tenant-registry.ts).
    if (roles.includes('ingest') || roles.includes('query')) {
      await tenants.followCredentials(nc)
      opened.push(() => tenants.close())
    }
    const storageState = roles.includes('engine') ? await openBucket(nc, BUCKETS.storageState) : undefined
    let store: ClickHouseStore | undefined
    if (options.clickhouse) {
      store = await openClickHouse({
        url: config.clickhouseUrl,
        username: config.clickhouseUser,
        password: config.clickhousePassword,
        chdbPath: config.chdbPath ?? path.join(config.dataDir, 'chdb'),
        database: config.clickhouseDatabase,
        threadNice: config.storageNice,
        log: options.log,
      })
      const openedStore = store
      opened.push(() => openedStore.close())
      await applySchema(store)
    }
    return { config, nats, nc, js: jetstream(nc), tenants, storageState, setupChanges, store, close: closeAll }
  } catch (err) {
    await closeAll()
    throw err
  }
}
