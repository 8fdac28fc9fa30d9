// Layered rules: the same override-by-alert-name as withDefaults for two layers, extended to three.
import { describe, expect, it } from 'vitest'
import { DEFAULT_RULES, withDefaults } from '../../engine/rules/default-rules.ts'
import type { RuleFileSpec } from '../../engine/rules/rule-file.ts'
import { layerRules } from '../../engine/rules/rule-layers.ts'

const rule = (alert: string) => ({ alert, expr: `${alert.toLowerCase()} > 1` })

describe('layerRules', () => {
  const tenants: [string, RuleFileSpec][] = [
    ['nothing', { groups: [] }],
    ['a new alert', { groups: [{ name: 'mine', rules: [rule('Mine')] }] }],
    ['one default overridden', { groups: [{ name: 'mine', rules: [rule('HighCpuUsage'), rule('Mine')] }] }],
    ['every default overridden', { groups: [{ name: 'a', rules: [rule('HighCpuUsage'), rule('HighMemoryUsage')] }, { name: 'b', rules: [rule('HighResponseTime')] }] }],
  ]
  for (const [what, tenant] of tenants) {
    it(`agrees with withDefaults for two layers: ${what}`, () => {
      const layered = layerRules([
        { source: 'default', spec: DEFAULT_RULES },
        { source: 'tenant', spec: tenant },
      ])
      const expected = withDefaults(tenant)
      expect(layered.spec.groups.map((g) => [g.name, (g.rules ?? []).map((r) => r.alert)])).toEqual(expected.groups.map((g) => [g.name, (g.rules ?? []).map((r) => r.alert)]))
    })
  }

  it('lets the highest layer that defines an alert win, and reports each override', () => {
    const layered = layerRules([
      { source: 'default', spec: { groups: [{ name: 'd', rules: [rule('A'), rule('B'), rule('C')] }] } },
      { source: 'file', spec: { groups: [{ name: 'f', rules: [rule('A'), rule('B')] }] } },
      { source: 'tenant', spec: { groups: [{ name: 't', rules: [rule('A')] }] } },
    ])
    expect(layered.groups.map((g) => [g.source, g.spec.name, (g.spec.rules ?? []).map((r) => r.alert)])).toEqual([
      ['default', 'd', ['C']],
      ['file', 'f', ['B']],
      ['tenant', 't', ['A']],
    ])
    expect(layered.overrides).toEqual([
      { alert: 'A', by: 'tenant', replaced: 'default', group: 'd' },
      { alert: 'B', by: 'file', replaced: 'default', group: 'd' },
      { alert: 'A', by: 'tenant', replaced: 'file', group: 'f' },
    ])
  })

  it('keeps names unique when several layers use one group name', () => {
    const layered = layerRules([
      { source: 'default', spec: { groups: [{ name: 'g', rules: [rule('A')] }] } },
      { source: 'file', spec: { groups: [{ name: 'g', rules: [rule('B')] }] } },
      { source: 'tenant', spec: { groups: [{ name: 'g', rules: [rule('C')] }, { name: 'g (tenant)', rules: [rule('D')] }] } },
    ])
    const names = layered.spec.groups.map((g) => g.name)
    expect(names).toEqual(['g', 'g (file)', 'g (tenant)', 'g (tenant) (tenant)'])
    expect(new Set(names).size).toBe(names.length)
    expect(layered.groups.map((g) => g.ownName)).toEqual(['g', 'g', 'g', 'g (tenant)'])
  })
})
