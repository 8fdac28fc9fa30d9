// Tidemark as `tidemark start` runs it: a nats-server -js child, chDB in this
// process, and the ingest, engine and query roles on one port, with the default
// publish and storage settings. Everything lives in one temp dir that stop()
// removes. Benches use only the public pieces (no test helpers).
import { setTimeout as sleep } from 'node:timers/promises'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { BEACONS_STREAM, loadConfig, natsAuthConfig, STORAGE_CONSUMER, SupervisedNatsServer, type Config, type CreatedTenant } from '../engine/index.ts'
import { startTidemark, type TidemarkApp } from '../cli/tidemark-app.ts'

/**
 * Storage is asynchronous by design (a 2xx means JetStream holds the samples,
 * ClickHouse gets them later), so waitForStorage waits for as long as it makes
 * progress, and gives up after this long without any.
 */
const STORAGE_STALL_MS = 30_000

export interface StorageCatchUp {
  /** Samples of the bench tenant in ClickHouse. */
  stored: number
  /** Samples the ingest publisher had JetStream acknowledge (counts requests whose client gave up, too). */
  published: number
  /** From the call until storage settled (nothing pending or unacknowledged) with every published sample stored. */
  catchUpMs: number
  /** False when storage stopped making progress before settling. */
  complete: boolean
}

export interface TidemarkStack {
  url: string
  app: TidemarkApp
  config: Config
  tenant: CreatedTenant
  /** The bench tenant's samples in ClickHouse now: what clients sent, not the engine's anomaly scores. */
  storedSamples(): Promise<number>
  /** Waits until ClickHouse holds every sample published so far, printing progress on stderr while it takes. */
  waitForStorage(): Promise<StorageCatchUp>
  stop(): Promise<void>
}

async function createTenant(url: string, adminToken: string): Promise<CreatedTenant> {
  const response = await fetch(`${url}/api/v2/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench' }),
  })
  if (response.status !== 201) throw new Error(`creating the bench tenant failed: ${response.status} ${await response.text()}`)
  return (await response.json()) as CreatedTenant
}

/** `overrides`: settings a scenario changes on top of the defaults (e2e turns the tenant quota off). */
export async function startTidemarkStack(overrides: Partial<Config> = {}): Promise<TidemarkStack> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-'))
  const adminToken = randomBytes(24).toString('hex')
  let nats: SupervisedNatsServer | undefined
  let app: TidemarkApp | undefined
  const stop = async (): Promise<void> => {
    await app?.close()
    await nats?.stop()
    fs.rmSync(root, { recursive: true, force: true })
  }
  try {
    nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir: path.join(root, 'nats') })
    // loadConfig({}, ...): the bench's figures must not depend on the caller's TIDEMARK_* environment.
    const config = loadConfig(
      {},
      { port: 0, host: '127.0.0.1', dataDir: path.join(root, 'data'), natsUrl: nats.url, ...natsAuthConfig(nats.auth), chdbPath: path.join(root, 'chdb'), adminToken, logLevel: 'warn', ...overrides }
    )
    app = await startTidemark(config)
    const { store } = app.runtime
    const { publisher } = app
    if (!store || !publisher) throw new Error('Tidemark started without its ingest and engine roles')
    const tenant = await createTenant(app.url, adminToken)
    const jsm = await jetstreamManager(app.runtime.nc)
    const storageSettled = async (): Promise<boolean> => {
      // A request that times out while storage works off a backlog (seen in e2e: the loop and nats-server both
      // busy) says nothing yet: asked again on the next poll, not fatal to the run.
      const info = await jsm.consumers.info(BEACONS_STREAM, STORAGE_CONSUMER).catch(() => undefined)
      return info !== undefined && info.num_pending === 0 && info.num_ack_pending === 0
    }
    // The samples the bench posted: the engine's anomaly scores (one per on-time sample) are rows of the tenant too.
    const storedSamples = async (): Promise<number> => {
      const [row] = await store.rows<{ n: string }>(`SELECT count() AS n FROM ${store.database}.samples WHERE tenant = {t:String} AND metric != 'anomaly_score'`, { t: tenant.id })
      return Number(row?.n ?? 0)
    }
    return {
      url: app.url,
      app,
      config,
      tenant,
      storedSamples,
      async waitForStorage() {
        const started = Date.now()
        let lastGrowth = started
        let lastLine = started
        let stored = await storedSamples()
        for (;;) {
          const published = publisher.stats.samples
          // Settled: nothing left to publish, and the storage consumer has nothing pending or unacknowledged (it acks
          // only after ClickHouse accepted), so every insert has happened and the count is final, equal or not.
          // Stopping at "stored >= published" would let a duplicate that lands later go uncounted.
          if (publisher.stats.pendingSamples === 0 && (await storageSettled())) {
            return { stored: await storedSamples(), published, catchUpMs: Date.now() - started, complete: true }
          }
          if (Date.now() - lastGrowth > STORAGE_STALL_MS) return { stored, published, catchUpMs: Date.now() - started, complete: false }
          if (Date.now() - lastLine >= 1000) {
            lastLine = Date.now()
            process.stderr.write(`  ${'storage'.padEnd(26)} catching up: ${stored.toLocaleString('en-US')} of ${published.toLocaleString('en-US')} samples in ClickHouse\n`)
          }
          await sleep(100)
          const now = await storedSamples()
          if (now > stored) lastGrowth = Date.now()
          stored = now
        }
      },
      stop,
    }
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
}
