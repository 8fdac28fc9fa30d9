// The NATS permissions rules and triggers need, proven on a real nats-server 2.9 that holds users
// with nothing else: the query role serves the rules API with its own list plus ROLE_RULES_PUBLISH,
// the engine follows the rules and publishes triggers with the list it has today, and an
// autoscaler user of one tenant consumes that tenant's triggers and nothing of another's. Any
// permission violation in the server's log fails the first test; the refusals are the second's.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import readline from 'node:readline'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openBucket } from '../../engine/nats/jetstream-setup.ts'
import { inboxPrefixFor, ROLE_PERMISSIONS, type NatsPermissions } from '../../engine/nats/nats-permissions.ts'
import { ActionLadder } from '../../engine/rules/action-ladder.ts'
import { effectiveRuleGroups } from '../../engine/rules/default-rules.ts'
import { ensureRulesBucket, RULES_BUCKET, RuleStore } from '../../engine/rules/rule-store.ts'
import { toTriggerEvent } from '../../engine/rules/trigger-event.ts'
import { autoscalerNames, autoscalerPermissions, ROLE_RULES_PUBLISH } from '../../engine/rules/trigger-permissions.ts'
import { publishTriggerEvents, TRIGGERS_STREAM, triggersStreamConfig } from '../../engine/rules/trigger-stream.ts'
import { tempDir } from '../helpers/stack.ts'

const A = 't_0000permsa'
const B = 't_0000permsb'
const PASSWORD = 'test-password-0123456789'
const dir = tempDir('trigger-perms')
const serverLog: string[] = []
let server: ChildProcess
let url: string
const clients: NatsConnection[] = []
const stores: RuleStore[] = []
const children: ChildProcess[] = []

const users: Record<string, NatsPermissions | undefined> = {
  admin: undefined,
  query: { publish: [...ROLE_PERMISSIONS.query.publish, ...ROLE_RULES_PUBLISH.query], subscribe: ROLE_PERMISSIONS.query.subscribe },
  // The engine's list as it is: it already covers reading rules and publishing triggers.
  engine: ROLE_PERMISSIONS.engine,
  scaler_a: autoscalerPermissions(A),
  scaler_b: autoscalerPermissions(B),
}

function serverConfig(): string {
  const entry = (user: string, p: NatsPermissions | undefined) =>
    p === undefined
      ? `    { user: ${JSON.stringify(user)}, password: ${JSON.stringify(PASSWORD)} }`
      : `    { user: ${JSON.stringify(user)}, password: ${JSON.stringify(PASSWORD)}, permissions: { publish: { allow: ${JSON.stringify(p.publish)} }, subscribe: { allow: ${JSON.stringify(p.subscribe)} } } }`
  return `authorization {\n  users = [\n${Object.entries(users)
    .map(([u, p]) => entry(u, p))
    .join('\n')}\n  ]\n}\n`
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

async function connectAs(user: string, inboxPrefix?: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url, user, pass: PASSWORD, ...(inboxPrefix ? { inboxPrefix } : {}) })
  clients.push(nc)
  return nc
}

const violations = (from = 0) => serverLog.slice(from).filter((line) => /violation/i.test(line))

