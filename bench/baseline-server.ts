// The yardstick: a bare fastify route parsing the same JSON body and answering
// 204. Tidemark's rate divided by this one is the share of a bare fastify route
// that the real ingest path keeps. startBaselineServer() runs it in this
// process (beside the embedded Tidemark: same event loop, same CPU share next to
// chDB); startBaselineProcess() in a process of its own (beside the ingest role
// alone in its own: one process each, like for like).
import { fork } from 'node:child_process'
import Fastify from 'fastify'

export interface BaselineServer {
  url: string
  /** The process serving it (this one, or the child's). */
  pid: number
  close(): Promise<void>
}

export async function startBaselineServer(): Promise<BaselineServer> {
  const app = Fastify()
  app.post('/ingest', async (_request, reply) => reply.code(204).send())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}/ingest`, pid: process.pid, close: () => app.close() }
}

/** The same route in a child process; close() ends it. */
export function startBaselineProcess(): Promise<BaselineServer> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL(import.meta.url), ['--serve'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`the baseline process exited with code ${code} before listening`)))
    child.once('message', (url: string) => {
      const exited = new Promise<void>((done) => child.once('exit', () => done()))
      resolve({
        url,
        pid: child.pid as number,
        close: async () => {
          child.kill('SIGTERM')
          await exited
        },
      })
    })
  })
}

if (process.argv[2] === '--serve' && process.send) {
  const server = await startBaselineServer()
  process.send(server.url)
  const end = (): void => void server.close().then(() => process.exit(0))
  process.once('SIGTERM', end)
  // The bench died without stopping it: go too.
  process.once('disconnect', end)
}
