// Each tier runs as its own NATS user with the least permissions of
// nats-permissions.ts, against a real nats-server: the whole path (tenant
// created through the query tier's admin route, beacons posted to ingest,
// stored by the engine, read back by query) works without one permission
// violation in the server's log, and each user is refused what its role must
// not do.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { BEACONS_STREAM, STORAGE_CONSUMER, SupervisedNatsServer, type CreatedTenant } from '../../engine/index.ts'
import { ADMIN_TOKEN, connectAs, startStack, tempDir, type Stack } from '../helpers/stack.ts'

const serverLog: string[] = []
let nats: SupervisedNatsServer
const stacks: Stack[] = []
const clients: NatsConnection[] = []

beforeAll(async () => {
  nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir: tempDir('nats-perm'), onLog: (line) => serverLog.push(line) })
  // Started together: ingest and query wait for the engine to create the streams (they may not).
  const [ingest, engine, query] = await Promise.all([
    startStack({}, { nats, natsUser: 'ingest', roles: ['ingest'] }),
    startStack({}, { nats, natsUser: 'engine', roles: ['engine'] }),
    startStack({}, { nats, natsUser: 'query', roles: ['query'] }),
  ])
  stacks.push(ingest, engine, query)
})

afterAll(async () => {
  for (const nc of clients) await nc.close()
  for (const stack of stacks.reverse()) await stack.stop()
  await nats?.stop()
})

async function clientAs(user: 'ingest' | 'engine' | 'query'): Promise<NatsConnection> {
  const nc = await connectAs(nats, user, { inboxPrefix: `_INBOX.${user}` })
  clients.push(nc)
  return nc
}

/** Violation lines the server logged from the given line on (the refusal tests cause some on purpose). */
const violations = (from = 0) => serverLog.slice(from).filter((line) => /violation/i.test(line))

it('runs the whole path with one least-privileged user per tier and no permission violation', async () => {
  const [ingest, engine, query] = stacks as [Stack, Stack, Stack]
  const created = await query.request('POST', '/api/v2/tenants', ADMIN_TOKEN, { name: 'least' })
  expect(created.status).toBe(201)
  const tenant = created.body as CreatedTenant
  expect((await query.request('GET', '/api/v2/tenants', ADMIN_TOKEN)).body.tenants.map((t: { name: string }) => t.name)).toEqual(['least'])

  const posted = await ingest.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, [{ cpu_usage: 85 }, { cpu_usage: 70 }, { cpu_usage: 60 }])
  expect(posted.status).toBe(200)
  // A keyed request uses the idempotency bucket, which the engine created and ingest may only read and write.
  const keyed = await fetch(`${ingest.url}/api/v2/analytics/metrics`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.ingestToken}`, 'content-type': 'application/json', 'idempotency-key': 'least-1' },
    body: JSON.stringify({ cpu_usage: 50 }),
  })
  expect(keyed.status).toBe(200)
  expect(await engine.waitForRows(tenant.id, 4, 15_000)).toBe(4)
  const read = await query.request('GET', '/api/v2/analytics/aggregate?metric=cpu_usage&step=60', tenant.apiKey)
  expect(read.body.total).toMatchObject({ count: 4, sum: 265 })
  // The rules API on the query user: tm_rules read, written, and watched.
  const rules = { groups: [{ name: 'mine', rules: [{ alert: 'HighCpuUsage', expr: 'cpu_usage > 95', for: '1m' }] }] }
  expect((await query.request('PUT', '/api/v2/rules', tenant.apiKey, rules)).status).toBe(200)
  await expect
    .poll(async () => JSON.stringify((await query.request('GET', '/api/v2/rules', tenant.apiKey)).body))
    .toContain('cpu_usage > 95')
  for (const stack of stacks) expect((await stack.request('GET', '/api/v2/health', undefined)).status).toBe(200)
  expect(violations()).toEqual([])
})

it('refuses the ingest user a tenant write, the storage consumer, and other tiers\' deliveries', async () => {
  const nc = await clientAs('ingest')
  const tenants = await new Kvm(nc).open('tm_tenants', { allow_direct: true })
  await expect(tenants.put('token.forged', JSON.stringify({ tenantId: 't_forged', role: 'ingest' }))).rejects.toThrow(/permissions violation/i)
  // It reads tenants (that is how it resolves ingest tokens) …
  expect(await tenants.get('token.forged')).toBeNull()
  // … but cannot fetch from the storage consumer, nor read its state.
  await expect(jetstream(nc).consumers.get(BEACONS_STREAM, STORAGE_CONSUMER)).rejects.toThrow(/permissions violation/i)
  await expect(nc.request(`$JS.API.CONSUMER.MSG.NEXT.${BEACONS_STREAM}.${STORAGE_CONSUMER}`, '{"batch":1}')).rejects.toThrow(/permissions violation/i)
  // Nor listen to beacons in flight, nor to the engine's inboxes (where storage's deliveries arrive).
  for (const subject of ['tm.beacons.>', '_INBOX.engine.>', '_INBOX.>']) {
    const sub = nc.subscribe(subject)
    await expect(sub.closed).resolves.toMatchObject({ message: expect.stringMatching(/permissions violation for subscription/i) })
  }
  // The server logs each refusal: the log the other tests read would show a missing permission.
  expect(violations().some((line) => line.includes('User "ingest"') || line.includes('Subscription Violation'))).toBe(true)
})

it('refuses the engine user a tenant write, and the query user a beacon publish', async () => {
  const engine = await clientAs('engine')
  const tenants = await new Kvm(engine).open('tm_tenants', { allow_direct: true })
  await expect(tenants.put('token.forged', '{}')).rejects.toThrow(/permissions violation/i)
  const query = await clientAs('query')
  await expect(jetstream(query).publish('tm.beacons.0', new Uint8Array([1]))).rejects.toThrow(/permissions violation/i)
  // Neither may change the stream layout but the engine: query has no stream API beyond reading info.
  const jsm = await jetstreamManager(query, { checkAPI: false })
  await expect(jsm.streams.update(BEACONS_STREAM, { num_replicas: 1, subjects: ['tm.beacons.>'] })).rejects.toThrow(/permissions violation/i)
})

it('lets the query user list a bucket long enough to need flow control', async () => {
  // Without $JS.FC the listing stalled after about 13,000 of 20,000 keys (measured on nats-server 2.9.10).
  const admin = await connectAs(nats)
  clients.push(admin)
  const bucket = await new Kvm(admin).open('tm_tenants', { allow_direct: true })
  const keys = 20_000
  // A thousand in flight at a time: all 20,000 at once outran the 5 s request timeout on a busy box (CI, once).
  for (let from = 0; from < keys; from += 1000) await Promise.all(Array.from({ length: 1000 }, (_, i) => bucket.put(`bulk.k${from + i}`, 'x')))
  const query = await clientAs('query')
  const from = serverLog.length
  const listed = await new Kvm(query).open('tm_tenants', { allow_direct: true })
  let count = 0
  for await (const _key of await listed.keys('bulk.*')) count++
  expect(count).toBe(keys)
  expect(violations(from)).toEqual([])
})
