// Runs the `tidemark` command as a user would, as a child process, and waits
// for its "tidemark ready" log line (every role logs it, with its URL).
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

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
