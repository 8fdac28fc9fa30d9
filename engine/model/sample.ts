// The unit the engine moves: one value of one series at one time. A beacon of
// N metrics becomes N samples; the series is the metric name plus its tags.

/** [tenant, metric, ts epoch ms, value, tags or null, received epoch ms]: a tuple packs smaller than an object. */
export type Sample = [tenant: string, metric: string, ts: number, value: number, tags: Record<string, string> | null, receivedAt: number]

export const enum SampleField {
  Tenant = 0,
  Metric = 1,
  Ts = 2,
  Value = 3,
  Tags = 4,
  ReceivedAt = 5,
}

/** Canonical series key: the metric, then tags sorted by name, so equal series hash alike. */
export function seriesKey(metric: string, tags: Record<string, string> | null): string {
  return metric + seriesTagsKey(tags)
}

/**
 * The tags part of a series key, `{a=1,b=2}` with names sorted ('' for no tags):
 * seriesKey(metric, tags) is metric + seriesTagsKey(tags). A beacon's samples share
 * one tags object, so a caller keying many of them builds this once a beacon.
 */
export function seriesTagsKey(tags: Record<string, string> | null): string {
  if (tags === null) return ''
  const names = Object.keys(tags)
  if (names.length === 0) return ''
  names.sort()
  let key = '{'
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string
    key += (i > 0 ? ',' : '') + name + '=' + tags[name]
  }
  return key + '}'
}

/** FNV-1a 32-bit: fast, dependency-free, and stable across processes and versions. */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let hash = seed
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** The partition a series belongs to: the same tenant and series always land in the same one. */
export function partitionOf(tenant: string, series: string, partitions: number): number {
  return fnv1a(series, tenantHashSeed(tenant)) % partitions
}

/** What partitionOf hashes a tenant's series keys from: compute it once for many samples of one tenant. */
export function tenantHashSeed(tenant: string): number {
  return fnv1a(tenant + '\u0000')
}

/**
 * partitionOf(tenant, seriesKey(metric, tags), partitions) from its pieces, building no
 * key: FNV-1a reads the text in order, so hashing the metric and then the tags part
 * equals hashing them joined. `seed` is tenantHashSeed(tenant), `tagsKey` seriesTagsKey(tags).
 */
export function seriesPartition(seed: number, metric: string, tagsKey: string, partitions: number): number {
  return (tagsKey === '' ? fnv1a(metric, seed) : fnv1a(tagsKey, fnv1a(metric, seed))) % partitions
}
