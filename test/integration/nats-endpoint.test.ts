// Both NatsEndpoint implementations pass one suite: a client connects, uses
// JetStream and stops cleanly. The supervised one also restarts a dead server.
import { afterAll, describe, expect, it } from 'vitest'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { externalNats, SupervisedNatsServer, type NatsEndpoint } from '../../engine/index.ts'
import { startNats, tempDir } from '../helpers/stack.ts'

const cleanups: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

const implementations: Record<string, () => Promise<NatsEndpoint>> = {
  supervised: async () => SupervisedNatsServer.start({ binary: 'nats-server', storeDir: tempDir('nats-sup') }),
  external: async () => {
    const server = await startNats()
    cleanups.push(() => server.stop())
    return externalNats(server.url)
  },
}

describe.each(Object.entries(implementations))('NatsEndpoint: %s', (_name, open) => {
  it('serves JetStream to a client and stops', async () => {
    const endpoint = await open()
    const nc = await connect({ servers: endpoint.url })
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'CONFORMANCE', subjects: ['conformance.>'] })
    expect((await jsm.streams.info('CONFORMANCE')).config.subjects).toEqual(['conformance.>'])
    await nc.close()
    await endpoint.stop()
  })
})

describe('SupervisedNatsServer', () => {
  it('restarts a server that died, on the same port, and JetStream data survives', async () => {
    const server = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir: tempDir('nats-crash') })
    cleanups.push(() => server.stop())
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 })
    cleanups.push(() => nc.close())
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'SURVIVES', subjects: ['survives'] })
    const js = jsm.jetstream()
    await js.publish('survives', 'before the crash')
    server.crashForTest()
    await expect.poll(() => server.restarts, { timeout: 5000 }).toBe(1)
    // The client reconnects by itself to the restarted server on the same URL.
    await expect
      .poll(async () => (await jsm.streams.info('SURVIVES').catch(() => undefined))?.state.messages, { timeout: 10_000, interval: 200 })
      .toBe(1)
  })

  it('fails with one message saying how to get a nats-server when none is installed', async () => {
    await expect(SupervisedNatsServer.start({ binary: 'no-such-nats-server', storeDir: tempDir('nats-missing') })).rejects.toMatchObject({
      code: 'TM_ENGINE_NATS_SERVER_MISSING',
      message: expect.stringMatching(/apt-get install nats-server.*NATS_URL/),
    })
  })
})
