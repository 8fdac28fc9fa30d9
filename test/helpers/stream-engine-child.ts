// One stream engine process for the failover test: reads its settings from
// TIDEMARK_TEST_STREAM (JSON: engineId, partitions, settings), runs a
// StreamRuntime against NATS_URL publishing window results to JetStream, writes
// "ready <engineId>" on stdout, and runs until killed (SIGTERM: graceful stop).
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { connectNats } from '../../engine/nats/jetstream-setup.ts'
import { inboxPrefixFor } from '../../engine/nats/nats-permissions.ts'
import type { SupervisedNatsServer } from '../../engine/nats/nats-endpoint.ts'
import { natsEnv } from './stack.ts'
import { validateStreamSettings, type StreamSettings } from '../../engine/stream/stream-config.ts'
import { StreamRuntime } from '../../engine/stream/stream-runtime.ts'
import type { EvaluatorConfig } from '../../engine/stream/partition-reader.ts'
import { jetstream } from '@nats-io/jetstream'
import { JetStreamOutputSink } from '../../engine/stream/output-sink.ts'
import type { StreamOutput } from '../../engine/stream/series-evaluator.ts'
import { WINDOWS_SUBJECT_PREFIX, windowsSubject } from '../../engine/stream/stream-layout.ts'

const SELF = fileURLToPath(import.meta.url)

export interface ChildConfig {
  engineId: string
  partitions: number
  settings: StreamSettings
  /** Evaluators beside the windows (a rule); their outputs go to tm.windows.<kind>.<p>. */
  evaluatorModule?: string
  /** What the module's withConfig is given (the rules in effect), as StreamRuntime's evaluatorConfig answers it. */
  evaluatorConfig?: EvaluatorConfig
}

/** Window results on tm.windows.<p>, other outputs (transitions) on tm.windows.<kind>.<p>: all in TM_WINDOWS. */
export function testSubjectOf(output: StreamOutput, partition: number): string {
  return output.kind === 'window' ? windowsSubject(partition) : `${WINDOWS_SUBJECT_PREFIX}${output.kind}.${partition}`
}

export interface EngineChild {
  child: ChildProcess
  output(): string
}

/** Starts this file as a child process (`node --import tsx`) connecting as NATS' engine user, and waits for its ready line. */
export function startEngineChild(nats: SupervisedNatsServer, config: ChildConfig): Promise<EngineChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF], {
    env: { ...process.env, ...natsEnv(nats, 'engine'), TIDEMARK_TEST_STREAM: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      out += chunk
      if (out.includes(`ready ${config.engineId}`)) resolve({ child, output: () => out })
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code, signal) => reject(new Error(`engine ${config.engineId} exited (${code ?? signal}): ${out}`)))
  })
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.TIDEMARK_TEST_STREAM as string) as ChildConfig
  const line = (level: string) => (obj: object | string, msg?: string) =>
    process.stderr.write(`${level} ${config.engineId} ${msg ?? ''} ${typeof obj === 'string' ? obj : JSON.stringify(obj, (_k, v: unknown) => (v instanceof Error ? v.message : v))}\n`)
  const nc = await connectNats(process.env.NATS_URL as string, config.engineId, {
    auth: { kind: 'nkey', seedFile: process.env.NATS_NKEY as string },
    inboxPrefix: inboxPrefixFor(['engine']),
  })
  const runtime = await StreamRuntime.start({
    nc,
    partitions: config.partitions,
    settings: validateStreamSettings(config.settings),
    engineId: config.engineId,
    evaluatorModule: config.evaluatorModule,
    evaluatorConfig: config.evaluatorConfig === undefined ? undefined : () => config.evaluatorConfig as EvaluatorConfig,
    sink: new JetStreamOutputSink(jetstream(nc), { subjectOf: testSubjectOf }),
    log: { info: () => {}, debug: () => {}, warn: line('WARN'), error: line('ERROR') },
  })
  process.stdout.write(`ready ${runtime.engineId}\n`)
  if (process.env.TIDEMARK_TEST_STATS) setInterval(() => process.stderr.write(`stats ${JSON.stringify(runtime.stats())}\n`), 1000).unref()
  process.once('SIGTERM', () => {
    void runtime
      .stop()
      .then(() => nc.close())
      .finally(() => process.exit(0))
  })
}

if (process.env.TIDEMARK_TEST_STREAM && process.argv[1] === SELF) await main()
