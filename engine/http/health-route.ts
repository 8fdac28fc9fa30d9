// GET /api/v2/health: 200 when every dependency this process uses answers,
// 503 naming the one that does not. Every tier registers it.
import type { FastifyInstance } from 'fastify'

export type HealthCheck = () => Promise<Record<string, unknown> & { ok: boolean }>

/** A dependency that does not answer in this long is reported down: health must answer even then. */
const CHECK_TIMEOUT_MS = 2000

function withTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)
  })
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer))
}

export function registerHealthRoute(app: FastifyInstance, checks: Record<string, HealthCheck>, roles: string[]): void {
  app.get('/api/v2/health', async (_request, reply) => {
    const report: Record<string, unknown> = {}
    let ok = true
    await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          const result = await withTimeout(check())
          report[name] = result
          ok &&= result.ok
        } catch (err) {
          report[name] = { ok: false, error: (err as Error).message }
          ok = false
        }
      })
    )
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', roles, ...report })
  })
}
