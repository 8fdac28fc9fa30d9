// The dashboard: an apiKey, a metric and a range in; a chart, totals and a
// status line out, refreshed every few seconds because storage lags ingest.
import type uPlot from 'uplot'
import { AnalyticsChart } from './analytics-chart.ts'
import { ApiError, fetchAggregate, fetchMetricNames, type AggregateResponse, type MetricInfo } from './api.ts'
import { recall, remember } from './saved-settings.ts'
import { TotalsPanel } from './totals-panel.ts'

declare global {
  interface Window {
    /** For tests and the console: the live chart and the answer it draws. */
    __tidemark: { chart: uPlot; lastResponse: AggregateResponse | undefined }
  }
}

const REFRESH_MS = 5000
/** The picker's "type a name" entry; metric names start with a letter, so it never clashes. */
const OTHER = '+other'

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id)
  if (!element) throw new Error(`index.html lacks #${id}`)
  return element as T
}

const keyForm = byId<HTMLFormElement>('key-form')
const keyInput = byId<HTMLInputElement>('api-key')
const viewForm = byId<HTMLFormElement>('view-form')
const metricSelect = byId<HTMLSelectElement>('metric-select')
const metricInput = byId<HTMLInputElement>('metric-name')
const otherName = byId('other-name')
const rangeSelect = byId<HTMLSelectElement>('range')
const autoRefresh = byId<HTMLInputElement>('auto-refresh')
const statusLine = byId('status')

const chart = new AnalyticsChart(byId('chart'))
const totals = new TotalsPanel(byId('totals'))
window.__tidemark = { chart: chart.plot, lastResponse: undefined }

/** The key requests use: unset until one is entered, and again once the server rejects it, which stops polling. */
let apiKey: string | undefined
let metrics: MetricInfo[] | undefined
let inflight: AbortController | undefined

function setStatus(text: string, state: 'ok' | 'loading' | 'error' = 'ok'): void {
  statusLine.textContent = text
  statusLine.dataset.state = state
}

function selectedMetric(): string {
  return metricSelect.value === OTHER ? metricInput.value.trim() : metricSelect.value
}

function showOtherInput(): void {
  otherName.hidden = metricSelect.value !== OTHER
}

function fillMetricPicker(list: MetricInfo[], wanted: string | undefined): void {
  metricSelect.replaceChildren(...list.map((m) => new Option(`${m.name} (${m.kind})`, m.name)), new Option('Other…', OTHER))
  if (wanted && list.some((m) => m.name === wanted)) metricSelect.value = wanted
  else if (wanted) {
    // Known to the user but not (yet) to the rollup the list comes from.
    metricSelect.value = OTHER
    metricInput.value = wanted
  } else metricSelect.value = list[0]?.name ?? OTHER
  showOtherInput()
}

function clearChart(): void {
  chart.clear()
  totals.clear()
  window.__tidemark.lastResponse = undefined
}

function clearView(): void {
  metrics = undefined
  metricSelect.replaceChildren(new Option('Connect to list metrics', '', true, true))
  metricSelect.options[0]!.disabled = true
  showOtherInput()
  clearChart()
}

function formatStep(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds / 86400} d`
  if (seconds % 3600 === 0) return `${seconds / 3600} h`
  if (seconds % 60 === 0) return `${seconds / 60} min`
  return `${seconds} s`
}

/**
 * Loads what the view shows. A newer call aborts an older one, so a slow answer
 * never overwrites a fresh one. Timer ticks are quiet: they keep the last
 * "Updated" line until they have news, rather than flashing "Loading" every 5 s.
 */
async function refresh(options: { names?: boolean; quiet?: boolean } = {}): Promise<void> {
  const key = apiKey
  if (!key) return
  inflight?.abort()
  const request = new AbortController()
  inflight = request
  try {
    if (options.names || !metrics) {
      if (!options.quiet) setStatus('Loading metric names…', 'loading')
      const list = await fetchMetricNames(key, request.signal)
      metrics = list
      // Kept only once the server accepts it: a mistyped key is not worth remembering.
      remember('apiKey', key)
      fillMetricPicker(list, selectedMetric() || recall('metric'))
    }
    const metric = selectedMetric()
    if (!metric) {
      setStatus('Pick a metric, or choose Other… and type its name.')
      return
    }
    if (!options.quiet) setStatus(`Loading ${metric}…`, 'loading')
    const toMs = Date.now()
    const response = await fetchAggregate(key, { metric, fromMs: toMs - Number(rangeSelect.value), toMs }, request.signal)
    window.__tidemark.lastResponse = response
    chart.show(response.series)
    totals.show(response.total, metrics.find((m) => m.name === metric)?.kind)
    setStatus(`Updated ${new Date().toLocaleTimeString()}: ${metric}, ${response.series.t.length} buckets of ${formatStep(response.step)}`)
  } catch (err) {
    if (request.signal.aborted) return
    if (err instanceof ApiError && err.rejectsKey) {
      apiKey = undefined
      clearView()
    } else if (window.__tidemark.lastResponse?.metric !== selectedMetric()) {
      // Keep a stale chart of this metric through a blip, but never show another metric's under its name.
      clearChart()
    }
    setStatus(err instanceof ApiError ? err.message : `Cannot reach the server: ${(err as Error).message}`, 'error')
  } finally {
    if (inflight === request) inflight = undefined
  }
}

keyForm.addEventListener('submit', (event) => {
  event.preventDefault()
  apiKey = keyInput.value.trim()
  // Another key may be another tenant: nothing of the old view applies.
  clearView()
  void refresh({ names: true })
})

byId('forget-key').addEventListener('click', () => {
  inflight?.abort()
  apiKey = undefined
  keyInput.value = ''
  remember('apiKey', undefined)
  clearView()
  setStatus('API key forgotten. Enter one to load charts.')
})

metricSelect.addEventListener('change', () => {
  showOtherInput()
  if (metricSelect.value === OTHER) {
    metricInput.focus()
    if (!metricInput.value.trim()) return
  }
  remember('metric', selectedMetric())
  void refresh()
})

metricInput.addEventListener('change', () => {
  remember('metric', selectedMetric())
  void refresh()
})

rangeSelect.addEventListener('change', () => {
  remember('range', rangeSelect.value)
  void refresh()
})

// Enter in the name field or the Refresh button; names too, since new metrics appear as data arrives.
viewForm.addEventListener('submit', (event) => {
  event.preventDefault()
  void refresh({ names: true })
})

autoRefresh.addEventListener('change', () => {
  if (autoRefresh.checked) void refresh({ quiet: true })
})

// A hidden tab skips its ticks and catches up the moment it is shown again.
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && autoRefresh.checked) void refresh({ quiet: true })
})

setInterval(() => {
  // A tick never cancels a request still running: on a slow server it would cancel every one.
  if (autoRefresh.checked && !document.hidden && !inflight) void refresh({ quiet: true })
}, REFRESH_MS)

const savedRange = recall('range')
if (savedRange && [...rangeSelect.options].some((o) => o.value === savedRange)) rangeSelect.value = savedRange
const savedKey = recall('apiKey')
if (savedKey) {
  keyInput.value = savedKey
  apiKey = savedKey
  void refresh({ names: true })
}
