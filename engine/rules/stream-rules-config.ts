// The main thread's side of rules in the stream engine: the rules in effect,
// as the worker threads are sent them with each partition generation
// (stream-rules.ts compiles them there), and the evaluation grid the
// partitions must broadcast the watermark on.
import { sha256Hex } from '../tenancy/digest.ts'
import type { RuleGroup } from './rule-file.ts'
import type { RuleStore } from './rule-store.ts'
import type { StreamRulesConfig } from './stream-rules.ts'

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b)
}

export interface StreamRulesSnapshot {
  config: StreamRulesConfig
  /** The gcd of every group's interval: each group's grid times are pane boundaries. */
  evaluationIntervalMs: number | undefined
}

export function streamRulesSnapshot(store: RuleStore): StreamRulesSnapshot {
  const base = store.baseRules()
  const tenants: StreamRulesConfig['tenants'] = {}
  let interval = 0
  const grid = (groups: readonly RuleGroup[]): void => {
    for (const g of groups) interval = gcd(interval, g.intervalMs)
  }
  grid(base.groups)
  for (const tenant of store.tenantsWithRules()) {
    const rules = store.rulesOf(tenant)
    tenants[tenant] = rules.layered.spec
    grid(rules.groups)
  }
  const body = { base: base.layered.spec, tenants }
  return { config: { version: sha256Hex(JSON.stringify(body)), ...body }, evaluationIntervalMs: interval > 0 ? interval : undefined }
}
