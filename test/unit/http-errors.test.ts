// How validation errors become field problems a person can act on.
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { describe, expect, it } from 'vitest'
import { fieldProblems, MetricsBodySchema } from '../../engine/index.ts'

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
