// While NATS is down nothing is acknowledged: ingest answers 503 and health
// says why. When NATS is back, the same process takes beacons again and
// everything acknowledged before and after is stored.
import { jetstreamManager } from '@nats-io/jetstream'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { BEACONS_STREAM, decodeBatch, SampleField, SupervisedNatsServer, type CreatedTenant } from '../../engine/index.ts'
import { startStack, tempDir, type Stack } from '../helpers/stack.ts'

const storeDir = tempDir('nats-outage')
let nats: SupervisedNatsServer
let stack: Stack
let tenant: CreatedTenant

beforeAll(async () => {
  nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir })
  // A message delivered to the pull subscription the outage broke comes back after the ack wait: keep it short here.
  stack = await startStack({ publishTimeoutMs: 1500, storageAckWaitMs: 3000, logLevel: 'fatal' }, { nats })
  tenant = await stack.createTenant('outage')
})
afterAll(async () => {
  // Draining must not wait out the ack wait of a message stranded on the consumer the outage broke.
  const started = Date.now()
  await stack?.stop()
  expect(Date.now() - started).toBeLessThan(10_000)
  await nats?.stop()
})

const beacon = (value: number) => stack.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, { page_views: value })

it('answers 503 while JetStream is unreachable, and resumes when it is back', async () => {
  expect((await beacon(1)).status).toBe(200)
  await nats.stop()

  const refused = await beacon(2)
  expect(refused.status).toBe(503)
  expect(refused.body.code).toBe('TM_INGEST_UNAVAILABLE')
  const health = await stack.request('GET', '/api/v2/health', undefined)
  expect(health.status).toBe(503)
  expect(health.body.nats.ok).toBe(false)

  // The same store on the same port: the client reconnects by itself.
  nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir, port: nats.port })
  await expect.poll(async () => (await stack.request('GET', '/api/v2/health', undefined)).status, { timeout: 15_000, interval: 200 }).toBe(200)
  expect((await beacon(3)).status).toBe(200)

  // Storage survived the outage and stored exactly what JetStream holds for the tenant: both acknowledged
  // beacons, once each, and the refused one only if its publish did land after all (it was never promised).
  const published = await publishedValues()
  expect(published).toEqual(expect.arrayContaining([1, 3]))
  await expect.poll(storedValues, { timeout: 20_000, interval: 200 }).toEqual(published)
  // And still exactly that once storage holds nothing and JetStream has nothing left for it.
  await expect
    .poll(async () => {
      const { storage } = (await stack.request('GET', '/api/v2/health', undefined)).body
      return [storage.ok, storage.lag.undelivered, storage.lag.unacknowledged, storage.held.messages]
    }, { timeout: 15_000, interval: 200 })
    .toEqual([true, 0, 0, 0])
  expect(await storedValues()).toEqual(await publishedValues())
  const [rollup] = await stack.tidemark.runtime.store!.rows<{ n: string }>("SELECT sum(count) AS n FROM tidemark.samples_1m WHERE tenant = {t:String} AND metric != 'anomaly_score'", { t: tenant.id })
  expect(Number(rollup?.n)).toBe(published.length)
})

/** The tenant's sample values in the stream, sorted (not the engine's anomaly scores, which share the stream on tm.beacons.scores.<p>). */
async function publishedValues(): Promise<number[]> {
  const jsm = await jetstreamManager(stack.tidemark.runtime.nc)
  const { first_seq, last_seq } = (await jsm.streams.info(BEACONS_STREAM)).state
  const values: number[] = []
  for (let seq = first_seq; seq <= last_seq; seq++) {
    const stored = await jsm.streams.getMessage(BEACONS_STREAM, { seq })
    for (const s of stored ? decodeBatch(stored.data) : []) if (s[SampleField.Tenant] === tenant.id && s[SampleField.Metric] !== 'anomaly_score') values.push(s[SampleField.Value])
  }
  return values.sort()
}

/** The tenant's stored sample values, one per row, sorted: a duplicate shows. */
async function storedValues(): Promise<number[]> {
  const rows = await stack.tidemark.runtime.store!.rows<{ v: number }>("SELECT value AS v FROM tidemark.samples WHERE tenant = {t:String} AND metric != 'anomaly_score'", { t: tenant.id })
  return rows.map((r) => Number(r.v)).sort()
}
