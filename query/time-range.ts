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

/**
 * The instants a range may name: 1970 to 2100. The rollups' bucket column is
 * ClickHouse's DateTime (1970 to 2106), and a 16-digit epoch would otherwise
 * reach ClickHouse as an out-of-range time (or break Date formatting) and come
 * back as a 500 or a 503 that blames storage for a bad request.
 */
export const MIN_INSTANT_MS = 0
export const MAX_INSTANT_MS = Date.UTC(2100, 0, 1)

/**
 * ISO 8601 date-time: date, T, hh:mm, optional :ss and fraction, optional Z or
 * ±hh[:mm]. Parsed here rather than by Date.parse, which reads a time without
 * an offset in the server's local zone and rolls 2026-02-31 over into March.
 */
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:(Z)|([+-])(\d{2})(?::?(\d{2}))?)?$/i

/** Milliseconds of an ISO date-time; without an offset it is UTC, as every instant Tidemark stores. NaN when it is not one. */
export function parseIsoInstant(text: string): number {
  const m = ISO_DATE_TIME.exec(text)
  if (!m) return NaN
  const field = (i: number): number => Number(m[i] ?? 0)
  const [year, month, day, hour, minute, second] = [field(1), field(2), field(3), field(4), field(5), field(6)]
  const [offsetH, offsetM] = [field(10), field(11)]
  const daysInMonth = [31, isLeapYear(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0
  if (day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59 || offsetH > 23 || offsetM > 59) return NaN
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3))
  const offsetMs = (m[9] === '-' ? -1 : 1) * (offsetH * 60 + offsetM) * 60_000
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, second, millis)
  return date.getTime() - offsetMs
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
}

/** Epoch milliseconds (digits) or an ISO 8601 date-time, between MIN_INSTANT_MS and MAX_INSTANT_MS. */
export function parseInstant(value: string | number | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback
  const ms = typeof value === 'number' || /^\d+$/.test(value) ? Number(value) : parseIsoInstant(value)
  if (!Number.isFinite(ms)) {
    throw new QueryErrors.InvalidRange(`${name} must be epoch milliseconds or an ISO 8601 date-time such as 2026-01-31T12:00:00Z (got ${JSON.stringify(value)})`)
  }
  if (ms < MIN_INSTANT_MS || ms > MAX_INSTANT_MS) {
    throw new QueryErrors.InvalidRange(`${name} must lie between 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z (got ${JSON.stringify(value)})`)
  }
  return ms
}

/**
 * The longest range one request may span: a year and a month, so a yearly report fits. At a day's step
 * that is 400 points; the bound keeps a raw read (any step not of whole minutes) from scanning years.
 */
export const MAX_RANGE_DAYS = 400

export function resolveRange(query: { from?: string; to?: string; step?: number }, now = Date.now()): TimeRange {
  // Nothing is stored past now (ingest refuses samples more than minutes ahead): a range ending later ends now,
  // so a chart of "today" has no empty buckets to come, and the points bound counts only what can hold data.
  const to = Math.min(parseInstant(query.to, 'to', now), now)
  const from = parseInstant(query.from, 'from', to - 3600_000)
  if (from >= to) {
    const why = from >= now ? ' (a to past now counts as now, and from lies in the future)' : ''
    throw new QueryErrors.InvalidRange(`from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})${why}`)
  }
  const stepS = query.step ?? NICE_STEPS_S.find((s) => (to - from) / (s * 1000) <= TARGET_POINTS) ?? 86400
  const stepMs = stepS * 1000
  const fromMs = Math.floor(from / stepMs) * stepMs
  const toMs = Math.ceil(to / stepMs) * stepMs
  const points = (toMs - fromMs) / stepMs
  if (points > MAX_POINTS) throw new QueryErrors.TooManyPoints(String(points), String(MAX_POINTS))
  if (to - from > MAX_RANGE_DAYS * 86_400_000) {
    throw new QueryErrors.InvalidRange(`the range spans ${Math.ceil((to - from) / 86_400_000)} days; at most ${MAX_RANGE_DAYS} are served: narrow it`)
  }
  return { fromMs, toMs, stepS, points }
}
