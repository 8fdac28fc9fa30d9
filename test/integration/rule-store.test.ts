// The rule store on a real nats-server: tenant rule files in the tm_rules bucket, layered over the
// defaults and the operator's file; another process sees a change within a second; invalid rules
// change nothing; a concurrent group delete never loses another process's write.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import type { NatsConnection } from '@nats-io/transport-node'
import type { KV } from '@nats-io/kv'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SupervisedNatsServer } from '../../engine/index.ts'
import { ensureRulesBucket, RULES_BUCKET, RuleStore } from '../../engine/rules/rule-store.ts'
import { connectAs, natsEnv, startNats, tempDir } from '../helpers/stack.ts'

let nats: SupervisedNatsServer
let nc: NatsConnection
let kv: KV
const stores: RuleStore[] = []
const children: ChildProcess[] = []
const dir = tempDir('rules')

const fileRules = path.join(dir, 'operator.rules.yml')
fs.writeFileSync(
  fileRules,
  `groups:
  - name: operator
    interval: 30s
    rules:
      - alert: HighCpuUsage
        expr: cpu_usage > 70
        for: 2m
      - alert: DiskFull
        expr: disk_usage > 95
`
)

const tenantBody = {
  groups: [
    {
      name: 'web',
      interval: '15s',
      rules: [
        { alert: 'HighCpuUsage', expr: 'cpu_usage{host=~"web-.*"} > 90', for: '1m' },
        { alert: 'SlowPages', expr: 'avg_over_time(load_time[5m]) > 2000', annotations: { tidemark_actions: 'expand_cache', tidemark_cooldown: '1m' } },
      ],
    },
    { name: 'batch', rules: [{ alert: 'QueueBacklog', expr: 'queue_depth > 1000' }] },
  ],
}

async function open(file?: string): Promise<RuleStore> {
  const store = await RuleStore.open({ kv, file })
  stores.push(store)
  return store
}

const alertsOf = (store: RuleStore, tenant: string) => store.rulesOf(tenant).groups.flatMap((g) => g.rules.map((r) => `${g.name}/${r.name}`))

