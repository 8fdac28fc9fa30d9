// Runs the `tidemark` command as a user would, as a child process, and waits
// for its "tidemark ready" log line (every role logs it, with its URL).
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import type { NatsConnection } from '@nats-io/transport-node'
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { SupervisedNatsServer } from '../../engine/index.ts'
import { TRIGGERS_STREAM, type TriggerEvent } from '../../engine/rules/index.ts'
import { ADMIN_TOKEN, connectAs, natsEnv, startNats } from './stack.ts'

export const TIDEMARK_BIN = path.resolve(import.meta.dirname, '../../bin/tidemark.mjs')

export interface TidemarkProcess {
  url: string
  child: ChildProcess
  /** Everything it wrote so far, stdout and stderr. */
  output(): string
}

export function startTidemarkProcess(args: string[], env: NodeJS.ProcessEnv): Promise<TidemarkProcess> {
  const child = spawn(process.execPath, [TIDEMARK_BIN, ...args], { env: { LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      out += chunk
      const match = /"url":"(http:\/\/[^"]+)".*"msg":"tidemark ready"/.exec(out)
      // The banner follows the ready line in the same tick; wait for it when there is one.
      if (match && (!args.includes('start') || out.includes('New tenant'))) resolve({ url: match[1] as string, child, output: () => out })
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`tidemark ${args.join(' ')} exited with ${code}: ${out}`)))
  })
}

/** For afterAll: SIGKILL a process left running, and the nats-server child it then leaves behind. */
export function killWithChildren(child: ChildProcess, dataDir: string): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  try {
    process.kill(Number(fs.readFileSync(path.join(dataDir, 'nats', 'tidemark-nats.pid'), 'utf8')), 'SIGKILL')
  } catch {
    // no pid file, or that server is gone already
  }
}

/**
 * Real processes against one nats-server, for the kill -9 tests: beforeAll starts the server and an admin
 * connection, afterAll SIGKILLs every process pushed on `running` (and the nats-server a process under
 * engineDir leaves behind), then closes both. env(user) is what a `tidemark` process of that NATS user runs with.
 */
export interface ProcessRig {
  readonly nats: SupervisedNatsServer
  readonly nc: NatsConnection
  readonly running: TidemarkProcess[]
  env(user: 'admin' | 'ingest', extra?: Record<string, string>): NodeJS.ProcessEnv
}

export function processRig(engineDir: string): ProcessRig {
  let nats: SupervisedNatsServer | undefined
  let nc: NatsConnection | undefined
  const running: TidemarkProcess[] = []
  beforeAll(async () => {
    nats = await startNats()
    nc = await connectAs(nats)
  })
  afterAll(async () => {
    for (const { child } of running) killWithChildren(child, engineDir)
    await nc?.close()
    await nats?.stop()
  })
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('processRig: used before its beforeAll ran')
    return value
  }
  return {
    get nats() {
      return started(nats)
    },
    get nc() {
      return started(nc)
    },
    running,
    env(user, extra = {}) {
      return { ...process.env, ...natsEnv(started(nats), user), PORT: '0', HOST: '127.0.0.1', TIDEMARK_ADMIN_TOKEN: ADMIN_TOKEN, ...extra }
    },
  }
}

/** Every trigger event stored in TM_TRIGGERS on the subjects `filter` names, in stream order. */
export async function storedTriggerEvents(nc: NatsConnection, filter: string): Promise<TriggerEvent[]> {
  const jsm = await jetstreamManager(nc)
  const name = `read-${Date.now()}-${Math.random().toString(36).slice(2)}`
  await jsm.consumers.add(TRIGGERS_STREAM, { name, filter_subject: filter, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, inactive_threshold: 10_000_000_000 })
  const consumer = await jetstream(nc).consumers.get(TRIGGERS_STREAM, name)
  const total = (await consumer.info()).num_pending
  const events: TriggerEvent[] = []
  while (events.length < total) {
    const batch = await consumer.fetch({ max_messages: 500, expires: 1000 })
    for await (const m of batch) events.push(m.json<TriggerEvent>())
  }
  await jsm.consumers.delete(TRIGGERS_STREAM, name)
  return events
}
