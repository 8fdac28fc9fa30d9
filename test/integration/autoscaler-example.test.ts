// examples/autoscaler run as a user runs it, against a real nats-server: trigger events made by the
// action ladder and published with the engine's publisher grow its worker pool one worker per step
// and shrink it as the alert steps down; a replay is dropped by JetStream's duplicate window; an
// autoscaler that was down, or started after everything was published, catches up.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { SupervisedNatsServer } from '../../engine/index.ts'
import { ActionLadder } from '../../engine/rules/action-ladder.ts'
import { effectiveRuleGroups } from '../../engine/rules/default-rules.ts'
import type { AlertTransition } from '../../engine/rules/evaluator.ts'
import { toTriggerEvent, type TriggerEvent } from '../../engine/rules/trigger-event.ts'
import { publishTriggerEvents, triggersStreamConfig } from '../../engine/rules/trigger-stream.ts'
import { connectAs, natsEnv, startNats, tempDir } from '../helpers/stack.ts'

const TENANT = 't_0000autoscale'
const OTHER = 't_0000elsewhere'
const M = 60_000

let nats: SupervisedNatsServer
let nc: NatsConnection
let js: JetStreamClient
const dir = tempDir('autoscaler')
const running: ChildProcess[] = []

interface Autoscaler {
  child: ChildProcess
  lines: any[]
  /** Resolves with the first logged line (from `from` on) that matches. */
  waitFor(match: (line: any) => boolean, from?: number, timeoutMs?: number): Promise<any>
  stop(): Promise<void>
}

function startAutoscaler(durable: string, stateFile: string): Autoscaler {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/autoscaler/autoscaler.ts'], {
    env: { ...process.env, ...natsEnv(nats, 'admin'), TENANT, DURABLE: durable, STATE_FILE: stateFile, BASE_WORKERS: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  running.push(child)
  const lines: any[] = []
  const waiters = new Set<() => void>()
  readline.createInterface({ input: child.stdout! }).on('line', (text) => {
    lines.push(JSON.parse(text))
    for (const wake of waiters) wake()
  })
  return {
    child,
    lines,
    waitFor(match, from = 0, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.slice(from).find(match)
          if (found === undefined) return
          waiters.delete(check)
          clearTimeout(timer)
          resolve(found)
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no matching line within ${timeoutMs} ms; got:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    },
  }
}

/** Threads of a process, from the kernel: the pool's workers are real threads. */
const threadsOf = (pid: number): number => Number(/^Threads:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])

/** What the engine would publish for one alert: its transitions through the ladder, as trigger events. */
function events(tenant: string, transitions: AlertTransition[], watermark: number, ladder = new ActionLadder(effectiveRuleGroups(undefined))): TriggerEvent[] {
  return ladder.advance(transitions, watermark).map((e) => toTriggerEvent(tenant, e))
}

const cpu = (state: AlertTransition['state'], at: number, host = 'web-1'): AlertTransition => ({
  group: 'tidemark-defaults',
  alert: 'HighCpuUsage',
  state,
  labels: { alertname: 'HighCpuUsage', host, severity: 'warning', action: 'scale' },
  annotations: { summary: 'CPU high' },
  value: 85,
  activeAt: T0 - 5 * M,
  at,
})
const T0 = 1_760_000_000_000

const applied = (lines: any[]) => lines.filter((l) => l.msg === 'applied')

beforeAll(async () => {
  nats = await startNats()
  nc = await connectAs(nats)
  js = jetstream(nc)
  await (await jetstreamManager(nc)).streams.add(triggersStreamConfig(1))
})

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL')
  await nc?.close()
  await nats?.stop()
  fs.rmSync(dir, { recursive: true, force: true })
})

