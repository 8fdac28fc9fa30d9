// Opens what a Tidemark process needs, in order, from a validated Config:
// NATS (supervised child or NATS_URL), JetStream streams and buckets, the
// tenant registry and, where the process reads or stores data, ClickHouse with
// its schema. close() releases them in reverse order.
import fs from 'node:fs'
import path from 'node:path'
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstream, type JetStreamClient } from '@nats-io/jetstream'
import type { KV } from '@nats-io/kv'
import type { Config } from './config.ts'
import { openClickHouse, type ClickHouseStore } from './clickhouse-store.ts'
import { schemaStatements } from './clickhouse-schema.ts'
import { BUCKETS, connectNats, ensureJetStream, openBucket } from './jetstream-setup.ts'
import { externalNats, SupervisedNatsServer, type NatsEndpoint } from './nats-endpoint.ts'
import { TenantRegistry } from './tenant-registry.ts'

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
  storageState: KV
  /** Present when the process was opened with clickhouse: true. */
  store: ClickHouseStore | undefined
  close(): Promise<void>
}

/** Where an embedded server publishes its NATS URL, so `tidemark tenant create` finds it. */
export function natsUrlFile(dataDir: string): string {
  return path.join(dataDir, 'nats.url')
}

export async function openNatsEndpoint(config: Config, log?: Logger): Promise<NatsEndpoint> {
  if (config.natsUrl) return externalNats(config.natsUrl)
  const server = await SupervisedNatsServer.start({
    binary: config.natsServerBin,
    storeDir: path.join(config.dataDir, 'nats'),
    onLog: (line) => log?.debug({ nats: line }),
    onRestart: (restarts, code) => log?.warn({ restarts, code }, 'nats-server exited; restarting it'),
  })
  fs.writeFileSync(natsUrlFile(config.dataDir), server.url + '\n')
  return server
}

export async function applySchema(store: ClickHouseStore): Promise<void> {
  for (const statement of schemaStatements(store.database)) await store.command(statement)
}

export async function openEngineRuntime(config: Config, options: { clickhouse: boolean; name: string; log?: Logger }): Promise<EngineRuntime> {
  const opened: Array<() => Promise<void>> = []
  const closeAll = async (): Promise<void> => {
    for (const close of opened.reverse()) await close().catch((err) => options.log?.warn({ err }, 'close failed'))
    opened.length = 0
  }
  try {
    const nats = await openNatsEndpoint(config, options.log)
    opened.push(async () => {
      await nats.stop()
      if (nats.kind === 'supervised') fs.rmSync(natsUrlFile(config.dataDir), { force: true })
    })
    const nc = await connectNats(nats.url, options.name)
    opened.push(() => nc.drain())
    await ensureJetStream(nc, { replicas: config.streamReplicas, storageAckWaitMs: config.storageAckWaitMs })
    const tenants = new TenantRegistry(await openBucket(nc, BUCKETS.tenants, config.streamReplicas))
    const storageState = await openBucket(nc, BUCKETS.storageState, config.streamReplicas)
    let store: ClickHouseStore | undefined
    if (options.clickhouse) {
      store = await openClickHouse({
        url: config.clickhouseUrl,
        username: config.clickhouseUser,
        password: config.clickhousePassword,
        chdbPath: config.chdbPath ?? path.join(config.dataDir, 'chdb'),
        database: config.clickhouseDatabase,
      })
      const openedStore = store
      opened.push(() => openedStore.close())
      await applySchema(store)
    }
    return { config, nats, nc, js: jetstream(nc), tenants, storageState, store, close: closeAll }
  } catch (err) {
    await closeAll()
    throw err
  }
}
