// The specification's scaling triggers, as Prometheus rules every tenant has
// unless it overrides them: response time p95 over a minute above 500 ms; CPU
// above 80 % for 5 minutes; memory above 90 % for 5 minutes. A tenant's rule
// with the same alert name replaces the default (wherever the tenant puts it);
// the other defaults stay.
import { compileRuleFile, type RuleFileSpec, type RuleGroup } from './rule-file.ts'

export const DEFAULT_GROUP_NAME = 'tidemark-defaults'

/** 15 s, Prometheus' customary scrape and evaluation interval: a trigger reacts within 15 s of its condition. */
export const DEFAULT_RULES_INTERVAL = '15s'

export const DEFAULT_RULES: RuleFileSpec = {
  groups: [
    {
      name: DEFAULT_GROUP_NAME,
      interval: DEFAULT_RULES_INTERVAL,
      rules: [
        {
          alert: 'HighResponseTime',
          expr: 'quantile_over_time(0.95, response_time[1m]) > 500',
          labels: { severity: 'warning', action: 'scale' },
          annotations: {
            summary: 'p95 response time {{ $value | humanize }} ms over the last minute (above 500 ms)',
          },
        },
        {
          alert: 'HighCpuUsage',
          expr: 'cpu_usage > 80',
          for: '5m',
          labels: { severity: 'warning', action: 'scale' },
          annotations: { summary: 'CPU at {{ $value | humanize }} % for 5 minutes (above 80 %)' },
        },
        {
          alert: 'HighMemoryUsage',
          expr: 'memory_usage > 90',
          for: '5m',
          labels: { severity: 'warning', action: 'scale' },
          annotations: { summary: 'memory at {{ $value | humanize }} % for 5 minutes (above 90 %)' },
        },
      ],
    },
  ],
}

/** The alert names a rule file defines. */
function alertNames(spec: RuleFileSpec): Set<string> {
  const names = new Set<string>()
  for (const g of spec.groups) for (const r of g.rules ?? []) if (r.alert !== undefined) names.add(r.alert)
  return names
}

/**
 * A tenant's effective rules: the defaults less those the tenant overrides (same
 * alert name), then the tenant's own groups. A tenant group named like the
 * defaults' group is renamed so both can coexist.
 */
export function withDefaults(tenant: RuleFileSpec | undefined, defaults: RuleFileSpec = DEFAULT_RULES): RuleFileSpec {
  const own = tenant ?? { groups: [] }
  const overridden = alertNames(own)
  const kept = defaults.groups
    .map((g) => ({ ...g, rules: (g.rules ?? []).filter((r) => r.alert === undefined || !overridden.has(r.alert)) }))
    .filter((g) => g.rules.length > 0)
  const defaultNames = new Set(kept.map((g) => g.name))
  const tenantGroups = own.groups.map((g) => (defaultNames.has(g.name) ? { ...g, name: `${g.name} (tenant)` } : g))
  return { groups: [...kept, ...tenantGroups] }
}

/** The compiled effective rules of a tenant; throws RuleFileError for a bad tenant file. */
export function effectiveRuleGroups(tenant: RuleFileSpec | undefined, defaults: RuleFileSpec = DEFAULT_RULES): RuleGroup[] {
  return compileRuleFile(withDefaults(tenant, defaults)).groups
}
