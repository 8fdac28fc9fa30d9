// A small autoscaler acting on Tidemark's trigger events: it follows one
// tenant's `tm.triggers.<tenant>.>` with a durable JetStream consumer and
// keeps a local pool of worker threads at
//     BASE_WORKERS + the sum of the ladder steps of the tenant's active alerts,
// so a firing alert adds a worker per step it climbs (enable_read_replicas,
// expand_cache, add_workers, degrade) and takes them away as it steps down.
//
//   NATS_URL=nats://… TENANT=t_… NATS_USER=… NATS_PASSWORD=… \
//     node --import tsx examples/autoscaler/autoscaler.ts
//
// How it stays right across restarts and redeliveries:
//   - act, write the state file, then ack (ackAck: the server confirmed). A
//     crash before the ack redelivers the event, and acting again is harmless:
//     an event sets an alert's step, it does not add to it;
//   - per alert it keeps the event time of the last event applied, and skips
//     an older one (the same event seen twice past JetStream's duplicate
//     window, say);
//   - the durable consumer remembers what was acked, and the state file what
//     that did: a restart resumes both, and an autoscaler started after the
//     events were published catches up from the stream.
// It depends on the NATS client only (nothing of Tidemark's code), as your own
// autoscaler would; the event's fields are documented in docs/triggers.md.
import fs from 'node:fs'
import { Worker } from 'node:worker_threads'
import { connect, credsAuthenticator, nkeyAuthenticator, type ConnectionOptions } from '@nats-io/transport-node'
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream'

interface TriggerEvent {
  id: string
  tenant: string
  rule: string
  labels: Record<string, string>
  state: string
  change: string
  at: number
  step: number
  previousStep: number
  action: string | null
  ladder: string[]
}

const STREAM = 'TM_TRIGGERS'

function env(name: string, fallback?: string): string {
  const value = process.env[name] || fallback
  if (value === undefined) {
    console.error(`autoscaler: set ${name}`)
    process.exit(2)
  }
  return value
}

const tenant = env('TENANT')
const durable = env('DURABLE', `autoscaler-${tenant}`)
const baseWorkers = Number(env('BASE_WORKERS', '1'))
const stateFile = env('STATE_FILE', `autoscaler-${tenant}.json`)

/** The ways NATS users pass credentials; give at most one. */
function credentials(): Partial<ConnectionOptions> {
  const e = process.env
  if (e.NATS_CREDS) return { authenticator: credsAuthenticator(fs.readFileSync(e.NATS_CREDS)) }
  if (e.NATS_USER) return { user: e.NATS_USER, pass: e.NATS_PASSWORD }
  if (e.NATS_TOKEN) return { token: e.NATS_TOKEN }
  if (e.NATS_NKEY) return { authenticator: nkeyAuthenticator(new TextEncoder().encode(fs.readFileSync(e.NATS_NKEY, 'utf8').trim())) }
  return {}
}

function log(fields: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...fields }) + '\n')
}

/** The worker pool: real threads, each idling until it is given work (here: none). */
class WorkerPool {
  readonly #workers: Worker[] = []

  get size(): number {
    return this.#workers.length
  }

  async resize(target: number): Promise<void> {
    while (this.#workers.length < target) {
      const worker = new Worker('setInterval(() => {}, 1 << 30)', { eval: true })
      await new Promise<void>((resolve, reject) => worker.once('online', resolve).once('error', reject))
      this.#workers.push(worker)
    }
    while (this.#workers.length > target) await (this.#workers.pop() as Worker).terminate()
  }
}

/** Per alert (rule and labels): the step it is at and the event time that set it. */
type Alerts = Record<string, { step: number; at: number; rule: string; action: string | null }>

function loadState(): Alerts {
  try {
    return JSON.parse(fs.readFileSync(stateFile, 'utf8')) as Alerts
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw err
  }
}

function saveState(alerts: Alerts): void {
  const tmp = `${stateFile}.tmp`
  fs.writeFileSync(tmp, JSON.stringify(alerts))
  fs.renameSync(tmp, stateFile)
}

function alertKey(e: TriggerEvent): string {
  return JSON.stringify([e.rule, Object.entries(e.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))])
}

function isTriggerEvent(e: unknown): e is TriggerEvent {
  const t = e as TriggerEvent
  return typeof t === 'object' && t !== null && typeof t.id === 'string' && typeof t.rule === 'string' && Number.isInteger(t.step) && Number.isInteger(t.at) && typeof t.labels === 'object'
}

const alerts = loadState()
const pool = new WorkerPool()
const desired = () => baseWorkers + Object.values(alerts).reduce((n, a) => n + a.step, 0)

async function handle(m: JsMsg): Promise<void> {
  let event: unknown
  try {
    event = m.json()
  } catch {
    event = undefined
  }
  if (!isTriggerEvent(event) || event.tenant !== tenant) {
    log({ msg: 'not a trigger event of this tenant: dropped', subject: m.subject, seq: m.seq })
    m.term()
    return
  }
  const key = alertKey(event)
  const known = alerts[key]
  if (known !== undefined && event.at < known.at) {
    log({ msg: 'older than what was applied: skipped', id: event.id, rule: event.rule, at: event.at })
  } else {
    // Kept at step 0 too: its event time still tells an old duplicate from news.
    alerts[key] = { step: event.step, at: event.at, rule: event.rule, action: event.action }
    const from = pool.size
    await pool.resize(desired())
    const direction = event.step > event.previousStep ? 'on' : event.step < event.previousStep ? 'off' : 'held'
    const actions = direction === 'on' ? event.ladder.slice(event.previousStep, event.step) : direction === 'off' ? event.ladder.slice(event.step, event.previousStep) : []
    log({ msg: 'applied', id: event.id, rule: event.rule, state: event.state, change: event.change, step: event.step, actions, direction, workers: pool.size, from })
    saveState(alerts)
  }
  await m.ackAck()
}

async function main(): Promise<void> {
  const nc = await connect({
    servers: env('NATS_URL'),
    name: `autoscaler-${tenant}`,
    ...credentials(),
    ...(process.env.NATS_INBOX_PREFIX ? { inboxPrefix: process.env.NATS_INBOX_PREFIX } : {}),
    maxReconnectAttempts: -1,
  })
  const jsm = await jetstreamManager(nc, { checkAPI: false })
  // One event at a time (max_ack_pending 1): events of an alert are acted on in the order they happened.
  const config = { durable_name: durable, filter_subject: `tm.triggers.${tenant}.>`, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: 1 }
  try {
    await jsm.consumers.info(STREAM, durable)
  } catch (err) {
    if (!/not found/i.test((err as Error).message)) throw err
    await jsm.consumers.add(STREAM, config)
  }
  await pool.resize(desired())
  log({ msg: 'started', tenant, durable, workers: pool.size, alerts: Object.keys(alerts).length })

  const consumer = await jetstream(nc).consumers.get(STREAM, durable)
  const messages = await consumer.consume({ max_messages: 1 })
  const stop = async () => {
    await messages.close()
    await pool.resize(0)
    await nc.drain()
    log({ msg: 'stopped' })
    process.exit(0)
  }
  process.once('SIGTERM', () => void stop())
  process.once('SIGINT', () => void stop())
  for await (const m of messages) {
    try {
      await handle(m)
    } catch (err) {
      // Not acked: JetStream redelivers it after the ack wait, and acting again is harmless.
      log({ msg: 'failed; will be redelivered', seq: m.seq, error: (err as Error).message })
      m.nak(1000)
    }
  }
}

main().catch((err) => {
  log({ msg: 'fatal', error: (err as Error).message })
  process.exit(1)
})
