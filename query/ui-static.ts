// Serves the built dashboard (ui/dist) at /. When it has not been built, / says
// how to build it instead of a bare 404.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fastifyStatic from '@fastify/static'
import { createErrorHandler, notFoundHandler } from '../engine/index.ts'

export const DEFAULT_UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../ui/dist')

export async function registerUi(app: FastifyInstance, uiDir = DEFAULT_UI_DIR): Promise<void> {
  if (!fs.existsSync(path.join(uiDir, 'index.html'))) {
    app.get('/', async (_request, reply) =>
      reply.code(503).type('text/plain').send('The dashboard is not built. Run `npm run build:ui` (npm start does it for you).\n')
    )
    return
  }
  // In a scope of its own, so the static files get their own error handler (below) and no other route does.
  await app.register(async (scope) => {
    scope.setErrorHandler(staticErrorHandler)
    await scope.register(fastifyStatic, {
      root: uiDir,
      prefix: '/',
      index: 'index.html',
      cacheControl: false,
      // Vite names assets by content hash: those never change. index.html names the current ones, so it is
      // revalidated every time, or a browser could keep an old page pointing at assets a new build deleted.
      setHeaders(reply, filePath) {
        reply.header('cache-control', filePath.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache')
      },
    })
  })
}

const queryErrorHandler = createErrorHandler()

/**
 * `send` answers with plain errors that the shared handler would make a 500
 * with a stack in the error log. A path that climbs out of the root
 * (`/../etc/passwd`, also once percent-decoded) is a 403 there, one that does
 * not decode or holds a NUL a 400: to a client there is simply no such file, so
 * 404. A range or precondition the file cannot meet (416, 412) is HTTP's own
 * answer to headers the client set, so it goes out as is, with its headers.
 */
function staticErrorHandler(error: FastifyError & { headers?: Record<string, string> }, request: FastifyRequest, reply: FastifyReply): void {
  if (error.statusCode === 400 || error.statusCode === 403) return notFoundHandler(request, reply)
  if (error.statusCode === 412 || error.statusCode === 416) {
    void reply
      .code(error.statusCode)
      .headers(error.headers ?? {})
      .send()
    return
  }
  queryErrorHandler(error, request, reply)
}