beforeAll(async () => {
  nats = await startNats()
  nc = await connectAs(nats)
  kv = await ensureRulesBucket(nc, 1)
})

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL')
  for (const store of stores) await store.close()
  await nc?.close()
  await nats?.stop()
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('layers', () => {
  it('gives every tenant the defaults until it sets rules of its own', async () => {
    const store = await open()
    const rules = store.rulesOf('t_fresh')
    expect(rules).toMatchObject({ revision: null, own: null, updatedAt: null })
    expect(alertsOf(store, 't_fresh')).toEqual(['tidemark-defaults/HighResponseTime', 'tidemark-defaults/HighCpuUsage', 'tidemark-defaults/HighMemoryUsage'])
    // Compiled once, not per call (the engine asks on its hot path): shared by every tenant without rules,
    // and the same object for a tenant until its rules change, so identity says "changed".
    expect(store.rulesOf('t_fresh').groups).toBe(store.rulesOf('t_another').groups)
    await store.put('t_own', { groups: [] })
    const own = store.rulesOf('t_own').groups
    expect(store.rulesOf('t_own').groups).toBe(own)
    await store.put('t_own', { groups: [{ name: 'g', rules: [{ alert: 'X', expr: 'x > 1' }] }] })
    expect(store.rulesOf('t_own').groups).not.toBe(own)
  })

  it('puts the operator file over the defaults and the tenant over both, by alert name', async () => {
    const store = await open(fileRules)
    expect(alertsOf(store, 't_layers')).toEqual(['tidemark-defaults/HighResponseTime', 'tidemark-defaults/HighMemoryUsage', 'operator/HighCpuUsage', 'operator/DiskFull'])
    const rules = await store.put('t_layers', tenantBody)
    expect(alertsOf(store, 't_layers')).toEqual([
      'tidemark-defaults/HighResponseTime',
      'tidemark-defaults/HighMemoryUsage',
      'operator/DiskFull',
      'web/HighCpuUsage',
      'web/SlowPages',
      'batch/QueueBacklog',
    ])
    expect(Object.fromEntries(rules.layered.groups.map((g) => [g.spec.name, g.source]))).toEqual({ 'tidemark-defaults': 'default', operator: 'file', web: 'tenant', batch: 'tenant' })
    expect(rules.layered.overrides).toEqual([
      { alert: 'HighCpuUsage', by: 'tenant', replaced: 'default', group: 'tidemark-defaults' },
      { alert: 'HighCpuUsage', by: 'tenant', replaced: 'file', group: 'operator' },
    ])
    const cpu = rules.groups.find((g) => g.name === 'web')?.rules[0]
    expect(cpu).toMatchObject({ exprText: 'cpu_usage{host=~"web-.*"} > 90', forMs: 60_000 })
    expect(rules.groups.find((g) => g.name === 'web')?.rules[1]?.ladder).toEqual({ actions: ['expand_cache'], cooldownMs: 60_000, stepDownAfterMs: 300_000 })
    // Other tenants are untouched.
    expect(alertsOf(store, 't_other')).toContain('operator/HighCpuUsage')
  })

  it('keeps group names unique when a tenant reuses a name from a lower layer', async () => {
    const store = await open(fileRules)
    await store.put('t_names', { groups: [{ name: 'operator', rules: [{ alert: 'Mine', expr: 'x > 1' }] }, { name: 'tidemark-defaults', rules: [{ alert: 'Mine2', expr: 'y > 1' }] }] })
    expect(store.rulesOf('t_names').groups.map((g) => g.name)).toEqual(['tidemark-defaults', 'operator', 'operator (tenant)', 'tidemark-defaults (tenant)'])
  })

  it('refuses to open with an invalid operator file, naming it and the field', async () => {
    const bad = path.join(dir, 'bad.rules.yml')
    fs.writeFileSync(bad, 'groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m]) > 1\n')
    await expect(RuleStore.open({ kv, file: bad })).rejects.toMatchObject({
      code: 'TM_ENGINE_RULE_INVALID',
      message: expect.stringContaining(bad),
      fields: [{ field: 'groups[0].rules[0].expr', problem: expect.stringContaining('rate() is not supported') }],
    })
  })
})

