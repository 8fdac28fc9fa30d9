// Trigger events: the schema every event meets (and docs/triggers.md prints), the stable id,
// and subjects that are valid NATS tokens for any alert name.
import fs from 'node:fs'
import { Value } from '@sinclair/typebox/value'
import { describe, expect, it } from 'vitest'
import type { LadderEvent } from '../../engine/rules/action-ladder.ts'
import { LADDER_ACTIONS } from '../../engine/rules/ladder-settings.ts'
import { decodeValue, MAX_RULE_TOKEN, ruleFromToken, ruleToken, tenantTriggerSubjects, toTriggerEvent, triggerEventId, triggerSubject, TriggerEventSchema } from '../../engine/rules/trigger-event.ts'

const ladderEvent = (extra: Partial<LadderEvent> = {}): LadderEvent => ({
  group: 'tidemark-defaults',
  alert: 'HighCpuUsage',
  state: 'firing',
  change: 'escalate',
  labels: { alertname: 'HighCpuUsage', host: 'web-1', severity: 'warning' },
  annotations: { summary: 'CPU at 85 %' },
  value: 85,
  activeAt: 1_760_000_010_000,
  at: 1_760_000_430_000,
  step: 2,
  previousStep: 1,
  action: 'expand_cache',
  ladder: LADDER_ACTIONS,
  ...extra,
})

describe('the event', () => {
  it('meets its schema, NaN and infinities included', () => {
    for (const value of [85, 0, -1.5e-300, NaN, Infinity, -Infinity]) {
      const event = toTriggerEvent('t_0123abcd', ladderEvent({ value }))
      expect(Value.Errors(TriggerEventSchema, event).First()).toBeUndefined()
      // What travels is JSON: it must come back the same.
      const back = JSON.parse(JSON.stringify(event))
      expect(back).toEqual(event)
      expect(decodeValue(back.value)).toBe(value)
    }
    expect(toTriggerEvent('t_1', ladderEvent({ value: NaN })).value).toBe('NaN')
    expect(toTriggerEvent('t_1', ladderEvent({ step: 0, previousStep: 1, action: null })).action).toBeNull()
  })

  it('is refused by the schema with a field it does not know, or a step below 0', () => {
    const event = toTriggerEvent('t_1', ladderEvent())
    expect(Value.Check(TriggerEventSchema, { ...event, extra: 1 })).toBe(false)
    expect(Value.Check(TriggerEventSchema, { ...event, step: -1 })).toBe(false)
    expect(Value.Check(TriggerEventSchema, { ...event, action: 'reboot' })).toBe(false)
  })
})

describe('the id', () => {
  it('is the same for the same event however its labels are ordered, and 32 hex digits', () => {
    const a = toTriggerEvent('t_1', ladderEvent())
    const b = toTriggerEvent('t_1', ladderEvent({ labels: { severity: 'warning', host: 'web-1', alertname: 'HighCpuUsage' }, annotations: { summary: 'other text' }, value: 99 }))
    expect(a.id).toMatch(/^[0-9a-f]{32}$/)
    // Value and annotations are what was observed, not what identifies the event: a replay may render them alike anyway.
    expect(b.id).toBe(a.id)
  })

  it('differs for anything that makes another event', () => {
    const base = ladderEvent()
    const id = toTriggerEvent('t_1', base).id
    const variants: [string, string][] = [
      ['tenant', toTriggerEvent('t_2', base).id],
      ['group', toTriggerEvent('t_1', { ...base, group: 'g2' }).id],
      ['rule', toTriggerEvent('t_1', { ...base, alert: 'Other' }).id],
      ['a label', toTriggerEvent('t_1', { ...base, labels: { ...base.labels, host: 'web-2' } }).id],
      ['state', toTriggerEvent('t_1', { ...base, state: 'resolved' }).id],
      ['change', toTriggerEvent('t_1', { ...base, change: 'alert' }).id],
      ['at', toTriggerEvent('t_1', { ...base, at: base.at + 1 }).id],
      ['step', toTriggerEvent('t_1', { ...base, step: 3 }).id],
    ]
    for (const [what, other] of variants) expect(other, what).not.toBe(id)
    expect(new Set(variants.map((v) => v[1])).size).toBe(variants.length)
  })

  it('cannot be faked by moving characters between label names and values', () => {
    const e = { tenant: 't', group: 'g', rule: 'r', state: 'firing' as const, change: 'alert' as const, at: 1, step: 1 }
    expect(triggerEventId({ ...e, labels: { a: 'b,c=d' } })).not.toBe(triggerEventId({ ...e, labels: { a: 'b', c: 'd' } }))
  })
})

