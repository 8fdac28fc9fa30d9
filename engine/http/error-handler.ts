// One error shape for every HTTP answer that is not a success:
//   { statusCode, code, error, message, fields? }
// fastify's own errors (bad JSON, too large, validation) are translated here at
// the boundary into Tidemark codes; any other 4xx keeps its status under
// TM_HTTP_REQUEST_REJECTED; anything unexpected becomes TM_HTTP_INTERNAL.
// A 5xx body never carries a dependency's own words (ClickHouse's or NATS'
// error text): only a message the raiser marked public, else a generic one;
// the detail goes to the log.
import { STATUS_CODES } from 'node:http'
import type { ErrorObject } from 'ajv'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { HttpErrors, type FieldProblem } from './http-errors.ts'

export interface TidemarkHttpError extends Error {
  code: string
  statusCode: number
  fields?: FieldProblem[]
  /** For a 5xx: the message a client may see (Tidemark's own words, no dependency text). */
  publicMessage?: string
  /** Extra body fields a client acts on (e.g. which samples a 503 made durable). */
  details?: Record<string, unknown>
  /** Seconds for Retry-After; every 503 has one (1 when unset). */
  retryAfterSeconds?: number
}

/** A 400 lists at most this many fields (and says how many there were): a bad 1,000-beacon batch must not answer with 64,000. */
export const MAX_FIELDS_SHOWN = 100
/** The message names this many problems; `fields` has the rest. */
const MAX_PROBLEMS_IN_MESSAGE = 10

/** "a must be x; b must be y; and 12 more (see fields)": the message of a validation error. */
export function describeProblems(fields: FieldProblem[]): string {
  const shown = fields
    .slice(0, MAX_PROBLEMS_IN_MESSAGE)
    .map((f) => `${f.field} ${f.problem}`)
    .join('; ')
  return fields.length > MAX_PROBLEMS_IN_MESSAGE ? `${shown}; and ${fields.length - MAX_PROBLEMS_IN_MESSAGE} more (see fields)` : shown
}

/** Marks a 5xx's own message as fit for clients (it names no dependency's error text). */
export function withPublicMessage<E extends TidemarkHttpError>(error: E, details?: Record<string, unknown>): E {
  error.publicMessage = error.message
  // Not enumerable: the logger serializes the error, and a list of 1,000 beacons does not belong in a log line.
  if (details) Object.defineProperty(error, 'details', { value: details, enumerable: false, writable: true })
  return error
}

