// Credentials can be withdrawn, seen from the attacker's side: ingest, engine
// and two query tiers run as separate stacks sharing one nats-server, each as
// its least-privileged NATS user. A credential rotated or a tenant deleted
// through one query tier's admin route is refused by every other tier within
// a second (measured), though each had the old token cached; the new token
// works; a tenant's own tokens can never rotate or delete anything; and the
// server logs no permission violation for the ingest user's watch.
import fs from 'node:fs'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { Kvm } from '@nats-io/kv'
import { sha256Hex, SupervisedNatsServer } from '../../engine/index.ts'
import { tenantCommand } from '../../cli/nats-commands.ts'
import { ADMIN_TOKEN, connectAs, startStack, tempDir, type Stack } from '../helpers/stack.ts'

const serverLog: string[] = []
const storeDir = tempDir('nats-creds')
let nats: SupervisedNatsServer
let ingest: Stack
let admin: Stack
let reader: Stack
const stacks: Stack[] = []
/** Each withdrawal's delay until the last tier refused the old token, for the report. */
const measured: Record<string, number> = {}

beforeAll(async () => {
  nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir, onLog: (line) => serverLog.push(line) })
  const started = await Promise.all([
    startStack({}, { nats, natsUser: 'ingest', roles: ['ingest'] }),
    startStack({}, { nats, natsUser: 'engine', roles: ['engine'] }),
    startStack({}, { nats, natsUser: 'query', roles: ['query'] }),
    startStack({}, { nats, natsUser: 'query', roles: ['query'] }),
  ])
  stacks.push(...started)
  ;[ingest, , admin, reader] = started as [Stack, Stack, Stack, Stack]
}, 60_000)

afterAll(async () => {
  for (const stack of stacks.reverse()) await stack.stop()
  await nats?.stop()
  fs.rmSync(storeDir, { recursive: true, force: true })
  console.log(`withdrawal delays (ms, until every tier refused the old token): ${JSON.stringify(measured)}`)
})

const violations = () => serverLog.filter((line) => /violation/i.test(line))
const write = (token: string, value = 1) => ingest.request('POST', '/api/v2/analytics/metrics', token, { page_views: value })
const read = (stack: Stack, token: string) => stack.request('GET', '/api/v2/analytics/metric-names', token)
const rotate = (id: string, credential: string, token = ADMIN_TOKEN) => admin.request('POST', `/api/v2/tenants/${id}/rotate`, token, { credential })

