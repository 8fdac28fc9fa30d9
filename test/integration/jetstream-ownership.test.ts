// One owner of the JetStream layout: the engine role (and `tidemark setup`)
// creates and changes the streams, consumer and buckets; every other process
// checks them and refuses a different layout, naming the variable, without
// changing anything. Before, every process (even `tidemark tenant create`)
// rewrote replicas and ack wait from its own environment.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstreamManager } from '@nats-io/jetstream'
import { BEACONS_STREAM, loadConfig, openEngineRuntime, STORAGE_CONSUMER, type Config, type EngineRuntime, type NatsRole, type SupervisedNatsServer } from '../../engine/index.ts'
import { connectAs, natsAuthConfig, startNats, tempDir } from '../helpers/stack.ts'

let nats: SupervisedNatsServer
const runtimes: EngineRuntime[] = []

beforeAll(async () => {
  nats = await startNats()
})
afterAll(async () => {
  for (const runtime of runtimes) await runtime.close()
  await nats?.stop()
})

function configOf(overrides: Partial<Config> = {}): Config {
  return loadConfig({}, { dataDir: tempDir('own'), natsUrl: nats.url, ...natsAuthConfig(nats.authFor('admin')), logLevel: 'silent', ...overrides })
}

async function open(roles: NatsRole[], overrides: Partial<Config> = {}, options: { setupWaitMs?: number } = {}): Promise<EngineRuntime> {
  const runtime = await openEngineRuntime(configOf(overrides), { clickhouse: false, name: 'ownership-test', roles, ...options })
  runtimes.push(runtime)
  return runtime
}

async function consumerAckWaitMs(): Promise<number> {
  const nc = await connectAs(nats)
  try {
    const jsm = await jetstreamManager(nc)
    return ((await jsm.consumers.info(BEACONS_STREAM, STORAGE_CONSUMER)).config.ack_wait ?? 0) / 1e6
  } finally {
    await nc.close()
  }
}

it('makes a process that does not own JetStream wait a bounded time for the engine, then refuse', async () => {
  const started = Date.now()
  await expect(open(['ingest'], {}, { setupWaitMs: 400 })).rejects.toMatchObject({
    code: 'TM_ENGINE_STREAM_MISSING',
    message: expect.stringMatching(/stream TM_BEACONS and bucket tm_tenants do not exist.*tidemark engine.*tidemark setup/),
  })
  expect(Date.now() - started).toBeGreaterThanOrEqual(400)
})

it('lets a waiting process start as soon as the engine has set JetStream up', async () => {
  const waiting = open(['query'], {}, { setupWaitMs: 20_000 })
  const engine = await open(['engine'], { storageAckWaitMs: 30_000 })
  expect(engine.setupChanges).toEqual(expect.arrayContaining(['created stream TM_BEACONS', 'created consumer tm-storage', 'created bucket tm_tenants']))
  const query = await waiting
  expect(query.setupChanges).toBeUndefined()
  expect(await consumerAckWaitMs()).toBe(30_000)
})

it('never changes the layout from a process that does not own it (the old `tenant create` shrank a cluster)', async () => {
  // Another ack wait in a query process's (or the CLI's) environment: checked processes do not touch the consumer.
  await open(['query'], { storageAckWaitMs: 5_000 })
  await open(['ingest'], { storageAckWaitMs: 5_000 })
  expect(await consumerAckWaitMs()).toBe(30_000)
})

it('refuses a different replica count or partition count, naming the variable', async () => {
  await expect(open(['query'], { streamReplicas: 3 })).rejects.toMatchObject({
    code: 'TM_ENGINE_STREAM_MISMATCH',
    message: expect.stringContaining('TM_BEACONS has 1 replica, TIDEMARK_STREAM_REPLICAS says 3; KV_tm_tenants has 1 replica, TIDEMARK_STREAM_REPLICAS says 3'),
  })
  await expect(open(['ingest'], { partitions: 8 })).rejects.toMatchObject({
    code: 'TM_ENGINE_STREAM_MISMATCH',
    message: expect.stringContaining('TM_BEACONS has 16 partitions, TIDEMARK_PARTITIONS says 8'),
  })
  const nc = await connectAs(nats)
  const info = await (await jetstreamManager(nc)).streams.info(BEACONS_STREAM)
  await nc.close()
  expect(info.config.num_replicas).toBe(1)
  expect(info.config.description).toBe('Tidemark beacons; partitions=16')
})

it('lets the owner change the layout, and says what it changed and which variable asked', async () => {
  const engine = await open(['engine'], { storageAckWaitMs: 45_000, partitions: 32 })
  expect(engine.setupChanges).toEqual([
    'TM_BEACONS: partitions 16 → 32 (TIDEMARK_PARTITIONS)',
    'tm-storage: ack wait 30000 ms → 45000 ms (TIDEMARK_STORAGE_ACK_WAIT_MS)',
  ])
  expect(await consumerAckWaitMs()).toBe(45_000)
  // Now the old partition count is the one refused.
  await expect(open(['ingest'])).rejects.toMatchObject({ message: expect.stringContaining('TM_BEACONS has 32 partitions, TIDEMARK_PARTITIONS says 16') })
  // Unchanged settings: nothing to do.
  expect((await open(['engine'], { storageAckWaitMs: 45_000, partitions: 32 })).setupChanges).toEqual([])
})
