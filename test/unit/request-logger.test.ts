// request.log through lazyRequestLoggerFactory: what is logged at or above the
// route's level carries fastify's request id, as with fastify's own child; below
// it nothing is written and no pino child is made.
import Fastify, { type FastifyBaseLogger } from 'fastify'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { lazyRequestLoggerFactory } from '../../engine/http/request-logger.ts'

function capture(): { lines: Record<string, unknown>[]; logger: FastifyBaseLogger } {
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
  return { lines, logger }
}

describe('lazy request logger', () => {
  it('writes at and above the route level with the request id, and nothing below it', async () => {
    const { lines, logger } = capture()
    const app = Fastify({ loggerInstance: logger, childLoggerFactory: lazyRequestLoggerFactory })
    app.get('/quiet', { logLevel: 'warn' }, async (request) => {
      request.log.info('not written: below warn')
      request.log.debug('not written either')
      request.log.warn({ part: 'a' }, 'written')
      return { level: request.log.level }
    })
    app.get('/inherits', async (request) => {
      request.log.info('written at the app level')
      return {}
    })
    const quiet = await app.inject({ method: 'GET', url: '/quiet' })
    await app.inject({ method: 'GET', url: '/inherits' })
    await app.close()
    expect(quiet.json()).toEqual({ level: 'warn' })
    // fastify's own info lines go through request.log too: none for the warn route, both for the other.
    expect(lines.map((l) => l.msg)).toEqual(['written', 'incoming request', 'written at the app level', 'request completed'])
    expect(lines[0]).toMatchObject({ level: 40, part: 'a', reqId: 'req-1' })
    for (const line of lines.slice(1)) expect(line).toMatchObject({ level: 30, reqId: 'req-2' })
  })

  it('makes no pino child for a request that logs nothing at its level', () => {
    const { logger } = capture()
    let children = 0
    const counting = Object.assign(Object.create(logger) as FastifyBaseLogger, {
      child: (...args: Parameters<FastifyBaseLogger['child']>) => {
        children++
        return logger.child(...args)
      },
    })
    const quiet = lazyRequestLoggerFactory.call(undefined as never, counting, { reqId: 'r' }, { level: 'warn' }, undefined as never)
    quiet.info('dropped')
    quiet.debug('dropped')
    expect(children).toBe(0)
    quiet.error('kept')
    quiet.warn('kept too')
    expect(children).toBe(1)
    const silent = lazyRequestLoggerFactory.call(undefined as never, counting, { reqId: 's' }, { level: 'silent' }, undefined as never)
    silent.fatal('dropped')
    expect(children).toBe(1)
  })
})