describe('subjects', () => {
  const TOKEN = /^[A-Za-z0-9_~-]+$/

  it('keeps a plain alert name as its own token', () => {
    expect(triggerSubject('t_0123abcd', 'HighCpuUsage')).toBe('tm.triggers.t_0123abcd.HighCpuUsage')
    expect(tenantTriggerSubjects('t_0123abcd')).toBe('tm.triggers.t_0123abcd.>')
  })

  it('escapes what a NATS token cannot hold, reversibly', () => {
    const names = ['High Cpu', 'a.b', 'x*', 'y>', 'tab\there', '~tilde', 'ünïcödé 🔥', '$SYS', '~7E', '..', ' ', 'a~~b']
    for (const name of names) {
      const token = ruleToken(name)
      expect(token, name).toMatch(TOKEN)
      expect(ruleFromToken(token), name).toBe(name)
    }
    expect(ruleToken('High Cpu.x*>')).toBe('High~20Cpu~2Ex~2A~3E')
    expect(new Set(names.map(ruleToken)).size).toBe(names.length)
  })

  it('round-trips random names, and decodes no token it would not write', () => {
    let seed = 7
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    const alphabet = 'aZ09_-. *>~\t$%é漢🔥'
    for (let i = 0; i < 2000; i++) {
      const name = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => [...alphabet][Math.floor(rand() * [...alphabet].length)]).join('')
      expect(ruleFromToken(ruleToken(name)), JSON.stringify(name)).toBe(name)
    }
    for (const token of ['~41', '~2e', '~', '~Z1', 'a.b', '~C3']) expect(ruleFromToken(token), token).toBeUndefined()
  })

  it('hashes a name whose token would be too long, keeping a readable prefix', () => {
    const long = 'Disk nearly full on '.repeat(20)
    const token = ruleToken(long)
    expect(token.length).toBeLessThanOrEqual(MAX_RULE_TOKEN)
    expect(token).toMatch(TOKEN)
    expect(token.startsWith('Disk~20nearly~20full')).toBe(true)
    expect(token).toMatch(/~~[0-9a-f]{16}$/)
    expect(ruleFromToken(token)).toBeUndefined()
    expect(ruleToken(long + 'x')).not.toBe(token)
    // Never a half escape before the mark.
    for (let n = 40; n < 60; n++) expect(ruleToken('.'.repeat(n))).toMatch(/^(~2E)+~~[0-9a-f]{16}$|^(~2E)+$/)
  })

  it('refuses a tenant id that is not one token', () => {
    expect(() => triggerSubject('t_1.>', 'A')).toThrow(/not a NATS subject token/)
    expect(() => tenantTriggerSubjects('*')).toThrow(/not a NATS subject token/)
  })
})

describe('docs/triggers.md', () => {
  it('prints the event schema exactly as the code defines it', () => {
    const doc = fs.readFileSync(new URL('../../docs/triggers.md', import.meta.url), 'utf8')
    const block = /<!-- trigger-event-schema -->\s*```json\n([\s\S]*?)```/.exec(doc)
    expect(block, 'a ```json block after <!-- trigger-event-schema -->').not.toBeNull()
    expect(JSON.parse((block as RegExpExecArray)[1] as string)).toEqual(JSON.parse(JSON.stringify(TriggerEventSchema)))
  })
})
