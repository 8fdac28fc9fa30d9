// A 503 means what docs/errors.md says. A request's samples span several
// partition batches; when JetStream takes some and refuses the rest, the 503
// says which beacons are not durable, a client resending only those stores each
// sample once, and a retry with the same Idempotency-Key does so by itself,
// also when NATS itself was stopped mid-request. Health tells while it happens.
import fs from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DiscardPolicy, jetstreamManager } from '@nats-io/jetstream'
import { BEACONS_STREAM, SupervisedNatsServer, type CreatedTenant } from '../../engine/index.ts'
import { pack } from 'msgpackr'
import { startStack, tempDir, type Stack } from '../helpers/stack.ts'

const storeDir = tempDir('nats-idempotency')
let nats: SupervisedNatsServer
let stack: Stack

beforeAll(async () => {
  nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir })
  // Small batches, so one request spans many; a short retry budget, so a refusal answers soon.
  stack = await startStack({ publishTimeoutMs: 3000, publishBatchSamples: 20, storageAckWaitMs: 3000, logLevel: 'fatal' }, { nats })
})
afterAll(async () => {
  await stack?.stop()
  await nats?.stop()
})

/** From now on the beacon stream takes `more` messages, then refuses every publish ("maximum messages exceeded"). */
async function refuseAfter(more: number): Promise<void> {
  const jsm = await jetstreamManager(stack.tidemark.runtime.nc)
  const { state } = await jsm.streams.info(BEACONS_STREAM)
  await jsm.streams.update(BEACONS_STREAM, { max_msgs: state.messages + more, discard: DiscardPolicy.New })
}

async function takeAll(): Promise<void> {
  const jsm = await jetstreamManager(stack.tidemark.runtime.nc)
  await jsm.streams.update(BEACONS_STREAM, { max_msgs: -1, discard: DiscardPolicy.Old })
}

/** 40 beacons of 5 metrics, each value unique, spread over every partition by their tags. */
function body(seed: number): Record<string, unknown>[] {
  return Array.from({ length: 40 }, (_, b) => ({
    ...Object.fromEntries(Array.from({ length: 5 }, (_, m) => [`m_${m}`, seed + b * 10 + m])),
    tags: { host: `h${b}` },
  }))
}

async function post(tenant: CreatedTenant, payload: unknown, key?: string, format: 'json' | 'msgpack' = 'json'): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { authorization: `Bearer ${tenant.ingestToken}`, 'content-type': `application/${format}` }
  if (key !== undefined) headers['idempotency-key'] = key
  const data = format === 'json' ? JSON.stringify(payload) : new Uint8Array(pack(payload))
  const response = await fetch(`${stack.url}/api/v2/analytics/metrics`, { method: 'POST', headers, body: data })
  return { status: response.status, body: await response.json(), headers: response.headers }
}

/** Rows, and distinct (metric, value, tags): equal when no sample was stored twice. Waits for `expected`, then a little longer for late copies. */
/** Rows and distinct samples of the tenant; when they differ, also which stream messages were stored more than once. */
async function storedOnce(tenant: CreatedTenant, expected: number): Promise<{ rows: number; distinct: number; storedTwice?: unknown }> {
  await stack.waitForRows(tenant.id, expected, 20_000)
  await sleep(1000)
  const store = stack.tidemark.runtime.store!
  const [row] = await store.rows<{ rows: string; distinct: string }>(
    `SELECT count() AS rows, uniqExact(metric, value, tags) AS distinct FROM ${store.database}.samples WHERE tenant = {t:String} AND metric != 'anomaly_score'`,
    { t: tenant.id }
  )
  const counts = { rows: Number(row?.rows), distinct: Number(row?.distinct) }
  if (counts.rows === counts.distinct) return counts
  // The same stream_seq twice is storage writing one message twice; different ones, ingest publishing a batch twice.
  const storedTwice = await store.rows(
    `SELECT stream_seq, count() AS stored, uniqExact(metric, value, tags) AS different FROM ${store.database}.samples
      WHERE tenant = {t:String} AND metric != 'anomaly_score' GROUP BY stream_seq HAVING stored > different ORDER BY stream_seq LIMIT 10`,
    { t: tenant.id }
  )
  return { ...counts, storedTwice }
}

const health = () => stack.request('GET', '/api/v2/health', undefined)

