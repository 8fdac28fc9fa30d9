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
  if (tags === null) return metric
  const names = Object.keys(tags)
  if (names.length === 0) return metric
  names.sort()
  let key = metric + '{'
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
  return fnv1a(series, fnv1a(tenant + '\u0000')) % partitions
}