const GENERIC_5XX: Record<number, string> = {
  500: 'Internal error; it was logged with its cause',
  503: 'A service Tidemark depends on is unavailable; retry after Retry-After seconds',
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/** "/0/tags/env" -> "[0].tags.env": how a person would name the field. */
export function fieldName(instancePath: string, property?: string): string {
  const parts = instancePath.split('/').slice(1)
  if (property !== undefined) parts.push(property)
  let name = ''
  for (const part of parts) {
    // An empty key (a metric or tag named "") would vanish from the name: show it quoted.
    const token = part === '' ? '""' : part.replace(/~1/g, '/').replace(/~0/g, '~')
    name += /^\d+$/.test(token) ? `[${token}]` : name === '' ? token : `.${token}`
  }
  return name || '(body)'
}

/** ajv's errors, grouped to one problem per field, in the order they came. */
export function fieldProblems(errors: ErrorObject[]): FieldProblem[] {
  const byField = new Map<string, string[]>()
  const unions = new Set<string>()
  for (const e of errors) {
    if (e.keyword === 'if' || e.keyword === 'propertyNames') continue
    const params = e.params as Record<string, unknown>
    let field: string
    let problem: string
    if (e.keyword === 'required') {
      field = fieldName(e.instancePath, String(params.missingProperty))
      problem = 'is required'
    } else if (e.keyword === 'additionalProperties') {
      field = fieldName(e.instancePath, String(params.additionalProperty))
      // A record of pattern-named keys (tags) refuses a key for its name, so say which names it takes.
      const patterns = Object.keys((e.parentSchema as { patternProperties?: object } | undefined)?.patternProperties ?? {})
      problem = patterns.length > 0 ? `is not a valid name (must match pattern "${patterns.join('" or "')}")` : 'is not allowed here'
    } else if (e.keyword === 'not' && typeof (e.parentSchema as { description?: unknown } | undefined)?.description === 'string') {
      // A name the schema reserves (a tag Tidemark sets itself): its description says why.
      field = fieldName(e.instancePath)
      problem = (e.parentSchema as { description: string }).description
    } else if ((e as { propertyName?: string }).propertyName !== undefined) {
      field = fieldName(e.instancePath, (e as { propertyName?: string }).propertyName)
      problem = `is not a valid name (${e.message ?? 'bad pattern'})`
    } else {
      field = fieldName(e.instancePath)
      const description = (e.parentSchema as { description?: string } | undefined)?.description
      problem = `${e.message ?? 'is invalid'}${description ? ` (${description})` : ''}`
      if (e.keyword === 'anyOf') {
        unions.add(field)
        problem = `must be ${description ?? 'one of the allowed forms'}`
      }
    }
    const list = byField.get(field) ?? []
    if (!list.includes(problem)) list.push(problem)
    byField.set(field, list)
  }
  const result: FieldProblem[] = []
  for (const [field, problems] of byField) {
    // For a union (ts: number or date string) the branch errors only confuse; the anyOf line says it all.
    const shown = unions.has(field) ? problems.filter((p) => p.startsWith('must be ') && !p.includes('(')) : problems
    result.push({ field, problem: (shown.length > 0 ? shown : problems).join('; ') })
  }
  return result
}

export interface ErrorHandlerOptions {
  /** Builds the error for a failed schema validation (each tier has its own code). */
  validationError?: (fields: FieldProblem[], context: string) => TidemarkHttpError
}

function defaultValidationError(fields: FieldProblem[], context: string): TidemarkHttpError {
  const err = new HttpErrors.InvalidRequest(`${context}: ${describeProblems(fields)}`) as TidemarkHttpError
  err.fields = fields
  return err
}

/** What of the request the translation may name (fastify's 415 names no type itself). */
export interface RequestContext {
  contentType?: string
  /** The route's body limit: fastify's 413 does not say it. */
  bodyLimit?: number
}

export function translateError(
  error: FastifyError & { fields?: FieldProblem[] },
  options: ErrorHandlerOptions = {},
  request: RequestContext = {}
): TidemarkHttpError {
  if (error.validation) {
    const fields = fieldProblems(error.validation as ErrorObject[])
    return (options.validationError ?? defaultValidationError)(fields, error.validationContext ?? 'request')
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpErrors.BodyTooLarge(String((error as { bodyLimit?: number }).bodyLimit ?? request.bodyLimit ?? 'allowed')) as TidemarkHttpError
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpErrors.UnsupportedMediaType(request.contentType ? `"${request.contentType.slice(0, 100)}"` : 'none given') as TidemarkHttpError
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpErrors.InvalidJson('the body is empty') as TidemarkHttpError
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpErrors.InvalidJson(error.message) as TidemarkHttpError
  }
  // Ours first: a TM_ error whose message says JSON (NDJSON's) is not fastify's JSON parser failing.
  if (typeof error.code === 'string' && error.code.startsWith('TM_') && error.statusCode) return error as TidemarkHttpError
  if (error instanceof SyntaxError || (error.statusCode === 400 && /JSON/.test(error.message))) {
    return new HttpErrors.InvalidJson(error.message) as TidemarkHttpError
  }
  const status = error.statusCode ?? 0
  if (status >= 400 && status < 500) {
    // fastify's own 4xx (bad Content-Length, bad URL, …): the client's fault, so its status and words stay.
    const rejected = new HttpErrors.RequestRejected(error.message, { cause: error }) as TidemarkHttpError
    rejected.statusCode = status
    return rejected
  }
  return new HttpErrors.Internal({ cause: error }) as TidemarkHttpError
}

/** The JSON body of an error answer. */
export function errorBody(translated: TidemarkHttpError): Record<string, unknown> {
  const status = translated.statusCode
  const body: Record<string, unknown> = {
    statusCode: status,
    code: translated.code,
    error: STATUS_TEXT[status] ?? STATUS_CODES[status] ?? 'Error',
    message: status >= 500 ? (translated.publicMessage ?? GENERIC_5XX[status] ?? GENERIC_5XX[500]) : translated.message,
  }
  if (translated.fields) {
    body.fields = translated.fields.length > MAX_FIELDS_SHOWN ? translated.fields.slice(0, MAX_FIELDS_SHOWN) : translated.fields
    if (translated.fields.length > MAX_FIELDS_SHOWN) body.fieldCount = translated.fields.length
  }
  if (translated.details) Object.assign(body, translated.details)
  return body
}

export function createErrorHandler(options: ErrorHandlerOptions = {}) {
  return function tidemarkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
    const translated = translateError(error, options, { contentType: request.headers['content-type'], bodyLimit: request.routeOptions?.bodyLimit })
    // The detail (with the dependency's own words, in the cause chain) is logged, never sent.
    if (translated.statusCode >= 500) request.log.error({ err: error }, translated.message)
    if (translated.statusCode === 503 || translated.retryAfterSeconds !== undefined) {
      reply.header('retry-after', String(translated.retryAfterSeconds ?? 1))
    }
    void reply.code(translated.statusCode).send(errorBody(translated))
  }
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const err = new HttpErrors.NotFound(`${request.method} ${request.url.split('?')[0]}`)
  void reply.code(404).send({ statusCode: 404, code: err.code, error: 'Not Found', message: err.message })
}
