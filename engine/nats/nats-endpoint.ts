// Where NATS is: a server someone else runs (NATS_URL), or a nats-server child
// that Tidemark starts and supervises under its data directory. Both satisfy
// NatsEndpoint; test/integration/nats-endpoint.test.ts runs one suite on both.
// The supervised server requires authentication: its users and their
// permissions are in nats-local-users.ts and nats-permissions.ts.
import { setTimeout as sleep } from 'node:timers/promises'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { EngineErrors } from '../errors.ts'
import type { NatsAuth } from './nats-auth.ts'
import { localUserAuth, writeLocalServerConfig } from './nats-local-users.ts'
import type { NatsUserName } from './nats-permissions.ts'
import { backoffDelayMs } from '../retry.ts'

export interface NatsEndpoint {
  /** Client URL, e.g. nats://127.0.0.1:4222. */
  readonly url: string
  readonly kind: 'external' | 'supervised'
  /** The credentials this process connects with; undefined for a server without authentication. */
  readonly auth: NatsAuth | undefined
  /** How many times a supervised server was restarted after dying. */
  readonly restarts: number
  stop(): Promise<void>
}

export function externalNats(url: string, auth?: NatsAuth): NatsEndpoint {
  return { url, kind: 'external', auth, restarts: 0, stop: async () => {} }
}

/** Finds an executable on PATH the way a shell would; absolute paths are checked as they are. */
export function findExecutable(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  const candidates = name.includes('/') ? [name] : envPath.split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, name))
  // Debian installs nats-server to /usr/sbin, which is not on every user's PATH.
  if (!name.includes('/')) candidates.push(path.join('/usr/sbin', name), path.join('/usr/local/sbin', name))
  for (const candidate of candidates) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      if (fs.statSync(candidate).isFile()) return candidate
    } catch {
      // not here; try the next directory
    }
  }
  return undefined
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer()
  server.listen(0, host)
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

async function waitForPort(host: string, port: number, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port }, () => {
        socket.destroy()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (ok) return
    await sleep(25)
  }
  throw new Error(`did not listen on ${host}:${port} within ${timeoutMs} ms`)
}

/** The supervised server's store under a data directory (JetStream data, its config, its users' seeds). */
export function natsStoreDir(dataDir: string): string {
  return path.join(dataDir, 'nats')
}

/** Where an embedded server publishes its NATS URL, so `tidemark tenant create` finds it. */
export function natsUrlFile(dataDir: string): string {
  return path.join(dataDir, 'nats.url')
}

/** The supervised nats-server's pid. */
export function natsPidFile(storeDir: string): string {
  return path.join(storeDir, 'tidemark-nats.pid')
}

/** The pid of the Tidemark process supervising that server: while it lives, the store is its. */
function ownerPidFile(storeDir: string): string {
  return path.join(storeDir, 'tidemark-nats.owner')
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The pid of a nats-server running on this store (from its pid file), if one runs. */
export function runningNatsServerPid(storeDir: string): number | undefined {
  const pid = readPid(natsPidFile(storeDir))
  if (pid === undefined || !isAlive(pid)) return undefined
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('nats-server') ? pid : undefined
  } catch {
    // no /proc: the pid is alive, which is all we can tell
    return pid
  }
}

/** Stores this process supervises a server on (the owner file names this process for all of them). */
const storesInUse = new Set<string>()

/**
 * Two servers on one store would corrupt it. A server whose supervisor still
 * lives belongs to that process: refuse. One whose supervisor died (a Tidemark
 * killed with SIGKILL leaves its nats-server running) is an orphan: stop it.
 */
async function takeStore(storeDir: string): Promise<void> {
  if (storesInUse.has(path.resolve(storeDir))) throw new EngineErrors.NatsStoreInUse(`this process already runs a nats-server on ${storeDir}`)
  const pid = runningNatsServerPid(storeDir)
  if (pid !== undefined) {
    const owner = readPid(ownerPidFile(storeDir))
    if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
      throw new EngineErrors.NatsStoreInUse(`nats-server ${pid}, supervised by process ${owner}, runs on ${storeDir}; stop that process first, or use its server`)
    }
    process.kill(pid, 'SIGTERM')
    const deadline = Date.now() + 5000
    while (isAlive(pid) && Date.now() < deadline) await sleep(50)
    if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  }
  fs.rmSync(natsPidFile(storeDir), { force: true })
}

