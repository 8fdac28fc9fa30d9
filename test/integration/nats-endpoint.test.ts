// Both NatsEndpoint implementations pass one suite: a client connects with the
// endpoint's credentials, uses JetStream and stops cleanly. The supervised one
// also requires those credentials, keeps them to its owner, restarts a dead
// server, and refuses a second server on its store.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { connect, nkeyAuthenticator } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { externalNats, SupervisedNatsServer, type NatsAuth, type NatsEndpoint } from '../../engine/index.ts'
import { startNats, tempDir } from '../helpers/stack.ts'

const cleanups: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

function authenticator(auth: NatsAuth | undefined) {
  if (!auth) return {}
  if (auth.kind !== 'nkey') throw new Error(`unexpected ${auth.kind}`)
  return { authenticator: nkeyAuthenticator(new TextEncoder().encode(fs.readFileSync(auth.seedFile, 'utf8').trim())) }
}

const implementations: Record<string, () => Promise<NatsEndpoint>> = {
  supervised: async () => SupervisedNatsServer.start({ binary: 'nats-server', storeDir: tempDir('nats-sup') }),
  external: async () => {
    const server = await startNats()
    cleanups.push(() => server.stop())
    return externalNats(server.url, server.authFor('admin'))
  },
}

describe.each(Object.entries(implementations))('NatsEndpoint: %s', (_name, open) => {
  it('serves JetStream to a client with its credentials and stops', async () => {
    const endpoint = await open()
    const nc = await connect({ servers: endpoint.url, ...authenticator(endpoint.auth) })
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'CONFORMANCE', subjects: ['conformance.>'] })
    expect((await jsm.streams.info('CONFORMANCE')).config.subjects).toEqual(['conformance.>'])
    await nc.close()
    await endpoint.stop()
  })
})

describe('SupervisedNatsServer', () => {
  it('refuses a client without credentials, and one with a seed it does not know', async () => {
    const storeDir = tempDir('nats-auth')
    const server = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir })
    cleanups.push(() => server.stop())
    await expect(connect({ servers: server.url, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/)
    const stranger = tempDir('nats-stranger')
    const other = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir: stranger })
    await other.stop()
    // A seed of another store's server: a valid nkey, not a user of this server.
    await expect(connect({ servers: server.url, maxReconnectAttempts: 0, ...authenticator(other.authFor('admin')) })).rejects.toThrow(/Authorization Violation/)
    const nc = await connect({ servers: server.url, ...authenticator(server.auth) })
    await nc.close()
  })

  it('keeps its config and every seed readable by its owner only (0600, in a 0700 directory)', async () => {
    const storeDir = tempDir('nats-modes')
    const server = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir })
    cleanups.push(() => server.stop())
    const mode = (file: string) => fs.statSync(file).mode & 0o777
    expect(mode(path.join(storeDir, 'tidemark-nats.conf'))).toBe(0o600)
    expect(mode(path.join(storeDir, 'credentials'))).toBe(0o700)
    const config = fs.readFileSync(path.join(storeDir, 'tidemark-nats.conf'), 'utf8')
    for (const user of ['ingest', 'engine', 'query', 'admin'] as const) {
      const auth = server.authFor(user)
      if (auth.kind !== 'nkey') throw new Error(auth.kind)
      expect(mode(auth.seedFile)).toBe(0o600)
      // The config holds public keys only, never a seed.
      expect(config).not.toContain(fs.readFileSync(auth.seedFile, 'utf8').trim())
    }
  })

  it('restarts a server that died, on the same port with the same users, and JetStream data survives', async () => {
    const server = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir: tempDir('nats-crash') })
    cleanups.push(() => server.stop())
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100, ...authenticator(server.auth) })
    cleanups.push(() => nc.close())
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'SURVIVES', subjects: ['survives'] })
    const js = jsm.jetstream()
    await js.publish('survives', 'before the crash')
    const first = server.pid
    expect(first).toBeGreaterThan(0)
    process.kill(first!, 'SIGKILL')
    await expect.poll(() => server.restarts, { timeout: 5000 }).toBe(1)
    await expect.poll(() => server.pid, { timeout: 5000 }).toBeGreaterThan(0)
    expect(server.pid).not.toBe(first)
    // The client reconnects by itself to the restarted server on the same URL.
    await expect
      .poll(async () => (await jsm.streams.info('SURVIVES').catch(() => undefined))?.state.messages, { timeout: 10_000, interval: 200 })
      .toBe(1)
  })

  it('refuses a second server on a store this process already serves', async () => {
    const storeDir = tempDir('nats-twice')
    const server = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir })
    cleanups.push(() => server.stop())
    await expect(SupervisedNatsServer.start({ binary: 'nats-server', storeDir })).rejects.toMatchObject({ code: 'TM_ENGINE_NATS_STORE_IN_USE' })
    // The first one is untouched.
    const nc = await connect({ servers: server.url, ...authenticator(server.auth) })
    await nc.close()
  })

  it('fails with one message saying how to get a nats-server when none is installed', async () => {
    await expect(SupervisedNatsServer.start({ binary: 'no-such-nats-server', storeDir: tempDir('nats-missing') })).rejects.toMatchObject({
      code: 'TM_ENGINE_NATS_SERVER_MISSING',
      message: expect.stringMatching(/apt-get install nats-server.*NATS_URL/),
    })
  })
})
