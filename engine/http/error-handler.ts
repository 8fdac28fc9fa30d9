// One error shape for every HTTP answer that is not a success:
//   { statusCode, code, error, message, fields? }
// fastify's own errors (bad JSON, too large, validation) are translated here at
// the boundary into Tidemark codes; anything unexpected becomes TM_HTTP_INTERNAL
// and is logged, never shown.
import type { ErrorObject } from 'ajv'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { HttpErrors, type FieldProblem } from './http-errors.ts'

export interface TidemarkHttpError extends Error {
  code: string
  statusCode: number
  fields?: FieldProblem[]
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
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
    const token = part.replace(/~1/g, '/').replace(/~0/g, '~')
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
  const err = new HttpErrors.InvalidRequest(`${context}: ${fields.map((f) => `${f.field} ${f.problem}`).join('; ')}`) as TidemarkHttpError
  err.fields = fields
  return err
}

export function translateError(error: FastifyError & { fields?: FieldProblem[] }, options: ErrorHandlerOptions = {}): TidemarkHttpError {
  if (error.validation) {
    const fields = fieldProblems(error.validation as ErrorObject[])
    return (options.validationError ?? defaultValidationError)(fields, error.validationContext ?? 'request')
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpErrors.BodyTooLarge(String((error as { bodyLimit?: number }).bodyLimit ?? 'allowed')) as TidemarkHttpError
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpErrors.UnsupportedMediaType(error.message.replace(/^Unsupported Media Type:?\s*/i, '')) as TidemarkHttpError
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpErrors.InvalidJson('the body is empty') as TidemarkHttpError
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpErrors.InvalidJson(error.message) as TidemarkHttpError
  }
  if (error instanceof SyntaxError || (error.statusCode === 400 && /JSON/.test(error.message))) {
    return new HttpErrors.InvalidJson(error.message) as TidemarkHttpError
  }
  if (typeof error.code === 'string' && error.code.startsWith('TM_') && error.statusCode) return error as TidemarkHttpError
  return new HttpErrors.Internal(undefined, { cause: error }) as TidemarkHttpError
}

export function createErrorHandler(options: ErrorHandlerOptions = {}) {
  return function tidemarkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
    const translated = translateError(error, options)
    if (translated.statusCode >= 500) request.log.error({ err: error }, translated.message)
    const body: Record<string, unknown> = {
      statusCode: translated.statusCode,
      code: translated.code,
      error: STATUS_TEXT[translated.statusCode] ?? 'Error',
      message: translated.message,
    }
    if (translated.fields) body.fields = translated.fields
    if (translated.statusCode === 503) reply.header('retry-after', '1')
    void reply.code(translated.statusCode).send(body)
  }
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const err = new HttpErrors.NotFound(`${request.method} ${request.url.split('?')[0]}`)
  void reply.code(404).send({ statusCode: 404, code: err.code, error: 'Not Found', message: err.message })
}