export interface SupervisedNatsOptions {
  binary: string
  storeDir: string
  host?: string
  port?: number
  /** Called with each line the server logs: Tidemark forwards them to its logger at debug. */
  onLog?: (line: string) => void
  onRestart?: (restarts: number, code: number | null) => void
}

/** A nats-server -js child on a free port; restarted on the same port if it dies, stopped on exit. */
export class SupervisedNatsServer implements NatsEndpoint {
  readonly kind = 'supervised' as const
  restarts = 0
  #child: ChildProcess | undefined
  #stopping = false
  #lastLines: string[] = []
  readonly #killOnExit = (): void => {
    this.#child?.kill('SIGKILL')
  }

  private constructor(
    private readonly options: Required<Pick<SupervisedNatsOptions, 'binary' | 'storeDir' | 'host'>> & SupervisedNatsOptions,
    readonly port: number
  ) {}

  get url(): string {
    return `nats://${this.options.host}:${this.port}`
  }

  /** The admin user's credentials: the one-process `tidemark start` runs every role. */
  get auth(): NatsAuth {
    return this.authFor('admin')
  }

  /** The credentials of one of the server's users (tests connect as a role with them). */
  authFor(user: NatsUserName): NatsAuth {
    return localUserAuth(this.options.storeDir, user)
  }

  /** The running child's pid, undefined between a death and its restart (a crash test kills it by this pid). */
  get pid(): number | undefined {
    const child = this.#child
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined
  }

  static async start(options: SupervisedNatsOptions): Promise<SupervisedNatsServer> {
    const binary = findExecutable(options.binary)
    if (!binary) throw new EngineErrors.NatsServerMissing()
    const host = options.host ?? '127.0.0.1'
    // The store holds the credentials' seeds: its owner alone reads it.
    fs.mkdirSync(options.storeDir, { recursive: true, mode: 0o700 })
    await takeStore(options.storeDir)
    const server = new SupervisedNatsServer({ ...options, binary, host }, options.port ?? (await freePort(host)))
    storesInUse.add(path.resolve(options.storeDir))
    process.once('exit', server.#killOnExit)
    try {
      await server.#spawn()
    } catch (err) {
      await server.stop()
      throw err
    }
    return server
  }

  async #spawn(): Promise<void> {
    const { binary, host, storeDir } = this.options
    const configFile = writeLocalServerConfig(storeDir)
    // stdin from /dev/null: nothing of ours should ever be read by a child. Flags after -c override the file.
    const child = spawn(binary, ['-c', configFile, '-js', '-a', host, '-p', String(this.port), '-sd', storeDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.#child = child
    if (child.pid !== undefined) {
      fs.writeFileSync(natsPidFile(storeDir), String(child.pid))
      fs.writeFileSync(ownerPidFile(storeDir), String(process.pid))
    }
    const collect = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue
        this.#lastLines.push(line)
        if (this.#lastLines.length > 20) this.#lastLines.shift()
        this.options.onLog?.(line)
      }
    }
    child.stdout?.on('data', collect)
    child.stderr?.on('data', collect)
    child.once('exit', (code) => {
      if (this.#stopping || this.#child !== child) return
      this.restarts++
      this.options.onRestart?.(this.restarts, code)
      // Back off a little so a server that dies at once does not spin.
      setTimeout(() => {
        if (!this.#stopping) this.#spawn().catch((err) => this.options.onLog?.(`restart failed: ${(err as Error).message}`))
      }, backoffDelayMs(this.restarts - 1, { baseMs: 100, maxMs: 5000 }))
    })
    try {
      await waitForPort(host, this.port, 10_000, child)
    } catch (err) {
      child.kill('SIGKILL')
      throw new EngineErrors.NatsServerFailed(`${(err as Error).message}; last output: ${this.#lastLines.join(' | ')}`, { cause: err })
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true
    process.removeListener('exit', this.#killOnExit)
    const child = this.#child
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    if (!storesInUse.delete(path.resolve(this.options.storeDir))) return
    fs.rmSync(natsPidFile(this.options.storeDir), { force: true })
    fs.rmSync(ownerPidFile(this.options.storeDir), { force: true })
  }
}
