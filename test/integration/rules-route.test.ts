// The rules API over real HTTP, real tenants and a real rules bucket, from the user's side and the
// attacker's: tenant B can neither read nor change A's rules, whatever it puts in the body, the URL
// or the headers, and an ingestToken or the admin token is no key to them.
//
// The query tier gets its RuleStore from the process that composes it (cli/tidemark-app.ts, the
// lead's wiring); until then this test composes the query plugin itself, exactly as that file
// does, over the stack's tenants and ClickHouse.
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createErrorHandler, notFoundHandler, validatorCompiler, type CreatedTenant } from '../../engine/index.ts'
import { ensureRulesBucket, RuleStore } from '../../engine/rules/rule-store.ts'
import { queryPlugin } from '../../query/index.ts'
import { ADMIN_TOKEN, startStack, type Stack } from '../helpers/stack.ts'

let stack: Stack
let app: FastifyInstance
let rules: RuleStore
let engineView: RuleStore
let url: string
let a: CreatedTenant
let b: CreatedTenant

const body = {
  groups: [
    {
      name: 'checkout',
      interval: '15s',
      rules: [
        {
          alert: 'HighCpuUsage',
          expr: 'cpu_usage{service="checkout"} > 90',
          for: '2m',
          labels: { severity: 'page' },
          annotations: { summary: 'CPU {{ $value }}', tidemark_actions: 'add_workers,degrade', tidemark_cooldown: '1m' },
        },
      ],
    },
    { name: 'pages', rules: [{ alert: 'SlowPages', expr: 'avg_over_time(load_time[5m]) > 2000' }] },
  ],
}

async function call(method: string, route: string, token: string | undefined, payload?: unknown, headers: Record<string, string> = {}) {
  const h: Record<string, string> = { ...headers }
  if (token) h.authorization = `Bearer ${token}`
  if (payload !== undefined && !h['content-type']) h['content-type'] = 'application/json'
  const response = await fetch(url + route, { method, headers: h, body: payload === undefined ? undefined : typeof payload === 'string' ? payload : JSON.stringify(payload) })
  const text = await response.text()
  let parsed: any = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // keep the text
  }
  return { status: response.status, body: parsed }
}

beforeAll(async () => {
  stack = await startStack()
  const { runtime } = stack.tidemark
  const kv = await ensureRulesBucket(runtime.nc, 1)
  rules = await RuleStore.open({ kv })
  engineView = await RuleStore.open({ kv })
  app = Fastify()
  app.setValidatorCompiler(validatorCompiler)
  app.setErrorHandler(createErrorHandler())
  app.setNotFoundHandler(notFoundHandler)
  app.decorateRequest('principal', null)
  const options = { tenants: runtime.tenants, store: runtime.store!, adminToken: ADMIN_TOKEN, rules }
  await app.register(async (scope) => queryPlugin(scope, options))
  await app.listen({ port: 0, host: '127.0.0.1' })
  url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  a = await stack.createTenant('rules-a')
  b = await stack.createTenant('rules-b')
})

afterAll(async () => {
  await app?.close()
  await rules?.close()
  await engineView?.close()
  await stack?.stop()
})