describe('a 503 says which beacons are durable', () => {
  it('lets a client without a key resend only the rest; health says publishes are failing meanwhile', async () => {
    const tenant = await stack.createTenant('keyless')
    const sent = body(0)
    await refuseAfter(4)
    const pending = post(tenant, sent)
    // While a batch is being retried, ingest health is 503 and says so (NATS itself answers).
    await expect.poll(async () => (await health()).body.ingest?.reason ?? '', { timeout: 3000, interval: 100 }).toMatch(/retrying/)
    const refused = await pending
    expect(refused.status).toBe(503)
    expect(refused.headers.get('retry-after')).toBe('1')
    expect(refused.body.code).toBe('TM_INGEST_UNAVAILABLE')
    expect(refused.body.accepted).toBeGreaterThan(0)
    expect(refused.body.accepted).toBeLessThan(200)
    expect(refused.body.beacons).toBe(40)
    const after = await health()
    expect(after.status).toBe(503)
    expect(after.body.nats.ok).toBe(true)
    expect(after.body.ingest).toMatchObject({ ok: false, reason: expect.stringMatching(/failing/) })

    // Resend exactly what the 503 names: whole beacons, or the named metrics of partly durable ones, stamped with receivedAt.
    const notDurable: { beacon: number; metrics?: string[] }[] = refused.body.notDurable
    const missing = notDurable.reduce((n, entry) => n + (entry.metrics?.length ?? 5), 0)
    expect(refused.body.accepted + missing).toBe(200)
    const resend = notDurable.map(({ beacon, metrics }) => {
      const original = sent[beacon] as Record<string, unknown>
      const kept = metrics ? Object.fromEntries(metrics.map((m) => [m, original[m]])) : original
      return { ...kept, tags: original.tags, ts: refused.body.receivedAt }
    })
    await takeAll()
    const resent = await post(tenant, resend)
    expect(resent.status).toBe(200)
    expect(resent.body.accepted).toBe(missing)
    expect(await storedOnce(tenant, 200)).toEqual({ rows: 200, distinct: 200 })
    await expect.poll(async () => (await health()).status, { timeout: 5000 }).toBe(200)
  })
})

describe('msgpack bodies, read by the fast path (ingest/msgpack-beacons.ts)', () => {
  it('get the same 503 naming what is not durable, and a keyed one retried as JSON under its key is one request, stored once', async () => {
    const tenant = await stack.createTenant('msgpack-partial')
    const sent = body(5000)
    await refuseAfter(4)
    const refused = await post(tenant, sent, undefined, 'msgpack')
    expect(refused.status).toBe(503)
    expect(refused.body).toMatchObject({ code: 'TM_INGEST_UNAVAILABLE', beacons: 40 })
    const notDurable: { beacon: number; metrics?: string[] }[] = refused.body.notDurable
    expect(refused.body.accepted + notDurable.reduce((n, entry) => n + (entry.metrics?.length ?? 5), 0)).toBe(200)
    await takeAll()

    // The key's digest is of the beacons, whatever the body type: the JSON retry resumes the msgpack request.
    const keyedTenant = await stack.createTenant('msgpack-keyed')
    const keyedBody = body(6000)
    await refuseAfter(3)
    const first = await post(keyedTenant, keyedBody, 'mp-1', 'msgpack')
    expect(first.status).toBe(503)
    await takeAll()
    const retried = await post(keyedTenant, keyedBody, 'mp-1', 'json')
    expect(retried.status).toBe(200)
    expect(retried.body).toEqual({ accepted: 200, beacons: 40 })
    const replayed = await post(keyedTenant, keyedBody, 'mp-1', 'msgpack')
    expect(replayed.headers.get('idempotent-replayed')).toBe('true')
    expect(await storedOnce(keyedTenant, 200)).toEqual({ rows: 200, distinct: 200 })
  })
})