describe('writes', () => {
  it('refuses an invalid file, naming every problem, and changes nothing', async () => {
    const store = await open()
    const before = await store.put('t_invalid', tenantBody)
    const attempt = store.put('t_invalid', {
      groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'cpu_usage > ', for: 'soon' }, { alert: 'B', expr: 'x > 1', annotations: { tidemark_actions: 'reboot' } }] }],
    })
    await expect(attempt).rejects.toMatchObject({
      code: 'TM_ENGINE_RULE_INVALID',
      statusCode: 400,
      fields: [
        { field: 'groups[0].rules[0].expr', problem: expect.any(String) },
        { field: 'groups[0].rules[0].for', problem: expect.stringContaining('not a duration') },
        { field: 'groups[0].rules[1].annotations.tidemark_actions', problem: expect.stringContaining('"reboot" is not an action') },
      ],
    })
    expect(store.rulesOf('t_invalid').revision).toBe(before.revision)
    expect((await kv.get('tenant.t_invalid'))?.revision).toBe(before.revision)
  })

  it('refuses more rules than a tenant may have', async () => {
    const store = await open()
    const rules = Array.from({ length: 501 }, (_, i) => ({ alert: `A${i}`, expr: 'x > 1' }))
    await expect(store.put('t_many', { groups: [{ name: 'g', rules }] })).rejects.toMatchObject({ fields: [{ field: 'groups', problem: expect.stringContaining('at most 500') }] })
  })

  it('deletes a group, and says why it cannot delete one from the defaults', async () => {
    const store = await open()
    await store.put('t_groups', tenantBody)
    const after = await store.deleteGroup('t_groups', 'batch')
    expect(after.own?.groups.map((g) => g.name)).toEqual(['web'])
    await expect(store.deleteGroup('t_groups', 'batch')).rejects.toMatchObject({ code: 'TM_ENGINE_RULE_GROUP_NOT_FOUND', statusCode: 404 })
    await expect(store.deleteGroup('t_groups', 'tidemark-defaults')).rejects.toMatchObject({ message: expect.stringContaining('comes from the defaults') })
    const cleared = await store.clear('t_groups')
    expect(cleared).toMatchObject({ own: null, revision: null })
    expect(alertsOf(store, 't_groups')).toHaveLength(3)
  })

  it('loses neither of two group deletes racing from two processes', async () => {
    const [a, b] = [await open(), await open()]
    await a.put('t_race', { groups: ['g1', 'g2', 'g3', 'g4'].map((name) => ({ name, rules: [{ alert: name, expr: 'x > 1' }] })) })
    await Promise.all([a.deleteGroup('t_race', 'g1'), b.deleteGroup('t_race', 'g2'), a.deleteGroup('t_race', 'g3')])
    const stored = (await kv.get('tenant.t_race'))?.json<{ spec: { groups: { name: string }[] } }>()
    expect(stored?.spec.groups.map((g) => g.name)).toEqual(['g4'])
  })

  it('keeps the rules in effect when the bucket is given invalid ones by hand', async () => {
    const store = await open()
    await store.put('t_hand', tenantBody)
    const revision = store.rulesOf('t_hand').revision as number
    await kv.put('tenant.t_hand', JSON.stringify({ spec: { groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'rate(x[1m]) > 1' }] }] }, updatedAt: 'x' }))
    await kv.put('tenant.t_marker', JSON.stringify({ spec: { groups: [] }, updatedAt: 'x' }))
    // The marker comes after the bad value: once it is seen, the bad one was seen (and refused).
    await waitFor(() => store.rulesOf('t_marker').revision !== null)
    expect(store.rulesOf('t_hand').revision).toBe(revision)
    expect(alertsOf(store, 't_hand')).toContain('web/SlowPages')
  })
})

describe('other processes', () => {
  it('loads what is stored when it opens, and sees a PUT and a DELETE made elsewhere within a second', async () => {
    const writer = await open()
    await writer.put('t_before', tenantBody)
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/rules-watcher.ts'], {
      env: { ...process.env, ...natsEnv(nats, 'admin') },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    children.push(child)
    const lines: { at: number; line: any }[] = []
    readline.createInterface({ input: child.stdout! }).on('line', (text) => lines.push({ at: performance.now(), line: JSON.parse(text) }))
    await waitFor(() => lines.some((l) => l.line.ready), 20_000)

    // A second store in this process, opened after the write, loads it too.
    const late = await open()
    expect(late.rulesOf('t_before').revision).toBe(writer.rulesOf('t_before').revision)

    const lags: number[] = []
    for (let i = 0; i < 5; i++) {
      const body = { groups: [{ name: 'g', rules: [{ alert: `Round${i}`, expr: 'x > 1' }] }] }
      const started = performance.now()
      const put = await writer.put('t_live', body)
      await waitFor(() => lines.some((l) => l.line.tenant === 't_live' && l.line.revision === put.revision), 1000)
      lags.push((lines.find((l) => l.line.revision === put.revision) as { at: number }).at - started)
    }
    const last = lines.filter((l) => l.line.tenant === 't_live').at(-1)?.line
    expect(last.alerts).toEqual(['HighResponseTime', 'HighCpuUsage', 'HighMemoryUsage', 'Round4'])
    const started = performance.now()
    await writer.clear('t_live')
    await waitFor(() => lines.some((l) => l.line.tenant === 't_live' && l.line.revision === null), 1000)
    lags.push(performance.now() - started)
    console.log(`another process saw each change ${lags.map((l) => l.toFixed(1)).join(', ')} ms after the write began`)
    expect(Math.max(...lags)).toBeLessThan(1000)
  })

  it('uses a bucket that already exists when asked to ensure it again', async () => {
    const again = await ensureRulesBucket(nc, 1)
    expect((await again.status()).bucket).toBe(RULES_BUCKET)
  })
})

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
