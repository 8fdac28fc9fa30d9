// The yardstick: a bare fastify route in the same process as Tidemark (same
// event loop, same CPU share next to chDB and nats-server), parsing the same JSON
// body and answering 204. Tidemark's rate divided by this one is the share of a
// bare fastify route that the real ingest path keeps.
import Fastify from 'fastify'

export interface BaselineServer {
  url: string
  close(): Promise<void>
}

export async function startBaselineServer(): Promise<BaselineServer> {
  const app = Fastify()
  app.post('/ingest', async (_request, reply) => reply.code(204).send())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}/ingest`, close: () => app.close() }
}
