// A rule's action ladder, configured in its annotations. promtool refuses any
// field of a rule it does not know (`field tidemark not found in type
// rulefmt.RuleNode`), so a Tidemark key beside `for:` would make the file
// unusable with Prometheus' own tools; annotations are free-form text that
// Prometheus, promtool and `tidemark rules test` all carry through unchanged.
// Labels were the other free-form place, but labels name the alert: changing
// a cooldown would turn it into a different alert.
//
//   annotations:
//     tidemark_actions: enable_read_replicas,expand_cache   # or "none"
//     tidemark_cooldown: 2m
//     tidemark_step_down_after: 5m
//
// The values are fixed text (no templates) and read once, when the file is
// compiled; any other `tidemark_*` annotation is refused as a likely typo.
import { parseDuration } from './duration.ts'

/** What an autoscaler does at each step, in the specification's order: the cheapest, least disruptive first. */
export const LADDER_ACTIONS = ['enable_read_replicas', 'expand_cache', 'add_workers', 'degrade'] as const
export type LadderAction = (typeof LADDER_ACTIONS)[number]

/** One step up per cooldown while the alert keeps firing: long enough for the last action to take effect. */
export const DEFAULT_COOLDOWN_MS = 2 * 60_000
/** One step down per this long after the alert resolved; longer than the cooldown, so the ladder does not flap. */
export const DEFAULT_STEP_DOWN_AFTER_MS = 5 * 60_000

export const LADDER_ANNOTATIONS = {
  actions: 'tidemark_actions',
  cooldown: 'tidemark_cooldown',
  stepDownAfter: 'tidemark_step_down_after',
} as const

export interface LadderSettings {
  /** Step k (1-based) is actions[k - 1]; empty: the rule only notifies. */
  actions: readonly LadderAction[]
  cooldownMs: number
  stepDownAfterMs: number
}

export const DEFAULT_LADDER: LadderSettings = Object.freeze({
  actions: LADDER_ACTIONS,
  cooldownMs: DEFAULT_COOLDOWN_MS,
  stepDownAfterMs: DEFAULT_STEP_DOWN_AFTER_MS,
})

const KNOWN = new Set<string>(Object.values(LADDER_ANNOTATIONS))
const ACTIONS = new Set<string>(LADDER_ACTIONS)

export interface LadderProblem {
  field: string
  problem: string
}

/**
 * The ladder a rule's annotations ask for (the default where they say
 * nothing). Problems are appended with their field, under `at` (the
 * annotations' field, e.g. `groups[0].rules[1].annotations`).
 */
export function ladderFromAnnotations(annotations: Readonly<Record<string, string | number | boolean>> | undefined, at: string, problems: LadderProblem[]): LadderSettings {
  const settings = { actions: DEFAULT_LADDER.actions, cooldownMs: DEFAULT_LADDER.cooldownMs, stepDownAfterMs: DEFAULT_LADDER.stepDownAfterMs }
  for (const [name, raw] of Object.entries(annotations ?? {})) {
    if (!name.startsWith('tidemark_')) continue
    const field = `${at}.${name}`
    if (!KNOWN.has(name)) {
      problems.push({ field, problem: `is not a Tidemark ladder setting (use ${[...KNOWN].join(', ')})` })
      continue
    }
    const text = String(raw).trim()
    if (text.includes('{{')) {
      problems.push({ field, problem: 'is a ladder setting, read once when the rule is loaded: write it as plain text, not a template' })
      continue
    }
    if (name === LADDER_ANNOTATIONS.actions) {
      const actions = parseActions(text, field, problems)
      if (actions !== undefined) settings.actions = actions
      continue
    }
    const ms = parseDuration(text)
    if (ms === undefined || ms <= 0) {
      problems.push({ field, problem: `"${text}" is not a duration longer than zero (write it like 30s, 2m or 1h)` })
      continue
    }
    if (name === LADDER_ANNOTATIONS.cooldown) settings.cooldownMs = ms
    else settings.stepDownAfterMs = ms
  }
  return settings
}

function parseActions(text: string, field: string, problems: LadderProblem[]): LadderAction[] | undefined {
  if (text === '' || text === 'none') return []
  const names = text.split(',').map((s) => s.trim())
  const bad = names.filter((n) => !ACTIONS.has(n))
  if (bad.length > 0) {
    problems.push({ field, problem: `${bad.map((b) => `"${b}"`).join(', ')} ${bad.length > 1 ? 'are not actions' : 'is not an action'}: write a comma-separated list of ${LADDER_ACTIONS.join(', ')}, or none` })
    return undefined
  }
  const repeated = names.filter((n, i) => names.indexOf(n) !== i)
  if (repeated.length > 0) {
    problems.push({ field, problem: `"${repeated[0]}" is listed twice: each step is a different action` })
    return undefined
  }
  return names as LadderAction[]
}
