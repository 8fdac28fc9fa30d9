// A tenant's effective rules from three layers, lowest first: the
// specification's defaults, the operator's file (TIDEMARK_RULES_FILE, for
// every tenant), the tenant's own file (the rules API). A layer overrides a
// rule of a lower one by alert name, wherever it puts it, exactly as
// withDefaults does for two layers; the rest of the lower layer stays. So an
// operator can retune the defaults for everyone, and a tenant can retune
// either for itself, and nobody's rule silently vanishes behind a group name.
// Each group of the result says which layer it came from.
import type { RuleFileSpec, RuleGroupSpec } from './rule-file.ts'

export type RuleSource = 'default' | 'file' | 'tenant'

export interface RuleLayer {
  source: RuleSource
  spec: RuleFileSpec
}

export interface LayeredGroup {
  source: RuleSource
  /** The group's name in the layer's own file (the effective name differs when two layers use one name). */
  ownName: string
  spec: RuleGroupSpec
}

export interface Override {
  alert: string
  /** The layer whose rule is in effect. */
  by: RuleSource
  /** The layer whose rule it replaced. */
  replaced: RuleSource
  group: string
}

export interface LayeredRules {
  spec: RuleFileSpec
  groups: LayeredGroup[]
  overrides: Override[]
}

/** Merges layers (lowest first); group names stay unique by suffixing a later layer's clashing name with its source. */
export function layerRules(layers: readonly RuleLayer[]): LayeredRules {
  const definedAbove: Map<string, RuleSource>[] = layers.map(() => new Map())
  for (let i = layers.length - 2; i >= 0; i--) {
    // The layer whose rule is in effect is the highest that defines the alert: layer i + 1, unless one above it does too.
    const above = new Map<string, RuleSource>()
    const next = layers[i + 1] as RuleLayer
    for (const g of next.spec.groups) for (const r of g.rules ?? []) if (r.alert !== undefined) above.set(r.alert, next.source)
    for (const [alert, source] of definedAbove[i + 1] as Map<string, RuleSource>) above.set(alert, source)
    definedAbove[i] = above
  }
  const groups: LayeredGroup[] = []
  const overrides: Override[] = []
  const names = new Set<string>()
  layers.forEach((layer, i) => {
    const above = definedAbove[i] as Map<string, RuleSource>
    for (const g of layer.spec.groups) {
      const rules = (g.rules ?? []).filter((r) => {
        const by = r.alert === undefined ? undefined : above.get(r.alert)
        if (by !== undefined) overrides.push({ alert: r.alert as string, by, replaced: layer.source, group: g.name })
        return by === undefined
      })
      // A group every rule of which is overridden is gone; one that was empty to begin with is kept as written.
      if (rules.length === 0 && (g.rules ?? []).length > 0) continue
      let name = g.name
      for (let n = 1; names.has(name); n++) name = `${g.name} (${layer.source}${n > 1 ? ` ${n}` : ''})`
      names.add(name)
      groups.push({ source: layer.source, ownName: g.name, spec: { ...g, name, rules } })
    }
  })
  return { spec: { groups: groups.map((g) => g.spec) }, groups, overrides }
}
