// The one way tests start real parts: a nats-server -js of their own on a free
// port with a temp store (requiring authentication, as Tidemark's supervised
// server does), chDB in a temp dir, and Tidemark on port 0. Nothing here mocks
// NATS or ClickHouse.
import { setTimeout as sleep } from 'node:timers/promises'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node'
import { BEACONS_STREAM, inboxPrefixFor, STORAGE_CONSUMER, loadConfig, natsAuthConfig, SupervisedNatsServer, type Config, type CreatedTenant, type NatsUserName } from '../../engine/index.ts'

export { natsAuthConfig }
import { startTidemark, type StartOptions, type TidemarkApp } from '../../cli/tidemark-app.ts'

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef'

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tidemark-${prefix}-`))
}

// chDB allows one data directory per process; every stack of a test file shares it.
let chdbDir: string | undefined
export function processChdbPath(): string {
  chdbDir ??= tempDir('chdb')
  return chdbDir
}

export async function startNats(storeDir = tempDir('nats')): Promise<SupervisedNatsServer> {
  return SupervisedNatsServer.start({ binary: 'nats-server', storeDir })
}

/** The environment a `tidemark` child process needs to reach this server as one of its users. */
export function natsEnv(nats: SupervisedNatsServer, user: NatsUserName): Record<string, string> {
  const auth = nats.authFor(user)
  if (auth.kind !== 'nkey') throw new Error('the supervised server has nkey users')
  return { NATS_URL: nats.url, NATS_NKEY: auth.seedFile }
}

/**
 * A client of this server as one of its users (admin by default), for tests that look at NATS directly.
 * A role user gets its role's inbox prefix, the only inboxes it may subscribe to, as Tidemark's own connections do.
 */
export async function connectAs(nats: SupervisedNatsServer, user: NatsUserName = 'admin', options: { inboxPrefix?: string } = {}): Promise<NatsConnection> {
  const auth = nats.authFor(user)
  if (auth.kind !== 'nkey') throw new Error('the supervised server has nkey users')
  const seed = new TextEncoder().encode(fs.readFileSync(auth.seedFile, 'utf8').trim())
  const inboxPrefix = user === 'admin' ? undefined : inboxPrefixFor([user])
  return connect({ servers: nats.url, authenticator: nkeyAuthenticator(seed), ...(inboxPrefix ? { inboxPrefix } : {}), ...options })
}

/** A response's status and body: parsed JSON, or the text when it is not JSON. */
export async function readAnswer(response: Response): Promise<{ status: number; body: any; headers: Headers }> {
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed, headers: response.headers }
}

export interface Stack {
  url: string
  tidemark: TidemarkApp
  nats: SupervisedNatsServer
  config: Config
  createTenant(name: string): Promise<CreatedTenant>
  request(method: string, route: string, token: string | undefined, body?: unknown): Promise<{ status: number; body: any }>
  /** Waits until ClickHouse holds `rows` samples for this tenant (its anomaly scores not counted: the engine adds one per on-time sample) and storage has settled, then returns the count (so equality is checkable). */
  waitForRows(tenantId: string, rows: number, timeoutMs?: number): Promise<number>
  stop(): Promise<void>
}

/** options.natsUser: which of the server's users Tidemark connects as (default admin, which may do everything). */
export async function startStack(
  overrides: Partial<Config> = {},
  options: StartOptions & { nats?: SupervisedNatsServer; natsUser?: NatsUserName } = {}
): Promise<Stack> {
  const nats = options.nats ?? (await startNats())
  const dataDir = tempDir('data')
  const config = loadConfig(
    {},
    {
      port: 0,
      host: '127.0.0.1',
      dataDir,
      natsUrl: nats.url,
      ...natsAuthConfig(nats.authFor(options.natsUser ?? 'admin')),
      chdbPath: processChdbPath(),
      adminToken: ADMIN_TOKEN,
      logLevel: 'warn',
      storageLingerMs: 50,
      ...overrides,
    }
  )
  const tidemark = await startTidemark(config, options)
  const url = tidemark.url
  const request: Stack['request'] = async (method, route, token, body) => {
    const headers: Record<string, string> = {}
    if (token) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = 'application/json'
    const response = await fetch(url + route, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) })
    return readAnswer(response)
  }
  return {
    url,
    tidemark,
    nats,
    config,
    request,
    async createTenant(name) {
      const response = await request('POST', '/api/v2/tenants', ADMIN_TOKEN, { name })
      if (response.status !== 201) throw new Error(`tenant create failed: ${response.status} ${JSON.stringify(response.body)}`)
      return response.body as CreatedTenant
    },
    async waitForRows(tenantId, rows, timeoutMs = 10_000) {
      const store = tidemark.runtime.store
      if (!store) throw new Error('this stack has no ClickHouse')
      const deadline = Date.now() + timeoutMs
      const countRows = async (): Promise<number> => {
        const [row] = await store.rows<{ n: string }>(`SELECT count() AS n FROM ${store.database}.samples WHERE tenant = {t:String} AND metric != 'anomaly_score'`, { t: tenantId })
        return Number(row?.n ?? 0)
      }
      let count = await countRows()
      while (count < rows && Date.now() < deadline) {
        await sleep(50)
        count = await countRows()
      }
      // Reaching the count is not the end: a duplicate would land later. Count again once storage holds
      // nothing undelivered or unacknowledged, so a test comparing for equality sees every row there will be.
      const jsm = await jetstreamManager(tidemark.runtime.nc)
      while (Date.now() < deadline) {
        const info = await jsm.consumers.info(BEACONS_STREAM, STORAGE_CONSUMER)
        if (info.num_pending === 0 && info.num_ack_pending === 0) break
        await sleep(50)
      }
      return countRows()
    },
    async stop() {
      await tidemark.close()
      if (!options.nats) await nats.stop()
      fs.rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
