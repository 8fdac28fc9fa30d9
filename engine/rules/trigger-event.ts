// A trigger event: one transition of an alert (pending, firing, resolved,
// inactive) or one step of its action ladder, as autoscalers receive it on
// `tm.triggers.<tenant>.<rule>` and as ClickHouse keeps it. The TypeBox
// schema below is the one definition; docs/triggers.md prints it as JSON
// Schema (a test checks they agree).
//
// The id is a digest of what makes the event the event (tenant, group, rule,
// the alert's labels, state, change, event time, step), nothing of when or by
// whom it was computed: a replay after a restart recomputes the same id, and
// JetStream's duplicate window (msgID = id) and ClickHouse's
// ReplacingMergeTree each keep it once.
import { Type, type Static } from '@sinclair/typebox'
import { sha256Hex } from '../tenancy/digest.ts'
import { TRIGGERS_SUBJECT_PREFIX } from '../nats/subjects.ts'
import type { LadderEvent } from './action-ladder.ts'
import { LADDER_ACTIONS } from './ladder-settings.ts'

export const TRIGGER_EVENT_VERSION = 1

const literals = <T extends string>(values: readonly T[], description: string) => Type.Union(values.map((v) => Type.Literal(v)), { description })

const EpochMs = (description: string) => Type.Integer({ description: `${description} (epoch milliseconds, event time)` })
const Action = literals(LADDER_ACTIONS, 'an action of the ladder')

export const TriggerEventSchema = Type.Object(
  {
    version: Type.Literal(TRIGGER_EVENT_VERSION, { description: 'the shape of this event; a new version may add fields' }),
    id: Type.String({ pattern: '^[0-9a-f]{32}$', description: 'stable: the same event (after a replay too) has the same id; the JetStream message id' }),
    tenant: Type.String({ description: 'the tenant whose data fired the rule' }),
    group: Type.String({ description: 'the rule group' }),
    rule: Type.String({ description: 'the alert name (the rule\'s `alert`)' }),
    labels: Type.Record(Type.String(), Type.String(), { description: 'the alert\'s labels: series tags, then the rule\'s labels, then alertname; they identify the alert instance' }),
    annotations: Type.Record(Type.String(), Type.String(), { description: 'the rule\'s annotations, rendered with the value' }),
    state: literals(['pending', 'firing', 'resolved', 'inactive'] as const, 'the alert\'s state after this event'),
    change: literals(['alert', 'escalate', 'step_down'] as const, 'alert: the alert changed state; escalate / step_down: only the ladder\'s step changed'),
    value: Type.Union([Type.Number(), Type.Literal('NaN'), Type.Literal('+Inf'), Type.Literal('-Inf')], {
      description: 'the expression\'s value at the alert\'s last state change; NaN and infinities as Prometheus writes them, as JSON has no such numbers',
    }),
    activeAt: EpochMs('when the alert became pending'),
    at: EpochMs('when this happened: the evaluation time of a state change, the due time of a step'),
    step: Type.Integer({ minimum: 0, description: 'the ladder step in effect after this event: 0 (nothing) to the length of the ladder' }),
    previousStep: Type.Integer({ minimum: 0, description: 'the step before this event: step > previousStep turned actions on, step < previousStep turned them off' }),
    action: Type.Union([Action, Type.Null()], { description: 'the highest action in effect after this event (ladder[step - 1]); null at step 0' }),
    ladder: Type.Array(Action, { description: 'the rule\'s actions in order: step k is ladder[k - 1]' }),
  },
  { additionalProperties: false, $id: 'urn:tidemark:trigger-event:1', title: 'Tidemark trigger event' }
)

export type TriggerEvent = Static<typeof TriggerEventSchema>

/** NaN and infinities cannot be JSON numbers: written as Prometheus writes them. */
export function encodeValue(value: number): TriggerEvent['value'] {
  if (Number.isFinite(value)) return value
  if (Number.isNaN(value)) return 'NaN'
  return value > 0 ? '+Inf' : '-Inf'
}

export function decodeValue(value: TriggerEvent['value']): number {
  if (typeof value === 'number') return value
  return value === 'NaN' ? NaN : value === '+Inf' ? Infinity : -Infinity
}

