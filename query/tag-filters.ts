// Tag filters and the tag to group by, as the reporting routes take them.
//
// Filters are `tag=name:value`, repeated: `?tag=site:a&tag=env:prod` keeps the
// samples whose `site` is `a` and whose `env` is `prod`; the same name twice
// means either value (`?tag=site:a&tag=site:b`). The name ends at the first
// colon, so a value may hold colons and commas (URLs, lists) as they are.
// Names follow the beacon schema's tag names; names and values reach
// ClickHouse as bound parameters, never as SQL text.
import { QueryErrors } from './errors.ts'

/** The beacon schema's tag name rule (engine/model/beacon-schema.ts TagsSchema), so any stored tag can be named. */
export const TAG_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_.-]{0,63}$'
const TAG_NAME = new RegExp(TAG_NAME_PATTERN)
/** A beacon holds at most 16 tags, each value at most 256 characters: more filters than that can only be a mistake. */
export const MAX_TAG_FILTERS = 16
export const MAX_TAG_VALUE_LENGTH = 256

export interface TagFilter {
  name: string
  /** Any of these (one, unless the name was repeated). */
  values: string[]
}

export function parseTagFilters(raw: string | string[] | undefined): TagFilter[] {
  if (raw === undefined) return []
  const items = Array.isArray(raw) ? raw : [raw]
  if (items.length > MAX_TAG_FILTERS) throw new QueryErrors.InvalidQuery(`at most ${MAX_TAG_FILTERS} tag filters (got ${items.length})`)
  const byName = new Map<string, string[]>()
  for (const item of items) {
    const colon = item.indexOf(':')
    const name = colon < 0 ? item : item.slice(0, colon)
    if (colon < 0 || !TAG_NAME.test(name)) {
      throw new QueryErrors.InvalidQuery(`tag filters are tag=name:value with a name like site or env (got ${JSON.stringify(item.slice(0, 80))})`)
    }
    const value = item.slice(colon + 1)
    if (value.length > MAX_TAG_VALUE_LENGTH) throw new QueryErrors.InvalidQuery(`the value of tag ${name} is longer than ${MAX_TAG_VALUE_LENGTH} characters`)
    byName.set(name, [...(byName.get(name) ?? []), value])
  }
  return [...byName].map(([name, values]) => ({ name, values }))
}

export function checkTagName(name: string, what: string): string {
  if (!TAG_NAME.test(name)) throw new QueryErrors.InvalidQuery(`${what} must be a tag name like site or env (got ${JSON.stringify(name.slice(0, 80))})`)
  return name
}

/**
 * The WHERE terms of the filters, each name and value set a bound parameter (`tn0`, `tv0`, …). A sample
 * without the tag reads as '' there, as ClickHouse answers a missing Map key, so `tag=site:` keeps the untagged.
 */
export function tagFilterSql(filters: readonly TagFilter[]): { sql: string; params: Record<string, unknown> } {
  const params: Record<string, unknown> = {}
  const terms = filters.map((f, i) => {
    params[`tn${i}`] = f.name
    params[`tv${i}`] = f.values
    return ` AND tags[{tn${i}:String}] IN {tv${i}:Array(String)}`
  })
  return { sql: terms.join(''), params }
}
