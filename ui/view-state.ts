// The view's state in the URL, so a link shows the same metric over the same
// range: `?metric=…&range=6h` or `?metric=…&from=<ISO>&to=<ISO>`. Never the
// apiKey: a URL is shared, pasted and logged.

/** The picker's presets, by the name the URL uses. */
export const PRESETS: Record<string, number> = {
  '15m': 15 * 60_000,
  '1h': 3_600_000,
  '6h': 6 * 3_600_000,
  '24h': 24 * 3_600_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
}

export const DEFAULT_PRESET = '1h'

export interface ViewState {
  metric?: string
  /** A preset name, or 'custom' with from/to. */
  range: string
  fromMs?: number
  toMs?: number
}

export function readUrl(search = location.search): Partial<ViewState> {
  const params = new URLSearchParams(search)
  const state: Partial<ViewState> = {}
  const metric = params.get('metric')
  if (metric) state.metric = metric
  const from = Date.parse(params.get('from') ?? '')
  const to = Date.parse(params.get('to') ?? '')
  if (Number.isFinite(from) && Number.isFinite(to) && from < to) Object.assign(state, { range: 'custom', fromMs: from, toMs: to })
  else if (params.get('range') && PRESETS[params.get('range')!] !== undefined) state.range = params.get('range')!
  return state
}

export function writeUrl(state: ViewState): void {
  const params = new URLSearchParams()
  if (state.metric) params.set('metric', state.metric)
  if (state.range === 'custom' && state.fromMs !== undefined && state.toMs !== undefined) {
    params.set('from', new Date(state.fromMs).toISOString())
    params.set('to', new Date(state.toMs).toISOString())
  } else params.set('range', state.range)
  const url = `${location.pathname}?${params}${location.hash}`
  // replaceState: every zoom and pick would otherwise be a Back-button step.
  if (url !== `${location.pathname}${location.search}${location.hash}`) history.replaceState(null, '', url)
}

/** For datetime-local inputs, which read and show the browser's local time. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000)
  return d.toISOString().slice(0, 19)
}

export function fromLocalInput(value: string): number {
  // A datetime-local value without a zone is local time to Date.parse.
  return value ? new Date(value).getTime() : NaN
}