/** The stable id: a digest of what makes the event itself, never of when or where it was computed. */
export function triggerEventId(e: Pick<TriggerEvent, 'tenant' | 'group' | 'rule' | 'labels' | 'state' | 'change' | 'at' | 'step'>): string {
  const names = Object.keys(e.labels).sort()
  const identity = ['tm.trigger.v1', e.tenant, e.group, e.rule, names.map((n) => [n, e.labels[n]]), e.state, e.change, e.at, e.step]
  return sha256Hex(JSON.stringify(identity)).slice(0, 32)
}

export function toTriggerEvent(tenant: string, e: LadderEvent): TriggerEvent {
  const event: Omit<TriggerEvent, 'id'> = {
    version: TRIGGER_EVENT_VERSION,
    tenant,
    group: e.group,
    rule: e.alert,
    labels: e.labels,
    annotations: e.annotations,
    state: e.state,
    change: e.change,
    value: encodeValue(e.value),
    activeAt: e.activeAt,
    at: e.at,
    step: e.step,
    previousStep: e.previousStep,
    action: e.action,
    ladder: [...e.ladder],
  }
  return { id: triggerEventId(event), ...event }
}

// Subjects. A NATS token may not hold '.', '*', '>' or white space, and alert
// names may (Prometheus and promtool accept any string). The rule's token keeps
// A-Z a-z 0-9 _ - as they are and writes every other UTF-8 byte as ~XX (hex,
// upper case): reversible, and a plain name like HighCpuUsage is its own token.
// A name whose token would pass MAX_RULE_TOKEN characters keeps a readable
// prefix and ends in ~~ and 16 hex digits of its SHA-256 (~~ cannot occur in
// the reversible form, which writes ~ as ~7E): subjects stay far below the
// server's 4 KiB control line, and the event's `rule` field holds the name.

/** Longest rule token; longer encodings are hashed. */
export const MAX_RULE_TOKEN = 128
const PLAIN = /^[A-Za-z0-9_-]$/
const HASHED_MARK = '~~'

export function ruleToken(rule: string): string {
  let token = ''
  for (const ch of rule) {
    if (PLAIN.test(ch)) token += ch
    else for (const byte of Buffer.from(ch, 'utf8')) token += '~' + byte.toString(16).toUpperCase().padStart(2, '0')
  }
  if (token.length <= MAX_RULE_TOKEN) return token
  let prefix = token.slice(0, MAX_RULE_TOKEN - HASHED_MARK.length - 16)
  // Never cut an escape in half: drop a partial ~X or ~ at the end.
  const cut = prefix.lastIndexOf('~')
  if (cut >= prefix.length - 2 && cut >= 0) prefix = prefix.slice(0, cut)
  return prefix + HASHED_MARK + sha256Hex(rule).slice(0, 16)
}

/** The alert name a token stands for; undefined for a hashed token (read the event's `rule`) or one ruleToken never makes. */
export function ruleFromToken(token: string): string | undefined {
  if (token.includes(HASHED_MARK) || !/^(?:[A-Za-z0-9_-]|~[0-9A-F]{2})+$/.test(token)) return undefined
  const bytes: number[] = []
  for (let i = 0; i < token.length; ) {
    if (token[i] === '~') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16))
      i += 3
    } else {
      bytes.push(token.charCodeAt(i))
      i++
    }
  }
  const decoded = Buffer.from(bytes).toString('utf8')
  // Only the canonical form decodes: a token with an escape ruleToken would not write maps to no name.
  return ruleToken(decoded) === token ? decoded : undefined
}

const TENANT_TOKEN = /^[A-Za-z0-9_-]+$/

/** `tm.triggers.<tenant>.<rule token>`: a subscriber takes one tenant with `tm.triggers.<tenant>.>`. */
export function triggerSubject(tenant: string, rule: string): string {
  if (!TENANT_TOKEN.test(tenant)) throw new TypeError(`tenant id "${tenant}" is not a NATS subject token`)
  return `${TRIGGERS_SUBJECT_PREFIX}${tenant}.${ruleToken(rule)}`
}

/** Every trigger of one tenant. */
export function tenantTriggerSubjects(tenant: string): string {
  if (!TENANT_TOKEN.test(tenant)) throw new TypeError(`tenant id "${tenant}" is not a NATS subject token`)
  return `${TRIGGERS_SUBJECT_PREFIX}${tenant}.>`
}