describe('a tenant with its apiKey', () => {
  it('reads the defaults before it has rules of its own', async () => {
    const res = await call('GET', '/api/v2/rules', a.apiKey)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ revision: null, own: null, sources: { 'tidemark-defaults': 'default' }, overrides: [] })
    expect(res.body.groups[0].rules.map((r: { alert: string }) => r.alert)).toEqual(['HighResponseTime', 'HighCpuUsage', 'HighMemoryUsage'])
  })

  it('replaces its rules with PUT and gets the effective rules back, each group marked with its source', async () => {
    const res = await call('PUT', '/api/v2/rules', a.apiKey, body)
    expect(res.status).toBe(200)
    expect(res.body.sources).toEqual({ 'tidemark-defaults': 'default', checkout: 'tenant', pages: 'tenant' })
    expect(res.body.overrides).toEqual([{ alert: 'HighCpuUsage', by: 'tenant', replaced: 'default', group: 'tidemark-defaults' }])
    expect(res.body.own).toEqual(body)
    expect(res.body.revision).toBeGreaterThan(0)
    // What GET returns as `own` is what PUT takes: a round trip changes nothing but the revision.
    const again = await call('PUT', '/api/v2/rules', a.apiKey, (await call('GET', '/api/v2/rules', a.apiKey)).body.own)
    expect(again.status).toBe(200)
    expect(again.body.own).toEqual(body)
    // The engine's view (another store on the bucket) has it, ladder settings included.
    await waitFor(() => engineView.rulesOf(a.id).revision === again.body.revision)
    const cpu = engineView.rulesOf(a.id).groups.find((g) => g.name === 'checkout')?.rules[0]
    expect(cpu?.ladder).toEqual({ actions: ['add_workers', 'degrade'], cooldownMs: 60_000, stepDownAfterMs: 300_000 })
  })

  it('gets 400 naming every problem for an invalid file, and nothing changes', async () => {
    const before = (await call('GET', '/api/v2/rules', a.apiKey)).body
    const res = await call('PUT', '/api/v2/rules', a.apiKey, {
      groups: [
        { name: 'x', rules: [{ alert: 'A', expr: 'rate(requests_total[5m]) > 10' }, { alert: 'B', expr: 'b > 1', annotations: { tidemark_cooldown: 'often' } }] },
        { name: 'x', interval: 'weekly', rules: [] },
      ],
    })
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('TM_ENGINE_RULE_INVALID')
    expect(res.body.fields).toEqual([
      { field: 'groups[0].rules[0].expr', problem: expect.stringContaining('rate() is not supported') },
      { field: 'groups[0].rules[1].annotations.tidemark_cooldown', problem: expect.stringContaining('"often" is not a duration') },
      { field: 'groups[1].name', problem: expect.stringContaining('repeated') },
      { field: 'groups[1].interval', problem: expect.stringContaining('not a duration') },
    ])
    expect((await call('GET', '/api/v2/rules', a.apiKey)).body).toEqual(before)
  })

  it('gets clear answers for bodies that are not rule files', async () => {
    expect((await call('PUT', '/api/v2/rules', a.apiKey, '{"groups": [')).body.code).toBe('TM_HTTP_INVALID_JSON')
    expect((await call('PUT', '/api/v2/rules', a.apiKey, 'groups: []', { 'content-type': 'application/yaml' })).status).toBe(415)
    const notFile = await call('PUT', '/api/v2/rules', a.apiKey, [1, 2])
    expect(notFile.status).toBe(400)
    expect(notFile.body.code).toBe('TM_ENGINE_RULE_INVALID')
    const huge = { groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'x > 1', annotations: { text: 'x'.repeat(300 * 1024) } }] }] }
    expect((await call('PUT', '/api/v2/rules', a.apiKey, huge)).status).toBe(413)
  })

  it('deletes one group of its own, gets 404 for one it does not have or cannot delete, and DELETE goes back to the defaults', async () => {
    await call('PUT', '/api/v2/rules', a.apiKey, { groups: [...body.groups, { name: 'odd name / with ?', rules: [{ alert: 'Odd', expr: 'odd > 1' }] }] })
    const removed = await call('DELETE', `/api/v2/rules/${encodeURIComponent('odd name / with ?')}`, a.apiKey)
    expect(removed.status).toBe(200)
    expect(removed.body.own.groups.map((g: { name: string }) => g.name)).toEqual(['checkout', 'pages'])
    const missing = await call('DELETE', '/api/v2/rules/nope', a.apiKey)
    expect(missing).toMatchObject({ status: 404, body: { code: 'TM_ENGINE_RULE_GROUP_NOT_FOUND' } })
    const defaults = await call('DELETE', '/api/v2/rules/tidemark-defaults', a.apiKey)
    expect(defaults.body.message).toContain('comes from the defaults')
    const cleared = await call('DELETE', '/api/v2/rules', a.apiKey)
    expect(cleared.status).toBe(200)
    expect(cleared.body).toMatchObject({ own: null, revision: null, sources: { 'tidemark-defaults': 'default' } })
    await call('PUT', '/api/v2/rules', a.apiKey, body)
  })
})