beforeAll(async () => {
  const conf = path.join(dir, 'server.conf')
  fs.writeFileSync(conf, serverConfig())
  const port = await freePort()
  url = `nats://127.0.0.1:${port}`
  server = spawn('nats-server', ['-c', conf, '-js', '-a', '127.0.0.1', '-p', String(port), '-sd', path.join(dir, 'store')], { stdio: ['ignore', 'pipe', 'pipe'] })
  for (const stream of [server.stdout!, server.stderr!]) readline.createInterface({ input: stream }).on('line', (line) => serverLog.push(line))
  const deadline = Date.now() + 10_000
  while (!serverLog.some((l) => /Server is ready/.test(l))) {
    if (Date.now() > deadline) throw new Error(`nats-server did not start: ${serverLog.join('\n')}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  // The owner's setup, as the engine (jetstream-setup.ts) will do it.
  const admin = await connectAs('admin')
  await (await jetstreamManager(admin)).streams.add(triggersStreamConfig(1))
  await ensureRulesBucket(admin, 1)
})

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL')
  for (const store of stores) await store.close()
  for (const nc of clients) await nc.close().catch(() => {})
  server?.kill('SIGKILL')
  fs.rmSync(dir, { recursive: true, force: true })
})

it('runs the rules API, the engine\'s rules and triggers, and one tenant\'s autoscaler with these lists alone', async () => {
  // Query: the rules API's store.
  const query = await connectAs('query', inboxPrefixFor(['query']))
  const api = await RuleStore.open({ kv: await openBucket(query, RULES_BUCKET) })
  stores.push(api)
  // Engine: follows every tenant's rules.
  const engine = await connectAs('engine', inboxPrefixFor(['engine']))
  const evaluatorSide = await RuleStore.open({ kv: await openBucket(engine, RULES_BUCKET) })
  stores.push(evaluatorSide)

  const put = await api.put(A, { groups: [{ name: 'g1', rules: [{ alert: 'X', expr: 'x > 1' }] }, { name: 'g2', rules: [{ alert: 'Y', expr: 'y > 1' }] }] })
  await api.deleteGroup(A, 'g2')
  await api.put(B, { groups: [] })
  await api.clear(B)
  await waitFor(() => (evaluatorSide.rulesOf(A).revision ?? 0) > (put.revision ?? 0))
  expect(evaluatorSide.rulesOf(A).own?.groups.map((g) => g.name)).toEqual(['g1'])

  // Engine publishes triggers of both tenants.
  const ladder = new ActionLadder(effectiveRuleGroups(undefined))
  const transition = (tenantHost: string) => ({
    group: 'tidemark-defaults',
    alert: 'HighCpuUsage',
    state: 'firing' as const,
    labels: { alertname: 'HighCpuUsage', host: tenantHost },
    annotations: {},
    value: 90,
    activeAt: 0,
    at: 1_000_000,
  })
  const stepsA = ladder.advance([transition('a')], 1_000_000 + 2 * 60_000).map((e) => toTriggerEvent(A, e))
  const stepsB = new ActionLadder(effectiveRuleGroups(undefined)).advance([transition('b')], 1_000_000).map((e) => toTriggerEvent(B, e))
  await publishTriggerEvents(jetstream(engine), [...stepsA, ...stepsB])

  // Tenant A's autoscaler, as a user with autoscalerPermissions(A) only.
  const names = autoscalerNames(A)
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/autoscaler/autoscaler.ts'], {
    env: { ...process.env, NATS_URL: url, NATS_USER: 'scaler_a', NATS_PASSWORD: PASSWORD, NATS_INBOX_PREFIX: names.inboxPrefix, TENANT: A, DURABLE: names.durable, STATE_FILE: path.join(dir, 'a.json') },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  const lines: any[] = []
  readline.createInterface({ input: child.stdout! }).on('line', (text) => lines.push(JSON.parse(text)))
  await waitFor(() => lines.filter((l) => l.msg === 'applied').length === 2 || lines.some((l) => l.msg === 'fatal'), 20_000)
  expect(lines.filter((l) => l.msg === 'applied').map((l) => [l.step, l.workers])).toEqual([
    [1, 2],
    [2, 3],
  ])
  child.kill('SIGTERM')
  await new Promise((r) => child.once('exit', r))
  expect(violations()).toEqual([])
}, 60_000)

it('refuses tenant B\'s autoscaler anything of tenant A\'s, and the query user a trigger publish', async () => {
  const from = serverLog.length
  const b = await connectAs('scaler_b', autoscalerNames(B).inboxPrefix)
  const jsm = await jetstreamManager(b, { checkAPI: false })
  const own = autoscalerNames(B).durable
  // A consumer filtered on A's subjects, under B's name or A's; an unfiltered one.
  await expect(jsm.consumers.add(TRIGGERS_STREAM, { durable_name: own, filter_subject: `tm.triggers.${A}.>`, ack_policy: AckPolicy.Explicit })).rejects.toThrow(/permissions violation/i)
  await expect(jsm.consumers.add(TRIGGERS_STREAM, { durable_name: autoscalerNames(A).durable, filter_subject: `tm.triggers.${A}.>`, ack_policy: AckPolicy.Explicit })).rejects.toThrow(
    /permissions violation/i
  )
  await expect(jsm.consumers.add(TRIGGERS_STREAM, { durable_name: own, ack_policy: AckPolicy.Explicit })).rejects.toThrow(/permissions violation/i)
  // The create subject B may use, with a config asking for A's subjects: the server checks they agree.
  const forged = await b.request(
    `$JS.API.CONSUMER.CREATE.${TRIGGERS_STREAM}.${own}.tm.triggers.${B}.>`,
    JSON.stringify({ stream_name: TRIGGERS_STREAM, config: { durable_name: own, filter_subject: `tm.triggers.${A}.>`, ack_policy: 'explicit' } })
  )
  expect(forged.json<{ error?: { description: string } }>().error?.description).toMatch(/filter/i)
  // A's consumer's deliveries, and the subjects themselves.
  await expect(b.request(`$JS.API.CONSUMER.MSG.NEXT.${TRIGGERS_STREAM}.${autoscalerNames(A).durable}`, '{"batch":1}')).rejects.toThrow(/permissions violation/i)
  for (const subject of ['tm.triggers.>', `tm.triggers.${A}.>`, `${autoscalerNames(A).inboxPrefix}.>`]) {
    const sub = b.subscribe(subject)
    await expect(sub.closed).resolves.toMatchObject({ message: expect.stringMatching(/permissions violation for subscription/i) })
  }
  // B's own consumer works.
  await jsm.consumers.add(TRIGGERS_STREAM, { durable_name: own, filter_subject: `tm.triggers.${B}.>`, ack_policy: AckPolicy.Explicit })
  const consumer = await jetstream(b, { checkAPI: false }).consumers.get(TRIGGERS_STREAM, own)
  const m = await consumer.next({ expires: 2000 })
  expect(m?.json<{ tenant: string }>().tenant).toBe(B)
  await m?.ackAck()

  const query = await connectAs('query', inboxPrefixFor(['query']))
  await expect(jetstream(query, { checkAPI: false }).publish(`tm.triggers.${A}.Forged`, '{}')).rejects.toThrow(/permissions violation/i)
  expect(violations(from).length).toBeGreaterThan(0)
}, 60_000)

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
