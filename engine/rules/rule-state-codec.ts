// A series' rule state as bytes, for the stream engine's partition snapshots
// (docs/stream.md, Replay): an 8-byte header ("TMRS", format version, three
// bytes reserved) and one msgpack array. The state of every group evaluator
// of the series (the samples its ranges and the instant selector's lookback
// still need, its grid position, its pending and firing alerts), the samples
// held for event-time order, the action ladder's rungs, and the last message
// the state includes. Rules are named by identity (name and label templates,
// ruleIdentity), never by position alone, so bytes restored under changed
// rules carry an alert only to the same rule, and each active alert keeps its
// labels: a rule gone by then can still be ended the way a removal ends it.
//
// Compact: the group evaluators of a series hold suffixes of the same samples,
// stored once (times as deltas, values as raw float64); a series whose rules
// hold nothing has no state at all (the caller keeps none).
import { Packr } from 'msgpackr'
import { EngineErrors } from '../errors.ts'
import { alertInstanceKey, type ActionLadderState } from './action-ladder.ts'
import type { ActiveAlert, AlertTransition, SeriesEvaluatorState } from './evaluator.ts'
import type { LadderSettings } from './ladder-settings.ts'

const MAGIC = [0x54, 0x4d, 0x52, 0x53] // "TMRS"
export const RULE_STATE_FORMAT_VERSION = 1
const HEADER_BYTES = 8

/** One group evaluator of the series. */
export interface SavedGroup {
  name: string
  intervalMs: number
  /** Its state; alerts by position among ruleIds. metric and tags are the series' (not stored). */
  state: SeriesEvaluatorState
  /** ruleIdentity of each rule the evaluator held, in its order. */
  ruleIds: string[]
  /** Its active alerts as they were: what ends an alert whose rule is gone when the bytes are restored. */
  active: ActiveAlert[]
}

export interface SeriesRuleState {
  /** The state includes the series' samples (and rule changes) of messages up to this seq. */
  throughSeq: number
  /** Grid times up to here were evaluated (-Infinity: none yet). */
  upTo: number
  /** The shortest evaluation interval of the series' groups. */
  intervalMs: number
  groups: SavedGroup[]
  /** Samples received but not yet passed by the watermark (in log order): not yet in any group evaluator. */
  held: { ts: number[]; values: number[] }
  ladder: ActionLadderState
}

type Samples = [ts: number[], values: Uint8Array]
type Alert = [pos: number, name: string, state: number, activeAt: number, value: number, keepFiringSince: number, firedAt: number, labels: Record<string, string>, annotations: Record<string, string>]
/** samples: how many of the shared run's last samples it holds, or its own when they are not such a suffix. */
type Group = [name: string, intervalMs: number, nextEval: number | null, lastEval: number | null, samples: number | Samples, stale: number[], ruleIds: string[], alerts: Alert[]]
type Rung = [last: ActionLadderState['rungs'][number][1], phase: number, step: number, nextAt: number | null, settings: LadderSettings]
type Body = [throughSeq: number, upTo: number, intervalMs: number, shared: Samples, groups: Group[], held: Samples, rungs: Rung[]]

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

function packSamples(ts: readonly number[], values: readonly number[]): Samples {
  const deltas = new Array<number>(ts.length)
  for (let i = 0; i < ts.length; i++) deltas[i] = i === 0 ? (ts[0] as number) : (ts[i] as number) - (ts[i - 1] as number)
  return [deltas, new Uint8Array(Float64Array.from(values).buffer)]
}

function unpackSamples(s: Samples, invalid: (why: string) => Error): { ts: number[]; values: number[] } {
  const [deltas, bytes] = s
  if (!Array.isArray(deltas) || !(bytes instanceof Uint8Array) || bytes.length !== deltas.length * 8) throw invalid('samples are malformed')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const ts = new Array<number>(deltas.length)
  const values = new Array<number>(deltas.length)
  for (let i = 0; i < deltas.length; i++) {
    const d = deltas[i]
    if (typeof d !== 'number' || !Number.isFinite(d)) throw invalid('a sample time is not a number')
    ts[i] = i === 0 ? d : (ts[i - 1] as number) + d
    values[i] = view.getFloat64(i * 8, true)
  }
  return { ts, values }
}

/** True when `suffix` is the tail of `run`. */
function isSuffix(run: readonly number[], suffix: readonly number[]): boolean {
  const off = run.length - suffix.length
  if (off < 0) return false
  for (let i = 0; i < suffix.length; i++) if (run[off + i] !== suffix[i]) return false
  return true
}

export function encodeRuleState(state: SeriesRuleState): Uint8Array {
  // The longest window holds the others as suffixes (every group gets every sample, pruned by its own ranges).
  let longest = state.groups[0]?.state
  for (const g of state.groups) if (g.state.ts.length > (longest as SeriesEvaluatorState).ts.length) longest = g.state
  const run = longest ?? { ts: [], values: [] }
  const groups: Group[] = state.groups.map((g) => {
    const s = g.state
    const shared = isSuffix(run.ts, s.ts) && isSuffix(run.values.slice(run.ts.length - s.ts.length), s.values)
    // active holds the evaluator's alerts in the order of its rules (SeriesEvaluator.activeAlerts), as s.alerts does.
    const alerts: Alert[] = []
    s.alerts.forEach((a, pos) => {
      if (a === null) return
      const active = g.active[alerts.length]
      alerts.push([pos, a[0], a[1], a[2], a[3], a[4], a[5], active?.labels ?? {}, active?.annotations ?? {}])
    })
    return [g.name, g.intervalMs, s.nextEval, s.lastEval, shared ? s.ts.length : packSamples(s.ts, s.values), s.stale, alerts.length > 0 ? g.ruleIds : [], alerts]
  })
  const rungs: Rung[] = state.ladder.rungs.map(([, last, phase, step, nextAt, settings]) => [last, phase, step, nextAt, settings])
  const body: Body = [state.throughSeq, state.upTo, state.intervalMs, packSamples(run.ts, run.values), groups, packSamples(state.held.ts, state.held.values), rungs]
  const packed = packr.pack(body)
  const bytes = new Uint8Array(HEADER_BYTES + packed.length)
  bytes.set(MAGIC, 0)
  bytes[4] = RULE_STATE_FORMAT_VERSION
  bytes.set(packed, HEADER_BYTES)
  return bytes
}