it('grows the pool one worker per step while the alert escalates, and shrinks it as it steps down; a replay changes nothing', async () => {
  const scaler = startAutoscaler('autoscaler-main', path.join(dir, 'main.json'))
  const started = await scaler.waitFor((l) => l.msg === 'started')
  expect(started.workers).toBe(1)
  const threadsAtBase = threadsOf(scaler.child.pid!)

  // Fires at T0 and keeps firing: step 1 at once, then one per 2-minute cooldown up to 4.
  const ladder = new ActionLadder(effectiveRuleGroups(undefined))
  const up = events(TENANT, [cpu('firing', T0)], T0 + 10 * M, ladder)
  expect(up.map((e) => [e.change, e.step, e.action])).toEqual([
    ['alert', 1, 'enable_read_replicas'],
    ['escalate', 2, 'expand_cache'],
    ['escalate', 3, 'add_workers'],
    ['escalate', 4, 'degrade'],
  ])
  expect(await publishTriggerEvents(js, up)).toEqual({ published: 4, duplicates: 0 })
  await scaler.waitFor((l) => l.msg === 'applied' && l.workers === 5)
  expect(applied(scaler.lines).map((l) => [l.workers, l.actions])).toEqual([
    [2, ['enable_read_replicas']],
    [3, ['expand_cache']],
    [4, ['add_workers']],
    [5, ['degrade']],
  ])
  const threadsAtTop = threadsOf(scaler.child.pid!)
  expect(threadsAtTop).toBeGreaterThanOrEqual(threadsAtBase + 4)

  // Resolves at T0 + 10m: holds step 4, then one step down per 5 minutes.
  const down = events(TENANT, [cpu('resolved', T0 + 10 * M)], T0 + 60 * M, ladder)
  expect(down.map((e) => [e.change, e.step])).toEqual([
    ['alert', 4],
    ['step_down', 3],
    ['step_down', 2],
    ['step_down', 1],
    ['step_down', 0],
  ])
  await publishTriggerEvents(js, down)
  await scaler.waitFor((l) => l.msg === 'applied' && l.step === 0)
  expect(applied(scaler.lines).slice(4).map((l) => [l.workers, l.direction, l.actions])).toEqual([
    [5, 'held', []],
    [4, 'off', ['degrade']],
    [3, 'off', ['add_workers']],
    [2, 'off', ['expand_cache']],
    [1, 'off', ['enable_read_replicas']],
  ])
  expect(threadsOf(scaler.child.pid!)).toBeLessThan(threadsAtTop)

  // A restarted engine replays and publishes the same events again: same ids, dropped by JetStream.
  const replay = events(TENANT, [cpu('firing', T0), cpu('resolved', T0 + 10 * M)], T0 + 60 * M)
  expect(replay.map((e) => e.id)).toEqual([...up, ...down].map((e) => e.id))
  expect(await publishTriggerEvents(js, replay)).toEqual({ published: 0, duplicates: 9 })
  // A marker after the replay: once it is applied, anything the replay had delivered would have been too.
  const count = scaler.lines.length
  await publishTriggerEvents(js, events(TENANT, [cpu('pending', T0 + 70 * M, 'web-9')], T0 + 70 * M))
  await scaler.waitFor((l) => l.msg === 'applied' && l.state === 'pending', count)
  expect(applied(scaler.lines)).toHaveLength(10)
  await scaler.stop()
}, 60_000)

it('catches up after being down, and a new autoscaler started after everything was published reaches the same pool', async () => {
  const stateFile = path.join(dir, 'restart.json')
  const first = startAutoscaler('autoscaler-restart', stateFile)
  await first.waitFor((l) => l.msg === 'started')
  // It starts from the stream's beginning: the history of the first test ends at 1 worker.
  await first.waitFor((l) => l.msg === 'applied' && l.state === 'pending')
  await first.stop()

  // While it is down: web-2 fires and climbs two steps; another tenant's alert is not its business.
  const ladder = new ActionLadder(effectiveRuleGroups(undefined))
  await publishTriggerEvents(js, events(TENANT, [cpu('firing', T0 + 100 * M, 'web-2')], T0 + 102 * M, ladder))
  await publishTriggerEvents(js, events(OTHER, [cpu('firing', T0 + 100 * M)], T0 + 110 * M))

  const second = startAutoscaler('autoscaler-restart', stateFile)
  const resumed = await second.waitFor((l) => l.msg === 'started')
  expect(resumed.workers).toBe(1)
  await second.waitFor((l) => l.msg === 'applied' && l.workers === 3)
  // Only what it had not acked, and only its tenant's.
  expect(applied(second.lines).map((l) => [l.rule, l.step, l.workers])).toEqual([
    ['HighCpuUsage', 1, 2],
    ['HighCpuUsage', 2, 3],
  ])
  await second.stop()

  const late = startAutoscaler('autoscaler-late', path.join(dir, 'late.json'))
  await late.waitFor(() => applied(late.lines).length === 12)
  expect(applied(late.lines).at(-1)).toMatchObject({ step: 2, workers: 3 })
  await late.stop()
}, 60_000)
