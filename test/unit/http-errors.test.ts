// How validation errors become field problems a person can act on, and how every error answer is shaped.
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { createErrorHandler, fieldProblems, MetricsBodySchema } from '../../engine/index.ts'
import { errorBody, fieldName, translateError } from '../../engine/http/error-handler.ts'
import { nonUtf8Line } from '../../engine/http/body-encoding.ts'
import { QueryErrors } from '../../query/index.ts'

const ajv = new Ajv({ allErrors: true, verbose: true, strict: false })
;(addFormats as unknown as (a: Ajv) => void)(ajv)
const validate = ajv.compile(MetricsBodySchema as object)

function problems(body: unknown): Record<string, string> {
  expect(validate(body)).toBe(false)
  return Object.fromEntries(fieldProblems(validate.errors ?? []).map((p) => [p.field, p.problem]))
}

describe('fieldProblems', () => {
  it('names both fields of the seed invalid beacon, with the rule each broke', () => {
    expect(problems({ page_views: 'abc', load_time: -1 })).toEqual({
      page_views: 'must be integer (a count: a whole number, 0 or more)',
      load_time: 'must be >= 0 (a duration in milliseconds, 0 or more)',
    })
  })

  it('says one thing for a union instead of every branch', () => {
    expect(problems({ page_views: 1, ts: 'soon' })).toEqual({ ts: 'must be epoch milliseconds or an ISO 8601 date-time' })
  })

  it('indexes batch members and nested tags, and flags bad metric names', () => {
    expect(problems([{ page_views: 1 }, { tags: { 'bad tag': 'x', ok: 5 } }, { Upper: 1 }])).toEqual({
      '[1].tags.bad tag': expect.stringMatching(/not a valid name/),
      '[1].tags.ok': 'must be string',
      '[2].Upper': expect.stringMatching(/not a valid name/),
    })
  })

  it('accepts the seed valid beacon and batches of it', () => {
    expect(validate({ page_views: 150, load_time: 420 })).toBe(true)
    expect(validate([{ page_views: 150 }, { load_time: 420, ts: '2026-11-22T00:00:00Z', tags: { site: 'a' } }])).toBe(true)
    expect(validate([])).toBe(false)
  })
})

describe('bounded, consistent error answers', () => {
  async function appThrowing(error: Error) {
    const app = Fastify({ logger: false })
    app.setErrorHandler(createErrorHandler())
    app.get('/boom', async () => {
      throw error
    })
    app.post('/echo', async (request) => request.body)
    await app.ready()
    return app
  }

  it('lists at most 100 problems in a 400, with their count, and names ten in the message', () => {
    const bad = Array.from({ length: 1000 }, () => ({ page_views: -1, load_time: 'x', tags: { 'bad tag': 1 } }))
    expect(validate(bad)).toBe(false)
    const body = errorBody(translateError(Object.assign(new Error('validation'), { validation: validate.errors, validationContext: 'body' }) as never))
    expect(body.statusCode).toBe(400)
    expect(body.fields).toHaveLength(100)
    expect(body.fieldCount).toBe(3000)
    expect(String(body.message).split('; ')).toHaveLength(11)
    expect(body.message).toMatch(/and 2990 more \(see fields\)$/)
  })

  it('answers an unexpected failure with a plain message and keeps the failure as its cause', () => {
    const failure = new TypeError("Cannot read properties of undefined (reading 'x')")
    const translated = translateError(failure as never)
    expect(translated).toMatchObject({ statusCode: 500, code: 'TM_HTTP_INTERNAL', message: 'Internal error' })
    expect(translated.cause).toBe(failure)
  })

  it('keeps the status of an unmapped fastify 4xx, under a code of ours', () => {
    const contentLength = Object.assign(new Error('Request body size did not match Content-Length'), { code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH', statusCode: 400 })
    expect(translateError(contentLength as never)).toMatchObject({ statusCode: 400, code: 'TM_HTTP_REQUEST_REJECTED' })
    const teapot = Object.assign(new Error('too many headers'), { code: 'FST_ERR_SOMETHING_NEW', statusCode: 431 })
    const body = errorBody(translateError(teapot as never))
    expect(body).toMatchObject({ statusCode: 431, code: 'TM_HTTP_REQUEST_REJECTED', error: 'Request Header Fields Too Large', message: 'The request was refused: too many headers' })
  })

  it("never sends a dependency's error text in a 5xx body, and logs it instead", async () => {
    const clickhouse = 'Code: 241. DB::Exception: Memory limit (total) exceeded: would use 9.31 GiB, SELECT secret_column FROM tidemark.samples'
    const app = await appThrowing(new QueryErrors.StorageUnavailable(clickhouse))
    const res = await app.inject({ method: 'GET', url: '/boom' })
    expect(res.statusCode).toBe(503)
    expect(res.headers['retry-after']).toBe('1')
    expect(res.json()).toMatchObject({ code: 'TM_QUERY_STORAGE_UNAVAILABLE', message: expect.stringMatching(/unavailable; retry/) })
    expect(res.body).not.toMatch(/DB::Exception|secret_column|Memory limit/)
    const internal = await appThrowing(new Error('ECONNREFUSED 10.0.0.7:8123'))
    const crashed = await internal.inject({ method: 'GET', url: '/boom' })
    expect(crashed.statusCode).toBe(500)
    expect(crashed.body).not.toMatch(/ECONNREFUSED|10\.0\.0\.7/)
    await app.close()
    await internal.close()
  })

  it('names the Content-Type a 415 refuses', async () => {
    const app = await appThrowing(new Error('unused'))
    const res = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=1' })
    expect(res.statusCode).toBe(415)
    expect(res.json()).toMatchObject({ code: 'TM_HTTP_UNSUPPORTED_MEDIA_TYPE', message: expect.stringContaining('"application/x-www-form-urlencoded"') })
    await app.close()
  })
})

describe('body text', () => {
  it('names the line holding the first byte sequence that is not UTF-8, 0 when there is none', () => {
    expect(nonUtf8Line(Buffer.from('{"a": "café 東京 🌊"}\n{"b": 1}'))).toBe(0)
    expect(nonUtf8Line(Buffer.from([0x7b, 0xff, 0x7d]))).toBe(1)
    expect(nonUtf8Line(Buffer.concat([Buffer.from('{}\n{}\r\n'), Buffer.from([0xc3, 0x0a]), Buffer.from('{}')]))).toBe(3)
    // A sequence cut by the end of the body.
    expect(nonUtf8Line(Buffer.concat([Buffer.from('{}\n'), Buffer.from([0xe6, 0x9d])]))).toBe(2)
    // An encoded surrogate (CESU-8) is not UTF-8.
    expect(nonUtf8Line(Buffer.from([0xed, 0xa0, 0x80]))).toBe(1)
  })

  it('shows an empty key quoted, so a metric or tag named "" is named', () => {
    expect(fieldName('', '')).toBe('""')
    expect(fieldName('/tags', '')).toBe('tags.""')
    expect(fieldName('/0/tags', 'env')).toBe('[0].tags.env')
  })
})