const isNum = (v: unknown): v is number => typeof v === 'number'
const isNumOrNull = (v: unknown): v is number | null => v === null || typeof v === 'number'
const isRecord = (v: unknown): v is Record<string, string> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The state encodeRuleState wrote, for the series (metric, tags) it belongs to; TM_ENGINE_RULE_STATE_INVALID otherwise. */
export function decodeRuleState(bytes: Uint8Array, metric: string, tags: Record<string, string> | null): SeriesRuleState {
  const invalid = (why: string): Error => new EngineErrors.RuleStateInvalid(why)
  if (!(bytes instanceof Uint8Array) || bytes.length < HEADER_BYTES) throw invalid('too short')
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw invalid('not a Tidemark rule state (bad magic)')
  if (bytes[4] !== RULE_STATE_FORMAT_VERSION) throw invalid(`format version ${bytes[4]}, this build reads ${RULE_STATE_FORMAT_VERSION}`)
  let body: Body
  try {
    body = packr.unpack(bytes.subarray(HEADER_BYTES)) as Body
  } catch (err) {
    throw new EngineErrors.RuleStateInvalid(`not msgpack: ${(err as Error).message}`, { cause: err })
  }
  if (!Array.isArray(body) || body.length !== 7) throw invalid('not a rule state body')
  const [throughSeq, upTo, intervalMs, sharedPacked, groupsPacked, heldPacked, rungs] = body
  if (!isNum(throughSeq) || !isNum(upTo) || !isNum(intervalMs) || !(intervalMs > 0) || !Array.isArray(groupsPacked) || !Array.isArray(rungs)) throw invalid('header fields out of range')
  const shared = unpackSamples(sharedPacked, invalid)
  const groups = groupsPacked.map((g): SavedGroup => {
    if (!Array.isArray(g) || g.length !== 8) throw invalid('a group is malformed')
    const [name, gInterval, nextEval, lastEval, samples, stale, ruleIds, alerts] = g
    if (typeof name !== 'string' || !isNum(gInterval) || !isNumOrNull(nextEval) || !isNumOrNull(lastEval) || !Array.isArray(stale) || !Array.isArray(ruleIds) || !Array.isArray(alerts)) throw invalid(`group ${String(name)} is malformed`)
    let own: { ts: number[]; values: number[] }
    if (isNum(samples)) {
      if (!Number.isInteger(samples) || samples < 0 || samples > shared.ts.length) throw invalid(`group ${name} names ${samples} shared samples`)
      own = { ts: shared.ts.slice(shared.ts.length - samples), values: shared.values.slice(shared.ts.length - samples) }
    } else own = unpackSamples(samples, invalid)
    const slots: SeriesEvaluatorState['alerts'] = ruleIds.map(() => null)
    const active: ActiveAlert[] = []
    for (const a of alerts) {
      if (!Array.isArray(a) || a.length !== 9) throw invalid(`an alert of group ${name} is malformed`)
      const [pos, alert, st, activeAt, value, keepFiringSince, firedAt, labels, annotations] = a
      if (!isNum(pos) || pos < 0 || pos >= slots.length || typeof alert !== 'string' || (st !== 1 && st !== 2) || !isNum(activeAt) || !isNum(value) || !isRecord(labels) || !isRecord(annotations)) throw invalid(`an alert of group ${name} is malformed`)
      slots[pos] = [alert, st, activeAt, value, keepFiringSince, firedAt]
      active.push({ group: name, alert, state: st === 2 ? 'firing' : 'pending', labels, annotations, value, activeAt, ...(st === 2 ? { firedAt } : {}) })
    }
    return { name, intervalMs: gInterval, ruleIds, active, state: { metric, tags, nextEval, lastEval, ts: own.ts, values: own.values, stale, alerts: slots } }
  })
  const ladder: ActionLadderState = {
    rungs: rungs.map((r) => {
      if (!Array.isArray(r) || r.length !== 5) throw invalid('a ladder rung is malformed')
      const [last, phase, step, nextAt, settings] = r
      if (!isRecord(last) || !isNum(phase) || !isNum(step) || !isNumOrNull(nextAt) || !isRecord(settings)) throw invalid('a ladder rung is malformed')
      // The key is the alert instance's, recomputed rather than stored.
      const t = last as unknown as AlertTransition
      return [alertInstanceKey(t.group, t.alert, t.labels), t, phase, step, nextAt, settings as unknown as LadderSettings]
    }),
  }
  return { throughSeq, upTo, intervalMs, groups, held: unpackSamples(heldPacked, invalid), ladder }
}
