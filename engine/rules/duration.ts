// Durations in Prometheus' own syntax (model.ParseDuration): unit groups in
// descending order, each at most once: `1y2w3d4h5m6s7ms`, `90s`, `500ms`, and a
// bare `0`. A year is 365 days and a week 7, as Prometheus counts them.

const UNITS: readonly (readonly [suffix: string, ms: number])[] = [
  ['y', 365 * 24 * 3600_000],
  ['w', 7 * 24 * 3600_000],
  ['d', 24 * 3600_000],
  ['h', 3600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
]

const DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/

/** Milliseconds of a Prometheus duration, or undefined when the text is not one. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0
  if (text === '') return undefined
  const m = DURATION.exec(text)
  if (m === null) return undefined
  let ms = 0
  for (let i = 0; i < UNITS.length; i++) {
    const group = m[i + 1]
    if (group !== undefined) ms += Number(group) * (UNITS[i] as readonly [string, number])[1]
  }
  return Number.isSafeInteger(ms) ? ms : undefined
}

/** The shortest Prometheus form of a duration: 90000 -> "1m30s", 0 -> "0s" (as promtool prints eval times). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s'
  let rest = Math.abs(ms)
  let text = ms < 0 ? '-' : ''
  for (const [suffix, unit] of UNITS) {
    if (rest >= unit) {
      text += `${Math.floor(rest / unit)}${suffix}`
      rest %= unit
    }
  }
  return text
}
