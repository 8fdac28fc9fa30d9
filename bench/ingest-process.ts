// The ingest role alone in its own process, as a deployment runs it: a
// nats-server -js child of this process, the stream layout made by `tidemark
// setup` (JetStream has one owner: the engine role or setup; ingest only checks
// it), a tenant made by `tidemark tenant create`, then `tidemark ingest` as a
// child with its own NATS user. Nothing consumes the stream: what ingest costs is
// measured alone. Each command is the CLI's, run from bin/tidemark.mjs, with
// the configuration in its environment and nothing from the caller's TIDEMARK_*.
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { SupervisedNatsServer, type CreatedTenant, type NatsAuth } from '../engine/index.ts'

const TIDEMARK = fileURLToPath(new URL('../bin/tidemark.mjs', import.meta.url))
const run = promisify(execFile)

export interface IngestProcessOptions {
  /** Extra environment of the ingest process (TIDEMARK_QUOTA_SAMPLES_PER_SEC=0, ...). */
  env?: Record<string, string>
  /** Writes a V8 CPU profile of the ingest process into this folder when it stops (node --cpu-prof). */
  cpuProfileDir?: string
}

export interface IngestProcess {
  /** http://127.0.0.1:port of the ingest process. */
  url: string
  pid: number
  tenant: CreatedTenant
  nats: SupervisedNatsServer
  /** The settings the ingest process got (no secrets). */
  env: Record<string, string>
  /** Stops the ingest process (SIGTERM: it drains), then nats-server; removes the temp dir. */
  stop(): Promise<void>
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** A role's credentials as the CLI reads them from its environment: the supervised server's users have nkeys. */
function authEnv(auth: NatsAuth): Record<string, string> {
  if (auth.kind !== 'nkey') throw new Error(`the supervised nats-server has nkey users, not ${auth.kind}`)
  return { NATS_NKEY: auth.seedFile }
}

/** The environment of a CLI child: PATH and HOME from ours, the rest given. */
function childEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...settings }
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`tidemark ingest exited (${child.exitCode ?? child.signalCode}) before it answered`)
    try {
      const response = await fetch(`${url}/api/v2/health`)
      if (response.ok) return
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`tidemark ingest did not answer ${url}/api/v2/health within ${timeoutMs} ms`)
    await sleep(100)
  }
}

/** RSS of a process in MB from /proc (Linux), undefined elsewhere or once it is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return kb === undefined ? undefined : Math.round((Number(kb) / 1024) * 10) / 10
  } catch {
    return undefined
  }
}

export async function startIngestProcess(options: IngestProcessOptions = {}): Promise<IngestProcess> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-ingest-'))
  let nats: SupervisedNatsServer | undefined
  let child: ChildProcess | undefined
  // The bench ending any other way (an exception, process.exit) takes the ingest process with it.
  const orphaned = (): void => void child?.kill('SIGKILL')
  process.once('exit', orphaned)
  const stop = async (): Promise<void> => {
    process.off('exit', orphaned)
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve))
      child.kill('SIGTERM')
      await Promise.race([exited, sleep(30_000)])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    await nats?.stop()
    fs.rmSync(root, { recursive: true, force: true })
  }
  try {
    nats = await SupervisedNatsServer.start({ binary: 'nats-server', storeDir: path.join(root, 'nats') })
    const common = { NATS_URL: nats.url, TIDEMARK_DATA_DIR: path.join(root, 'data'), LOG_LEVEL: 'warn' }
    // The owner's step: streams, consumer and buckets, as the engine would make them.
    await run(process.execPath, [TIDEMARK, 'setup'], { env: childEnv({ ...common, ...authEnv(nats.authFor('engine')) }) })
    const created = await run(process.execPath, [TIDEMARK, 'tenant', 'create', 'bench'], { env: childEnv({ ...common, ...authEnv(nats.authFor('query')) }) })
    const tenant = JSON.parse(created.stdout) as CreatedTenant
    const port = await freePort()
    const env = { ...common, HOST: '127.0.0.1', PORT: String(port), ...options.env }
    const execArgv = options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : []
    child = spawn(process.execPath, [...execArgv, TIDEMARK, 'ingest'], {
      env: childEnv({ ...env, ...authEnv(nats.authFor('ingest')) }),
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    const url = `http://127.0.0.1:${port}`
    await waitForHealth(url, child, 60_000)
    return { url, pid: child.pid as number, tenant, nats, env, stop }
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
}
