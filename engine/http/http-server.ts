// The Node HTTP server under fastify, with the bounds fastify leaves off by
// default (its requestTimeout and connectionTimeout are 0: a client holding a
// valid token could trickle or stall a body forever, holding a socket and a
// parser each), and a shutdown answer in Tidemark's error shape.
import http from 'node:http'
import type { FastifyServerFactory, FastifyServerOptions } from 'fastify'
import { errorBody, type TidemarkHttpError } from './error-handler.ts'
import { HttpErrors } from './http-errors.ts'

/** The whole request, headers and body, must arrive within this; Node answers 408 and closes after. 1 MiB at 1 Mbit/s takes 8.4 s. */
export const REQUEST_TIMEOUT_MS = 10_000
/** How often Node looks for requests past their timeout (its default, 30 s, would let one live 40 s). */
const TIMEOUT_CHECK_INTERVAL_MS = 1000

export interface HttpServerBounds {
  /** The longest a handler may work without sending a byte (an ingest request retrying JetStream): the socket must outlive it. */
  longestHandlerMs: number
}

/** Fastify constructor options: timeouts, and a server that answers 503 TM_HTTP_SHUTTING_DOWN with Retry-After once closing. */
export function httpServerOptions(bounds: HttpServerBounds): Pick<
  FastifyServerOptions,
  'requestTimeout' | 'connectionTimeout' | 'return503OnClosing' | 'serverFactory'
> {
  return {
    requestTimeout: REQUEST_TIMEOUT_MS,
    // An idle socket (no byte either way) is closed after this: longer than any handler's silence.
    connectionTimeout: Math.max(60_000, bounds.longestHandlerMs + 30_000),
    // fastify's own closing answer is a fixed body without a code or Retry-After; closingAwareServer answers instead.
    return503OnClosing: false,
    serverFactory: closingAwareServer,
  }
}

const SHUTTING_DOWN_BODY = (() => {
  const err = new HttpErrors.ShuttingDown() as TidemarkHttpError
  err.publicMessage = err.message
  return Buffer.from(JSON.stringify(errorBody(err)))
})()

/** With a serverFactory fastify applies none of its timeout options itself: this does, from the options it passes. */
const closingAwareServer: FastifyServerFactory = (handler, fastifyOptions) => {
  const options = fastifyOptions as { requestTimeout?: number; connectionTimeout?: number; keepAliveTimeout?: number }
  const requestTimeout = options.requestTimeout ?? REQUEST_TIMEOUT_MS
  const server = http.createServer(
    {
      requestTimeout,
      // Node refuses a headers timeout longer than the request timeout.
      headersTimeout: requestTimeout,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
      keepAliveTimeout: options.keepAliveTimeout ?? 72_000,
    },
    (req, res) => {
      // Once app.close() has closed the listener, a request still arriving on a kept-alive socket is refused here,
      // so a load balancer retries it elsewhere; requests already under way finish.
      if (!server.listening) {
        res.writeHead(503, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': SHUTTING_DOWN_BODY.length,
          'retry-after': '1',
          connection: 'close',
        })
        res.end(SHUTTING_DOWN_BODY)
        return
      }
      handler(req, res)
    }
  )
  server.setTimeout(options.connectionTimeout ?? 0)
  return server
}
