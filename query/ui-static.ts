// Serves the built dashboard (ui/dist) at /. When it has not been built, / says
// how to build it instead of a bare 404.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import fastifyStatic from '@fastify/static'

export const DEFAULT_UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../ui/dist')

export async function registerUi(app: FastifyInstance, uiDir = DEFAULT_UI_DIR): Promise<void> {
  if (!fs.existsSync(path.join(uiDir, 'index.html'))) {
    app.get('/', async (_request, reply) =>
      reply.code(503).type('text/plain').send('The dashboard is not built. Run `npm run build:ui` (npm start does it for you).\n')
    )
    return
  }
  await app.register(fastifyStatic, {
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
}
