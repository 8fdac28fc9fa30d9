// The tag-filter rule of the reporting routes must agree with the beacon schema's tag names (the cache and
// performance metrics and the trigger table now come from the engine's door: one definition each).
import { describe, expect, it } from 'vitest'
import { TagsSchema } from '../../engine/model/beacon-schema.ts'
import { parseTagFilters, TAG_NAME_PATTERN, tagFilterSql } from '../../query/tag-filters.ts'

it('filters tags by the beacon schema\'s tag-name rule', () => {
  expect(Object.keys((TagsSchema as { patternProperties: Record<string, unknown> }).patternProperties)).toEqual([TAG_NAME_PATTERN])
})

describe('tag filters', () => {
  it('splits name:value at the first colon and gathers a repeated name', () => {
    expect(parseTagFilters(['site:a', 'url:https://x.test/a,b', 'site:b', 'env:'])).toEqual([
      { name: 'site', values: ['a', 'b'] },
      { name: 'url', values: ['https://x.test/a,b'] },
      { name: 'env', values: [''] },
    ])
    expect(parseTagFilters('site:a')).toEqual([{ name: 'site', values: ['a'] }])
    expect(parseTagFilters(undefined)).toEqual([])
  })

  it('refuses a filter without a name, a bad name, or too many', () => {
    for (const bad of ['site', ':a', "si'te:a", '1site:a']) expect(() => parseTagFilters(bad), bad).toThrow(expect.objectContaining({ code: 'TM_QUERY_INVALID' }))
    expect(() => parseTagFilters(Array.from({ length: 17 }, (_, i) => `t${i}:x`))).toThrow(/at most 16/)
  })

  it('binds names and values as parameters, never as SQL text', () => {
    const { sql, params } = tagFilterSql(parseTagFilters(["site:a' OR 1=1"]))
    expect(sql).toBe(' AND tags[{tn0:String}] IN {tv0:Array(String)}')
    expect(params).toEqual({ tn0: 'site', tv0: ["a' OR 1=1"] })
  })
})
