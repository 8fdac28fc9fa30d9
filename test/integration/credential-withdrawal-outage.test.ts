// A withdrawal is still seen within a second after NATS went away and came
// back without the consumer the watch on token keys ran on (the server drops
// an ordered consumer idle for 5 minutes, so a long outage loses it): the
// client would notice only by two missed 30 s heartbeats, so each reconnect
// starts the watch afresh and empties the cache. Without that, this test sees
// the old token accepted for as long as it looks (measured: > 5 s).
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { SupervisedNatsServer, type CreatedTenant } from '../../engine/index.ts'
import { ADMIN_TOKEN, startStack, tempDir, type Stack } from '../helpers/stack.ts'

const storeDir = tempDir('nats-creds-outage')
let nats: SupervisedNatsServer
let stack: Stack
let tenant: CreatedTenant

beforeAll(async () => {
  nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir })
  stack = await startStack({ logLevel: 'fatal' }, { nats })
  tenant = await stack.createTenant('outage')
})
afterAll(async () => {
  await stack?.stop()
  await nats?.stop()
  fs.rmSync(storeDir, { recursive: true, force: true })
})

const write = (token: string) => stack.request('POST', '/api/v2/analytics/metrics', token, { page_views: 1 })

it('refuses a token rotated after a NATS restart within a second', async () => {
  expect((await write(tenant.ingestToken)).status).toBe(200)
  await nats.stop()
  // What an outage longer than the consumers' inactivity threshold leaves: the stream without them.
  const consumers = path.join(storeDir, 'jetstream', '$G', 'streams', 'KV_tm_tenants', 'obs')
  expect(fs.readdirSync(consumers).length).toBeGreaterThan(0)
  fs.rmSync(consumers, { recursive: true, force: true })
  nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir, port: nats.port })
  await expect.poll(async () => (await write(tenant.ingestToken)).status, { timeout: 15_000, interval: 100 }).toBe(200)

  const rotated = await stack.request('POST', `/api/v2/tenants/${tenant.id}/rotate`, ADMIN_TOKEN, { credential: 'ingestToken' })
  const since = Date.now()
  expect(rotated.status).toBe(200)
  let status = (await write(tenant.ingestToken)).status
  while (status !== 401 && Date.now() - since < 5000) {
    await new Promise((resolve) => setTimeout(resolve, 10))
    status = (await write(tenant.ingestToken)).status
  }
  const delay = Date.now() - since
  console.log(`after a NATS restart, the rotated token was refused after ${delay} ms`)
  expect(status).toBe(401)
  expect(delay).toBeLessThan(1000)
  expect((await write(rotated.body.ingestToken)).status).toBe(200)
})
