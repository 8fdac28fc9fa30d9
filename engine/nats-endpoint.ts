// Where NATS is: a server someone else runs (NATS_URL), or a nats-server child
// that Tidemark starts and supervises under its data directory. Both satisfy
// NatsEndpoint; test/integration/nats-endpoint.test.ts runs one suite on both.
import { setTimeout as sleep } from 'node:timers/promises'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { EngineErrors } from './errors.ts'
import { backoffDelayMs } from './retry.ts'

export interface NatsEndpoint {
  /** Client URL, e.g. nats://127.0.0.1:4222. */
  readonly url: string
  readonly kind: 'external' | 'supervised'
  /** How many times a supervised server was restarted after dying. */
  readonly restarts: number
  stop(): Promise<void>
}

export function externalNats(url: string): NatsEndpoint {
  return { url, kind: 'external', restarts: 0, stop: async () => {} }
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

function pidFile(storeDir: string): string {
  return path.join(storeDir, 'tidemark-nats.pid')
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * A Tidemark killed with SIGKILL leaves its nats-server running on the store.
 * Two servers on one store would corrupt it, so the next start stops the
 * orphan first (only if that pid still is a nats-server).
 */
async function stopOrphan(file: string): Promise<void> {
  let pid: number
  try {
    pid = Number(fs.readFileSync(file, 'utf8'))
  } catch {
    return
  }
  let command = ''
  try {
    command = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')
  } catch {
    // gone, or no /proc: nothing we can safely stop
  }
  if (pid > 0 && command.includes('nats-server') && isAlive(pid)) {
    process.kill(pid, 'SIGTERM')
    const deadline = Date.now() + 5000
    while (isAlive(pid) && Date.now() < deadline) await sleep(50)
    if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  }
  fs.rmSync(file, { force: true })
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

  static async start(options: SupervisedNatsOptions): Promise<SupervisedNatsServer> {
    const binary = findExecutable(options.binary)
    if (!binary) throw new EngineErrors.NatsServerMissing()
    const host = options.host ?? '127.0.0.1'
    fs.mkdirSync(options.storeDir, { recursive: true })
    await stopOrphan(pidFile(options.storeDir))
    const server = new SupervisedNatsServer({ ...options, binary, host }, options.port ?? (await freePort(host)))
    process.once('exit', server.#killOnExit)
    await server.#spawn()
    return server
  }

  async #spawn(): Promise<void> {
    const { binary, host, storeDir } = this.options
    // stdin from /dev/null: nothing of ours should ever be read by a child.
    const child = spawn(binary, ['-js', '-a', host, '-p', String(this.port), '-sd', storeDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.#child = child
    if (child.pid !== undefined) fs.writeFileSync(pidFile(storeDir), String(child.pid))
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

  /** Kills the child as a crash would (tests use it to check the supervisor restarts it). */
  crashForTest(): void {
    this.#child?.kill('SIGKILL')
  }

  async stop(): Promise<void> {
    this.#stopping = true
    process.removeListener('exit', this.#killOnExit)
    const child = this.#child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
    fs.rmSync(pidFile(this.options.storeDir), { force: true })
  }
}