describe('the attacker, tenant B', () => {
  const aGroups = async () => (await call('GET', '/api/v2/rules', a.apiKey)).body.own.groups.map((g: { name: string }) => g.name)

  it('reads only its own rules, whatever it names', async () => {
    expect(await aGroups()).toEqual(['checkout', 'pages'])
    const plain = await call('GET', '/api/v2/rules', b.apiKey)
    expect(plain.body.own).toBeNull()
    expect(JSON.stringify(plain.body)).not.toContain('checkout')
    // A tenant in the query string is refused rather than ignored; one in a header changes nothing.
    const query = await call('GET', `/api/v2/rules?tenant=${a.id}`, b.apiKey)
    expect(query.status).toBe(400)
    expect(query.body.fields).toEqual([{ field: 'tenant', problem: 'is not allowed here' }])
    for (const header of ['x-tenant', 'x-tenant-id', 'tenant']) {
      const res = await call('GET', '/api/v2/rules', b.apiKey, undefined, { [header]: a.id })
      expect(JSON.stringify(res.body), header).not.toContain('checkout')
    }
    // No route takes a tenant in its path.
    expect((await call('GET', `/api/v2/rules/${a.id}`, b.apiKey)).status).toBe(404)
    expect((await call('GET', `/api/v2/tenants/${a.id}/rules`, b.apiKey)).status).toBe(404)
  })

  it('cannot change or delete A\'s rules through the body, the URL or a group name', async () => {
    const withTenant = await call('PUT', '/api/v2/rules', b.apiKey, { tenant: a.id, groups: [] })
    expect(withTenant.status).toBe(400)
    expect(withTenant.body.fields).toEqual([{ field: 'tenant', problem: expect.stringContaining('is not a field') }])
    expect((await call('PUT', `/api/v2/rules?tenant=${a.id}`, b.apiKey, { groups: [] })).status).toBe(400)
    expect((await call('DELETE', `/api/v2/rules?tenant=${a.id}`, b.apiKey)).status).toBe(400)
    expect((await call('DELETE', '/api/v2/rules/checkout', b.apiKey)).status).toBe(404)
    expect((await call('DELETE', `/api/v2/rules/${encodeURIComponent(`../${a.id}`)}`, b.apiKey)).status).toBe(404)
    // B's own writes land on B alone.
    expect((await call('PUT', '/api/v2/rules', b.apiKey, { groups: [{ name: 'checkout', rules: [{ alert: 'Mine', expr: 'x > 1' }] }] })).status).toBe(200)
    expect((await call('DELETE', '/api/v2/rules', b.apiKey)).status).toBe(200)
    expect(await aGroups()).toEqual(['checkout', 'pages'])
    expect(rules.rulesOf(a.id).own?.groups.map((g) => g.name)).toEqual(['checkout', 'pages'])
  })

  it('gets 403 with an ingestToken and 401 with no token, a wrong one, or the admin token', async () => {
    for (const [method, route] of [
      ['GET', '/api/v2/rules'],
      ['PUT', '/api/v2/rules'],
      ['DELETE', '/api/v2/rules'],
      ['DELETE', '/api/v2/rules/checkout'],
    ] as const) {
      const payload = method === 'PUT' ? { groups: [] } : undefined
      expect((await call(method, route, a.ingestToken, payload)).body.code, `${method} ${route}`).toBe('TM_HTTP_FORBIDDEN')
      expect((await call(method, route, undefined, payload)).status).toBe(401)
      expect((await call(method, route, 'tmk_not-a-real-key-at-all', payload)).status).toBe(401)
      expect((await call(method, route, ADMIN_TOKEN, payload)).status).toBe(401)
    }
    expect(await aGroups()).toEqual(['checkout', 'pages'])
  })
})

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