describe('Idempotency-Key', () => {
  it('makes a retry after a partial 503 store every sample exactly once, and a replay store nothing', async () => {
    const tenant = await stack.createTenant('keyed')
    const sent = body(1000)
    await refuseAfter(3)
    const refused = await post(tenant, sent, 'order-42')
    expect(refused.status).toBe(503)
    expect(refused.body.accepted).toBeGreaterThan(0)
    expect(refused.body.accepted).toBeLessThan(200)
    expect(refused.body.message).toMatch(/same Idempotency-Key/)
    await takeAll()

    const retried = await post(tenant, sent, 'order-42')
    expect(retried.status).toBe(200)
    expect(retried.body).toEqual({ accepted: 200, beacons: 40 })
    expect(await storedOnce(tenant, 200)).toEqual({ rows: 200, distinct: 200 })

    const replayed = await post(tenant, sent, 'order-42')
    expect(replayed.status).toBe(200)
    expect(replayed.body).toEqual({ accepted: 200, beacons: 40 })
    expect(replayed.headers.get('idempotent-replayed')).toBe('true')
    expect(await storedOnce(tenant, 200)).toEqual({ rows: 200, distinct: 200 })
  })

  it('refuses the same key with another body (422), a concurrent duplicate (409), and a malformed key (400)', async () => {
    const tenant = await stack.createTenant('keyed-misuse')
    expect((await post(tenant, body(0), 'k-1')).status).toBe(200)
    const reused = await post(tenant, body(1), 'k-1')
    expect(reused.status).toBe(422)
    expect(reused.body.code).toBe('TM_INGEST_IDEMPOTENCY_KEY_REUSED')

    await refuseAfter(0)
    const first = post(tenant, body(2), 'k-2')
    await sleep(300)
    const duplicate = await post(tenant, body(2), 'k-2')
    expect(duplicate.status).toBe(409)
    expect(duplicate.body.code).toBe('TM_INGEST_IDEMPOTENCY_IN_PROGRESS')
    expect(duplicate.headers.get('retry-after')).toBe('1')
    await takeAll()
    // The first was still retrying: once the stream takes messages again it lands whole.
    expect((await first).status).toBe(200)

    for (const key of ['', ' ', 'x'.repeat(256), 'naïve']) {
      const bad = await post(tenant, body(3), key)
      expect(bad.status, JSON.stringify(key)).toBe(400)
      expect(bad.body.code).toBe('TM_INGEST_IDEMPOTENCY_KEY_INVALID')
    }
    // Another tenant's use of the same key is its own.
    const other = await stack.createTenant('keyed-other')
    expect((await post(other, body(1), 'k-1')).status).toBe(200)
    expect(await storedOnce(tenant, 400)).toEqual({ rows: 400, distinct: 400 })
  })

  it('stays exact when NATS is stopped mid-request, takes in what it held once it resumes, and the key is retried', async () => {
    const tenant = await stack.createTenant('keyed-outage')
    // A tenant whose token this process has not looked up yet: while NATS is stopped that lookup cannot be made.
    const cold = await stack.createTenant('cold-token')
    // 4,000 samples in batches of 20: some are acknowledged before the server stops.
    const sent = Array.from({ length: 400 }, (_, b) => ({ ...Object.fromEntries(Array.from({ length: 10 }, (_, m) => [`m_${m}`, b * 10 + m])), tags: { host: `h${b}` } }))
    const publisher = stack.tidemark.publisher!
    const pid = Number(fs.readFileSync(path.join(storeDir, 'tidemark-nats.pid'), 'utf8'))
    // Five batches land, the rest are refused and retried; then the stream takes them again and the server stops.
    await refuseAfter(5)
    const retriesBefore = publisher.stats.retries
    const pending = post(tenant, sent, 'outage-1')
    await expect.poll(() => publisher.stats.retries, { timeout: 3000, interval: 5 }).toBeGreaterThan(retriesBefore)
    await takeAll()
    // Stopped, not killed: the retries it reads but does not acknowledge land when it resumes, after the 503 said "not durable".
    process.kill(pid, 'SIGSTOP')
    // The stop reaches every thread of the server a little later (seen: one request answered 2 ms after kill()).
    await expect.poll(() => fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0], { timeout: 2000, interval: 1 }).toBe('T')
    let refused
    let unchecked
    try {
      ;[refused, unchecked] = await Promise.all([pending, post(cold, { page_views: 1 })])
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    expect(unchecked.status).toBe(503)
    expect(unchecked.body.code).toBe('TM_ENGINE_NATS_UNAVAILABLE')
    expect(unchecked.headers.get('retry-after')).toBe('1')
    expect(refused.status).toBe(503)
    expect(refused.body.accepted).toBeGreaterThanOrEqual(5 * 20)
    expect(refused.body.accepted).toBeLessThan(4000)

    // The record may still be on its way (written once NATS answers): the key says so with 409 until then.
    let retried = await post(tenant, sent, 'outage-1')
    for (let i = 0; retried.status === 409 && i < 40; i++) {
      await sleep(500)
      retried = await post(tenant, sent, 'outage-1')
    }
    expect(retried.status).toBe(200)
    expect(retried.body).toEqual({ accepted: 4000, beacons: 400 })
    // Batches the server took in after resuming were sent again with their message ids, and dropped as duplicates.
    expect(publisher.stats.duplicates).toBeGreaterThan(0)
    expect(await storedOnce(tenant, 4000)).toEqual({ rows: 4000, distinct: 4000 })
  }, 60_000)
})
