// Turns the from/to/step a client sends into aligned bucket bounds. Both ends
// are aligned outward to whole steps, so raw rows and rollups give one answer.
import { QueryErrors } from './errors.ts'

export const MAX_POINTS = 10_000
/** Steps the server picks from when the client names none: about 300 points per chart. */
const NICE_STEPS_S = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
const TARGET_POINTS = 300

export interface TimeRange {
  fromMs: number
  toMs: number
  stepS: number
  points: number
}

/** Epoch milliseconds (digits) or an ISO 8601 date-time. */
export function parseInstant(value: string | number | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback
  const ms = typeof value === 'number' || /^\d+$/.test(value) ? Number(value) : Date.parse(value)
  if (!Number.isFinite(ms)) throw new QueryErrors.InvalidRange(`${name} must be epoch milliseconds or an ISO 8601 date-time (got ${JSON.stringify(value)})`)
  return ms
}

export function resolveRange(query: { from?: string; to?: string; step?: number }, now = Date.now()): TimeRange {
  const to = parseInstant(query.to, 'to', now)
  const from = parseInstant(query.from, 'from', to - 3600_000)
  if (from >= to) throw new QueryErrors.InvalidRange(`from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`)
  const stepS = query.step ?? NICE_STEPS_S.find((s) => (to - from) / (s * 1000) <= TARGET_POINTS) ?? 86400
  const stepMs = stepS * 1000
  const fromMs = Math.floor(from / stepMs) * stepMs
  const toMs = Math.ceil(to / stepMs) * stepMs
  const points = (toMs - fromMs) / stepMs
  if (points > MAX_POINTS) throw new QueryErrors.TooManyPoints(String(points), String(MAX_POINTS))
  return { fromMs, toMs, stepS, points }
}