/** Polls until every check answers 401, and returns how long that took from `since`; fails past the deadline. */
async function refusedWithin(label: string, since: number, checks: Array<() => Promise<{ status: number }>>, deadlineMs = 1000): Promise<number> {
  const pending = new Set(checks)
  // Generous against the box's load: the 1 s promise is checked on the measured delay below, not on this wait.
  while (pending.size > 0 && Date.now() - since < deadlineMs * 5) {
    for (const check of [...pending]) if ((await check()).status === 401) pending.delete(check)
    if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const delay = Date.now() - since
  measured[label] = delay
  expect(pending.size, `${label}: still accepted after ${delay} ms`).toBe(0)
  expect(delay, `${label}: refused after ${delay} ms`).toBeLessThan(deadlineMs)
  return delay
}

it('refuses a rotated ingestToken on the ingest tier within a second, and takes the new one', async () => {
  const tenant = await admin.createTenant('rotate-ingest')
  // Cached by the ingest tier: before this change it would have been accepted for as long as the process ran.
  expect((await write(tenant.ingestToken)).status).toBe(200)
  expect((await write(tenant.ingestToken)).status).toBe(200)

  const rotated = await rotate(tenant.id, 'ingestToken')
  const since = Date.now()
  expect(rotated.status).toBe(200)
  expect(rotated.body).toEqual({ id: tenant.id, ingestToken: expect.stringMatching(/^tmi_/) })
  await refusedWithin('ingestToken rotation', since, [() => write(tenant.ingestToken)])

  const fresh = rotated.body.ingestToken as string
  expect((await write(fresh, 2)).status).toBe(200)
  // The other credential is untouched.
  expect((await read(reader, tenant.apiKey)).status).toBe(200)
  // Rotating again withdraws the token the first rotation gave.
  const again = await rotate(tenant.id, 'ingestToken')
  await refusedWithin('second ingestToken rotation', Date.now(), [() => write(fresh)])
  expect((await write(again.body.ingestToken)).status).toBe(200)
})

it('refuses a rotated apiKey on every query tier within a second, and takes the new one', async () => {
  const tenant = await admin.createTenant('rotate-read')
  expect((await read(reader, tenant.apiKey)).status).toBe(200)
  expect((await read(admin, tenant.apiKey)).status).toBe(200)

  const rotated = await rotate(tenant.id, 'apiKey')
  const since = Date.now()
  expect(rotated.status).toBe(200)
  expect(rotated.body).toEqual({ id: tenant.id, apiKey: expect.stringMatching(/^tmk_/) })
  await refusedWithin('apiKey rotation', since, [() => read(reader, tenant.apiKey), () => read(admin, tenant.apiKey)])

  expect((await read(reader, rotated.body.apiKey)).status).toBe(200)
  expect((await write(tenant.ingestToken)).status).toBe(200)
})

it('refuses a deleted tenant\'s tokens everywhere within a second, frees its name, and keeps its data from the next holder', async () => {
  const tenant = await admin.createTenant('doomed')
  expect((await write(tenant.ingestToken, 7)).status).toBe(200)
  expect((await read(reader, tenant.apiKey)).status).toBe(200)

  const deleted = await admin.request('DELETE', `/api/v2/tenants/${tenant.id}`, ADMIN_TOKEN)
  const since = Date.now()
  expect(deleted.status).toBe(200)
  expect(deleted.body).toMatchObject({ id: tenant.id, name: 'doomed', deleted: true })
  await refusedWithin('tenant delete', since, [() => write(tenant.ingestToken), () => read(reader, tenant.apiKey), () => read(admin, tenant.apiKey)])

  expect((await admin.request('GET', '/api/v2/tenants', ADMIN_TOKEN)).body.tenants.map((t: { name: string }) => t.name)).not.toContain('doomed')
  expect((await admin.request('DELETE', `/api/v2/tenants/${tenant.id}`, ADMIN_TOKEN)).body.code).toBe('TM_ENGINE_TENANT_NOT_FOUND')
  // The name is free again, for a new tenant with a new id: the old one's data stays under the old id, out of its reach.
  const successor = await admin.createTenant('doomed')
  expect(successor.id).not.toBe(tenant.id)
  const names = await reader.request('GET', '/api/v2/analytics/metric-names', successor.apiKey)
  expect(names.status).toBe(200)
  expect(JSON.stringify(names.body)).not.toContain('page_views')
  expect((await write(tenant.ingestToken)).status).toBe(401)
})

it('leaves exactly one working token when rotations of one credential race, and both new ones when different credentials do', async () => {
  const tenant = await admin.createTenant('racing')
  const answers = await Promise.all([rotate(tenant.id, 'apiKey'), rotate(tenant.id, 'apiKey'), rotate(tenant.id, 'apiKey')])
  // A loser either ran after a winner (and so replaced its token: 200) or raced it (409, its own token withdrawn).
  for (const answer of answers) expect([200, 409]).toContain(answer.status)
  for (const answer of answers.filter((a) => a.status === 409)) expect(answer.body.code).toBe('TM_ENGINE_TENANT_CHANGED')
  const given = answers.filter((a) => a.status === 200).map((a) => a.body.apiKey as string)
  expect(given.length).toBeGreaterThan(0)
  await expect.poll(async () => (await Promise.all(given.map(async (key) => (await read(reader, key)).status))).filter((s) => s === 200).length, { timeout: 1000, interval: 20 }).toBe(1)
  expect((await read(reader, tenant.apiKey)).status).toBe(401)

  const [ingestAnswer, readAnswer] = await Promise.all([rotate(tenant.id, 'ingestToken'), rotate(tenant.id, 'apiKey')])
  expect([ingestAnswer.status, readAnswer.status]).toEqual([200, 200])
  expect((await write(ingestAnswer.body.ingestToken)).status).toBe(200)
  expect((await read(reader, readAnswer.body.apiKey)).status).toBe(200)
  await expect.poll(async () => (await write(tenant.ingestToken)).status, { timeout: 1000, interval: 20 }).toBe(401)
})

it('never lets a tenant\'s token rotate, delete or list tenants, its own or another\'s', async () => {
  const a = await admin.createTenant('victim')
  const b = await admin.createTenant('attacker')
  for (const token of [b.apiKey, b.ingestToken, a.apiKey]) {
    for (const [method, route, body] of [
      ['POST', `/api/v2/tenants/${a.id}/rotate`, { credential: 'apiKey' }],
      ['POST', `/api/v2/tenants/${a.id}/rotate`, { credential: 'ingestToken' }],
      ['DELETE', `/api/v2/tenants/${a.id}`, undefined],
      ['GET', '/api/v2/tenants', undefined],
    ] as const) {
      const response = await admin.request(method, route, token, body)
      expect(response.status, `${method} ${route} with a tenant token`).toBe(401)
      expect(response.body.code).toBe('TM_HTTP_UNAUTHORIZED')
    }
  }
  // Nothing changed: A's tokens still work, on every tier.
  expect((await write(a.ingestToken)).status).toBe(200)
  expect((await read(reader, a.apiKey)).status).toBe(200)
  // The ingest tier has no admin routes at all.
  expect((await ingest.request('POST', `/api/v2/tenants/${a.id}/rotate`, ADMIN_TOKEN, { credential: 'apiKey' })).status).toBe(404)
})

it('answers an unknown id 404 with a code, and a bad body 400 naming the field, changing nothing', async () => {
  for (const id of ['t_000000000000', 't_nothere', 'a.b', 'T_0123456789AB', 'token.%3E', '*']) {
    const rotated = await rotate(id, 'apiKey')
    expect(rotated.status, id).toBe(404)
    expect(rotated.body.code).toBe('TM_ENGINE_TENANT_NOT_FOUND')
    const deleted = await admin.request('DELETE', `/api/v2/tenants/${id}`, ADMIN_TOKEN)
    expect(deleted.status, id).toBe(404)
    expect(deleted.body.code).toBe('TM_ENGINE_TENANT_NOT_FOUND')
  }
  const tenant = await admin.createTenant('bad-bodies')
  for (const [body, field] of [
    [{ credential: 'password' }, 'credential'],
    [{ credential: 'read' }, 'credential'],
    [{}, 'credential'],
    [{ credential: 'apiKey', also: 'ingestToken' }, 'also'],
  ] as const) {
    const response = await admin.request('POST', `/api/v2/tenants/${tenant.id}/rotate`, ADMIN_TOKEN, body)
    expect(response.status, JSON.stringify(body)).toBe(400)
    expect(response.body.code).toBe('TM_HTTP_INVALID_REQUEST')
    expect(response.body.fields.map((f: { field: string }) => f.field)).toContain(field)
  }
  const empty = await admin.request('POST', `/api/v2/tenants/${tenant.id}/rotate`, ADMIN_TOKEN)
  expect(empty.status).toBe(400)
  expect((await read(reader, tenant.apiKey)).status).toBe(200)
  expect((await write(tenant.ingestToken)).status).toBe(200)
})

it('rotates and deletes through the CLI as the query user', async () => {
  const tenant = await admin.createTenant('by-cli')
  expect((await write(tenant.ingestToken)).status).toBe(200)
  const printed: string[] = []
  const stdout = process.stdout.write.bind(process.stdout)
  const stderr = process.stderr.write.bind(process.stderr)
  const run = async (args: string[]): Promise<number> => {
    process.stdout.write = ((chunk: string) => printed.push(chunk) > 0) as typeof process.stdout.write
    process.stderr.write = (() => true) as typeof process.stderr.write
    try {
      return await tenantCommand(admin.config, args)
    } finally {
      process.stdout.write = stdout
      process.stderr.write = stderr
    }
  }
  expect(await run(['rotate', tenant.id, 'ingestToken'])).toBe(0)
  const rotated = JSON.parse(printed.pop()!)
  expect(rotated).toEqual({ id: tenant.id, ingestToken: expect.stringMatching(/^tmi_/) })
  await refusedWithin('CLI rotation', Date.now(), [() => write(tenant.ingestToken)])
  expect((await write(rotated.ingestToken)).status).toBe(200)

  expect(await run(['rotate', tenant.id, 'password'])).toBe(2)
  expect(await run(['delete', tenant.id])).toBe(0)
  expect(JSON.parse(printed.pop()!)).toMatchObject({ id: tenant.id, name: 'by-cli', deleted: true })
  await refusedWithin('CLI delete', Date.now(), [() => write(rotated.ingestToken), () => read(reader, tenant.apiKey)])
  await expect(run(['delete', tenant.id])).rejects.toMatchObject({ code: 'TM_ENGINE_TENANT_NOT_FOUND' })
})

it('withdraws the tokens of a tenant created before records named their digests', async () => {
  // Written as the registry of the previous release did: a record without credentials, and the token keys.
  const nc = await connectAs(nats)
  try {
    const kv = await new Kvm(nc).open('tm_tenants', { allow_direct: true })
    const id = 't_0123456789ab'
    const ingestToken = 'tmi_legacy-ingest-token-000000000000'
    const apiKey = 'tmk_legacy-api-key-0000000000000000000'
    await kv.create('name.legacy', JSON.stringify({ id }))
    await kv.put(`tenant.${id}`, JSON.stringify({ id, name: 'legacy', createdAt: new Date().toISOString() }))
    await kv.put(`token.${sha256Hex(ingestToken)}`, JSON.stringify({ tenantId: id, role: 'ingest' }))
    await kv.put(`token.${sha256Hex(apiKey)}`, JSON.stringify({ tenantId: id, role: 'read' }))
    expect((await write(ingestToken)).status).toBe(200)
    expect((await read(reader, apiKey)).status).toBe(200)

    const rotated = await rotate(id, 'ingestToken')
    expect(rotated.status).toBe(200)
    await refusedWithin('legacy rotation', Date.now(), [() => write(ingestToken)])
    expect((await read(reader, apiKey)).status).toBe(200)
    expect((await write(rotated.body.ingestToken)).status).toBe(200)
    expect((await admin.request('DELETE', `/api/v2/tenants/${id}`, ADMIN_TOKEN)).status).toBe(200)
    await refusedWithin('legacy delete', Date.now(), [() => read(reader, apiKey), () => write(rotated.body.ingestToken)])
  } finally {
    await nc.close()
  }
})

it('logged no permission violation: the ingest user follows token withdrawals with what nats-permissions.ts gives it', () => {
  expect(violations()).toEqual([])
})


it('holds the ingest user to the token keys: it may not watch or list tenant records or names', async () => {
  const nc = await connectAs(nats, 'ingest')
  try {
    const kv = await new Kvm(nc).open('tm_tenants', { allow_direct: true })
    const watch = await kv.watch({ key: 'token.>', include: 'updates' })
    watch.stop()
    for (const key of ['tenant.>', 'name.>', '>']) {
      await expect(kv.watch({ key }), key).rejects.toThrow(/permissions violation/i)
    }
    await expect(kv.keys('tenant.*')).rejects.toThrow(/permissions violation/i)
    await expect(kv.put('token.forged', JSON.stringify({ tenantId: 't_forged', role: 'ingest' }))).rejects.toThrow(/permissions violation/i)
  } finally {
    await nc.close()
  }
})
