// Credentials decide the tenant: a route never takes a tenant from the caller.
// The hook resolves the bearer token to a principal and checks its role.
import { timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sha256, sha256Hex } from '../tenancy/digest.ts'
import { EngineErrors } from '../errors.ts'
import { isTokenLength, type Principal, type Role, type TenantRegistry } from '../tenancy/tenant-registry.ts'
import { HttpErrors } from './http-errors.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by requireRole: whose data this request may touch. */
    principal: Principal | null
  }
}

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (!header || header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined
  return header.slice(7).trim()
}

const ROLE_ACTION: Record<Role, string> = { ingest: 'write data (use the tenant ingestToken)', read: 'read data (use the tenant apiKey)' }

/** An onRequest hook: it runs before the body is read, so an unknown caller costs no parsing and learns nothing from validation. */
export type AuthHook = (request: FastifyRequest) => Promise<void>

/** A callback-style onRequest hook: it calls `done` once, with the refusal if there is one. */
export type RoleHook = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void

/** Sets the request's principal, or says why it may not go on. */
function admit(request: FastifyRequest, principal: Principal | undefined, role: Role): Error | undefined {
  if (!principal) return new HttpErrors.Unauthorized()
  if (principal.role !== role) return new HttpErrors.Forbidden(ROLE_ACTION[role])
  request.principal = principal
  return undefined
}

/** A lookup of a token not yet cached that failed (NATS down, or slow under load): the caller may retry, it is not a 500. */
function lookupFailed(err: unknown): Error {
  return new EngineErrors.NatsUnavailable(`the credential could not be looked up: ${(err as Error).message}`, { cause: err })
}

/** Per connection, the last token it sent and that token's digest. */
const connectionTokens = new WeakMap<object, { token: string; digest: string }>()

/**
 * The token's SHA-256, hashed once per kept-alive connection rather than once per request: a client sends the
 * same token on every request of its connection, and the hash was about 4 µs of the single-beacon ingest path
 * (its C++ call, not the digest itself). The token is compared only with the one this same connection sent
 * before, never with another client's, so the comparison's early exit tells the sender nothing it did not send.
 */
function tokenDigest(request: FastifyRequest, token: string): string {
  const socket = request.raw.socket
  const last = connectionTokens.get(socket)
  if (last !== undefined && last.token === token) return last.digest
  const digest = sha256Hex(token)
  connectionTokens.set(socket, { token, digest })
  return digest
}

/**
 * The onRequest hook that lets only a credential of `role` through. Callback style, not async: a cached
 * credential (nearly every request) is admitted in the same turn, with no promise for fastify to wait on.
 */
export function requireRole(registry: TenantRegistry, role: Role): RoleHook {
  return function authorize(request, _reply, done) {
    const token = bearerToken(request)
    let found: Principal | undefined | Promise<Principal | undefined>
    try {
      found = token && isTokenLength(token) ? registry.lookup(token, tokenDigest(request, token)) : undefined
    } catch (err) {
      done(lookupFailed(err))
      return
    }
    if (!(found instanceof Promise)) {
      done(admit(request, found, role))
      return
    }
    found.then(
      (principal) => done(admit(request, principal, role)),
      (err: unknown) => done(lookupFailed(err))
    )
  }
}

/** The tenant of a request that passed requireRole: the credential's, never a parameter. */
export function tenantOf(request: FastifyRequest): string {
  // Only a route without requireRole gets here with no principal: refuse rather than guess.
  if (!request.principal) throw new HttpErrors.Unauthorized()
  return request.principal.tenantId
}

export function requireAdmin(adminToken: string): AuthHook {
  const expected = sha256(adminToken)
  return async function authorizeAdmin(request: FastifyRequest) {
    const token = bearerToken(request)
    // Compare digests in constant time: the token's length and content leak nothing.
    if (!token || !timingSafeEqual(sha256(token), expected)) throw new HttpErrors.Unauthorized()
  }
}
