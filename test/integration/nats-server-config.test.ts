// The config docker-compose.yml gives nats (deploy/nats-server.conf) is what
// `tidemark nats-config` prints, and nats-server 2.9 runs it: password users
// from the environment, each held to its role, nobody without credentials.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstream } from '@nats-io/jetstream'
import { findExecutable, freePort } from '../../engine/nats/nats-endpoint.ts'
import { natsConfigText } from '../../cli/nats-commands.ts'
import { tempDir } from '../helpers/stack.ts'

const configFile = new URL('../../deploy/nats-server.conf', import.meta.url)
const passwords = { TIDEMARK_NATS_INGEST_PASSWORD: 'ingest-pw-0123', TIDEMARK_NATS_ENGINE_PASSWORD: 'engine-pw-4567', TIDEMARK_NATS_QUERY_PASSWORD: 'query+pw/89=' }
let server: ChildProcess
let url: string
const log: string[] = []

beforeAll(async () => {
  const port = await freePort()
  url = `nats://127.0.0.1:${port}`
  server = spawn(findExecutable('nats-server')!, ['-c', configFile.pathname, '-js', '-a', '127.0.0.1', '-p', String(port), '-sd', tempDir('nats-conf')], {
    env: { ...process.env, ...passwords },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  await new Promise<void>((resolve, reject) => {
    server.stderr!.on('data', (chunk: Buffer) => {
      log.push(...chunk.toString().split('\n'))
      if (log.some((line) => line.includes('Server is ready'))) resolve()
    })
    server.once('exit', (code) => reject(new Error(`nats-server exited with ${code}: ${log.join('\n')}`)))
  })
})
afterAll(() => {
  server?.kill('SIGTERM')
})

it('is what `tidemark nats-config` prints (regenerate it with `tidemark nats-config > deploy/nats-server.conf`)', () => {
  expect(fs.readFileSync(configFile, 'utf8')).toBe(natsConfigText())
})

it('runs on nats-server with passwords from the environment, and refuses a client without them', async () => {
  await expect(connect({ servers: url, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/)
  await expect(connect({ servers: url, maxReconnectAttempts: 0, user: 'ingest', pass: 'wrong' })).rejects.toThrow(/Authorization Violation/)
  for (const user of ['ingest', 'engine', 'query'] as const) {
    const pass = passwords[`TIDEMARK_NATS_${user.toUpperCase()}_PASSWORD` as keyof typeof passwords]
    const nc = await connect({ servers: url, user, pass, inboxPrefix: `_INBOX.${user}` })
    await nc.close()
  }
})

it('holds each password user to its role', async () => {
  const as = (user: 'engine' | 'ingest', pass: string): Promise<NatsConnection> => connect({ servers: url, user, pass, inboxPrefix: `_INBOX.${user}` })
  const engine = await as('engine', passwords.TIDEMARK_NATS_ENGINE_PASSWORD)
  const jsm = await jetstream(engine).jetstreamManager()
  await jsm.streams.add({ name: 'TM_BEACONS', subjects: ['tm.beacons.>'] })
  await jsm.streams.add({ name: 'KV_tm_tenants', subjects: ['$KV.tm_tenants.>'], allow_direct: true })
  const ingest = await as('ingest', passwords.TIDEMARK_NATS_INGEST_PASSWORD)
  expect((await jetstream(ingest).publish('tm.beacons.3', 'batch')).stream).toBe('TM_BEACONS')
  await expect(jetstream(ingest).publish('$KV.tm_tenants.token.forged', '{}')).rejects.toThrow(/permissions violation/i)
  await expect(jetstream(engine).publish('$KV.tm_tenants.token.forged', '{}')).rejects.toThrow(/permissions violation/i)
  await ingest.close()
  await engine.close()
})
