// GET /api/v2/health: 200 when every dependency this process uses answers,
// 503 naming the one that does not. Every tier registers it.
import type { FastifyInstance } from 'fastify'

export type HealthCheck = () => Promise<Record<string, unknown> & { ok: boolean }>

export function registerHealthRoute(app: FastifyInstance, checks: Record<string, HealthCheck>, roles: string[]): void {
  app.get('/api/v2/health', async (_request, reply) => {
    const report: Record<string, unknown> = {}
    let ok = true
    await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          const result = await check()
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
