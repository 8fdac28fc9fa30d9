// The dashboard: an apiKey, a metric and a range in; a chart, totals, the
// performance, cache and sites views and a status line out, refreshed every
// few seconds because storage lags ingest. The view (metric, range) lives in
// the URL; the key only in this tab and, once accepted, localStorage.
import type uPlot from 'uplot'
import { AnalyticsChart } from './analytics-chart.ts'
import {
  ApiError,
  fetchAggregate,
  fetchCache,
  fetchMetricNames,
  fetchPerformance,
  fetchSitesSummary,
  fetchTriggers,
  fetchUsage,
  type AggregateResponse,
  type MetricInfo,
  type TimeRange,
  type TriggerHistoryItem,
} from './api.ts'
import { CachePanel } from './cache-panel.ts'
import { unitOfKind, type ChartContext } from './chart-kit.ts'
import type { Panel } from './panel.ts'
import { followLive } from './live-stream.ts'
import { PerformanceDashboard } from './performance-dashboard.ts'
import { QueryConsole } from './query-console.ts'
import { RetentionPanel } from './retention-panel.ts'
import { TriggersTimeline } from './triggers-timeline.ts'
import { UsagePanel } from './usage-panel.ts'
import { recall, remember } from './saved-settings.ts'
import { SitesPanel } from './sites-panel.ts'
import { setupTheme } from './theme.ts'
import { TotalsPanel } from './totals-panel.ts'
import { DEFAULT_PRESET, fromLocalInput, PRESETS, readUrl, toLocalInput, writeUrl } from './view-state.ts'

declare global {
  interface Window {
    /** For tests and the console: the charts, the answer the main one draws, and the range queried. */
    __tidemark: {
      chart: uPlot
      lastResponse: AggregateResponse | undefined
      plots: Record<string, uPlot>
      range: TimeRange
      triggers: TriggerHistoryItem[]
      /** The SQL console's chart, when its last answer had a time column. */
      sql: () => uPlot | undefined
      /** Events received from /api/v2/live, by kind. */
      liveEvents: { aggregate: number; trigger: number }
      /** Refreshes the 5 s poll started: none while the live stream is connected. */
      polls: number
    }
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
const customRange = byId('custom-range')
const rangeFrom = byId<HTMLInputElement>('range-from')
const rangeTo = byId<HTMLInputElement>('range-to')
const autoRefresh = byId<HTMLInputElement>('auto-refresh')
const statusLine = byId('status')

/** The range the charts show: set when a refresh starts, so every chart of one refresh spans the same time. */
let viewRange: TimeRange = { fromMs: Date.now() - PRESETS[DEFAULT_PRESET]!, toMs: Date.now() }
/** The custom range, exact to the millisecond (the inputs show it to the second). */
let custom: TimeRange | undefined
let triggers: TriggerHistoryItem[] = []

const context: ChartContext = {
  range: () => viewRange,
  zoom: (fromMs, toMs) => {
    setCustomRange({ fromMs, toMs })
    void refresh()
  },
  annotations: () => triggers,
}

const chart = new AnalyticsChart(byId('chart'), context)
const totals = new TotalsPanel(byId('totals'))
const panelsRoot = byId('panels')
const performance = new PerformanceDashboard(panelsRoot, context)
const cache = new CachePanel(panelsRoot, context)
const sites = new SitesPanel(panelsRoot, context)
const timeline = new TriggersTimeline(panelsRoot)
const usage = new UsagePanel(panelsRoot)
const sqlConsole = new QueryConsole(panelsRoot, () => apiKey)
const retention = new RetentionPanel(panelsRoot, () => apiKey)
const plots: Record<string, uPlot> = { main: chart.plot, ...performance.plots(), cache: cache.plot, sites: sites.plot }
/** Every view below the metric chart: hidden until a key's metric names say what there is. */
const allPanels = [performance.panel, cache.panel, sites.panel, timeline.panel, usage.panel, sqlConsole.panel, retention.panel]
for (const panel of allPanels) panel.root.hidden = true
window.__tidemark = { sql: () => sqlConsole.plot, chart: chart.plot, lastResponse: undefined, plots, range: viewRange, triggers, liveEvents: { aggregate: 0, trigger: 0 }, polls: 0 }

const liveLine = byId('live')
/** The stream in use, and whether it is connected now: while it is, it drives the refreshes and the 5 s poll stands aside. */
let live: { stop(): void; what: string; connected: boolean } | undefined
/** Live events come once a step closes; a long range's step is capped so the views still move every minute. */
const LIVE_STEP_MAX_S = 60

function setLive(state: 'on' | 'off' | 'error', text: string): void {
  liveLine.dataset.state = state
  liveLine.textContent = text
  // What keeps the views fresh: the stream, the 5 s poll, or nothing (auto-refresh off).
  liveLine.dataset.updates = state === 'on' ? 'live' : autoRefresh.checked ? 'polling' : 'off'
  liveLine.title = state === 'on' ? 'Updates pushed by /api/v2/live: each closed step re-queries the views' : autoRefresh.checked ? 'Live updates are down: polling every 5 s until they are back' : 'Auto-refresh is off'
}

/**
 * Keeps one live stream for what is on screen: the chart's metric at its step (at most a minute).
 * A closed step re-queries (one query refreshes every view consistently); a trigger transition is
 * drawn at once. While connected it replaces the 5 s poll, which comes back only while it is down.
 */
function followWhatIsShown(key: string | undefined, metric: string | undefined, chartStepS: number | undefined): void {
  const stepS = chartStepS && Math.min(chartStepS, LIVE_STEP_MAX_S)
  const what = key && autoRefresh.checked && metric && stepS ? `${key}\n${metric}\n${stepS}` : ''
  if (live?.what === what) return
  live?.stop()
  live = undefined
  if (!what) {
    setLive('off', 'Live: off')
    return
  }
  const current = { stop: () => stream.stop(), what, connected: false }
  const stream = followLive(key!, { metrics: [metric!], stepS: stepS! }, {
    aggregate: () => {
      window.__tidemark.liveEvents.aggregate++
      if (!inflight) void refresh({ quiet: true })
    },
    trigger: (event) => {
      window.__tidemark.liveEvents.trigger++
      if (!triggers.some((t) => t.id === event.id)) {
        triggers = [event, ...triggers]
        window.__tidemark.triggers = triggers
        timeline.show(triggers, false)
        performance.redraw()
        chart.plot.redraw(false)
      }
      setLive('on', `Live: ${event.rule} ${event.state} at ${new Date(event.at).toLocaleTimeString()}`)
    },
    state: (connected, detail) => {
      current.connected = connected
      setLive(connected ? 'on' : 'error', connected ? 'Live' : `${detail} Polling every 5 s meanwhile.`)
    },
  })
  live = current
}

setupTheme(byId<HTMLButtonElement>('theme-toggle'), () => {
  for (const plot of Object.values(plots)) plot.redraw(false)
})

function setCustomRange(range: TimeRange): void {
  custom = range
  rangeSelect.value = 'custom'
  customRange.hidden = false
  rangeFrom.value = toLocalInput(range.fromMs)
  rangeTo.value = toLocalInput(range.toMs)
  saveView()
}

/** The range to query now: a preset ends now, a custom range is fixed. */
function currentRange(): TimeRange {
  if (rangeSelect.value === 'custom' && custom) return custom
  const toMs = Date.now()
  return { fromMs: toMs - (PRESETS[rangeSelect.value] ?? PRESETS[DEFAULT_PRESET]!), toMs }
}

function saveView(): void {
  const range = rangeSelect.value
  writeUrl({ metric: selectedMetric() || undefined, range, fromMs: custom?.fromMs, toMs: custom?.toMs })
  if (range !== 'custom') remember('range', range)
}

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
  followWhatIsShown(undefined, undefined, undefined)
  // Hidden until the next key's metric names say which views have data.
  for (const panel of allPanels) panel.root.hidden = true
  triggers = []
  window.__tidemark.triggers = triggers
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
  viewRange = currentRange()
  window.__tidemark.range = viewRange
  let panels: Promise<void> | undefined
  try {
    if (!metrics && !options.quiet) setStatus('Loading metric names…', 'loading')
    // Every time: the views below appear as the metrics they read arrive.
    const list = await fetchMetricNames(key, request.signal)
    // Kept only once the server accepts it: a mistyped key is not worth remembering.
    remember('apiKey', key)
    if (options.names || !metrics) {
      fillMetricPicker(list, selectedMetric() || fromUrl.metric || recall('metric'))
      saveView()
    }
    metrics = list
    // The other views load beside the metric chart; each says for itself what it lacks.
    panels = loadPanels(key, viewRange, request.signal, options.quiet ?? false, new Set(list.map((m) => m.name)))
    const metric = selectedMetric()
    if (!metric) {
      setStatus('Pick a metric, or choose Other… and type its name.')
      return
    }
    if (!options.quiet) setStatus(`Loading ${metric}…`, 'loading')
    const range = viewRange
    const response = await fetchAggregate(key, { metric, ...range }, request.signal)
    window.__tidemark.lastResponse = response
    const kind = metrics.find((m) => m.name === metric)?.kind
    chart.show(response.series, unitOfKind(kind))
    totals.show(response.total, kind)
    // Only a metric the tenant has: the live route refuses unknown names.
    if (metrics.some((m) => m.name === metric)) followWhatIsShown(key, metric, response.step)
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
    await panels
    if (inflight === request) inflight = undefined
  }
}

/** One view's load: its own loading, empty and error lines, so one failing route never blanks the others. */
async function loadPanel<T>(panel: Panel, quiet: boolean, empty: string, load: () => Promise<T>, show: (answer: T) => void, signal: AbortSignal): Promise<void> {
  if (!quiet) panel.set('loading', `Loading ${panel.name}…`)
  try {
    show(await load())
  } catch (err) {
    if (signal.aborted) return
    if (err instanceof ApiError && err.meansNoData) panel.set('empty', empty)
    else if (err instanceof ApiError && err.rejectsKey) panel.set('error', `${err.message} Enter a read apiKey above.`)
    else panel.set('error', `${err instanceof ApiError ? err.message : `Cannot reach the server: ${(err as Error).message}`} It will retry on the next refresh.`)
  }
}

/** The metric the engine stores anomaly scores as, tagged metric=<the metric scored>. */
const ANOMALY_METRIC = 'anomaly_score'

/**
 * The performance charts' anomaly bands: the highest score per step of each charted metric, in the
 * performance view's own buckets. Asked only once metric-names lists anomaly_score (the aggregate route
 * answers 404 before, which the browser logs); a band that fails to load is left out, as markers are.
 */
async function loadAnomalies(key: string, range: TimeRange, signal: AbortSignal, scored: boolean): Promise<void> {
  const buckets = performance.buckets
  if (!scored || !buckets) {
    performance.showAnomalies({})
    return
  }
  const answers = await Promise.all(
    performance.metrics().map(async (metric) => {
      try {
        const answer = await fetchAggregate(key, { metric: ANOMALY_METRIC, ...range, stepS: buckets.step, tags: { metric } }, signal)
        return [metric, answer.total.count > 0 ? answer.series : undefined] as const
      } catch {
        return [metric, undefined] as const
      }
    })
  )
  if (!signal.aborted) performance.showAnomalies(Object.fromEntries(answers))
}

/**
 * Asks only for the views whose metrics the tenant has sent: the reporting routes answer 404 otherwise,
 * which the browser logs as a console error on every refresh. The sites view reads the tracker's tables
 * and is asked always; it shows when the tenant has a site.
 */
async function loadPanels(key: string, range: TimeRange, signal: AbortSignal, quiet: boolean, names: Set<string>): Promise<void> {
  const has = (...wanted: string[]): boolean => wanted.some((name) => names.has(name))
  performance.panel.root.hidden = !has('response_time', 'db_query_time', 'memory_usage')
  cache.panel.root.hidden = !has('cache_hits', 'cache_misses', 'cache_size_kb', 'cache_size_bytes')
  for (const panel of [timeline.panel, usage.panel, sqlConsole.panel, retention.panel]) panel.root.hidden = false
  const empty = {
    performance: 'No response_time, db_query_time or memory_usage samples in this range: send them to POST /api/v2/analytics/metrics, or widen the range.',
    cache: 'No cache stats in this range: report hits, misses and size_kb to POST /api/v2/analytics/cache, or widen the range.',
    sites: 'No site traffic in this range: add the tracker to your pages (README, "Track a site"), or widen the range.',
  }
  await Promise.all([
    performance.panel.root.hidden ||
      loadPanel(performance.panel, quiet, empty.performance, () => fetchPerformance(key, range, signal), (a) => performance.show(a), signal).then(() =>
        loadAnomalies(key, range, signal, names.has(ANOMALY_METRIC))
      ),
    cache.panel.root.hidden || loadPanel(cache.panel, quiet, empty.cache, () => fetchCache(key, range, signal), (a) => cache.show(a), signal),
    // The tracker's view: shown once the tenant has a site (the route answers for any tenant, never 404).
    loadPanel(sites.panel, quiet, empty.sites, () => fetchSitesSummary(key, range, signal), (a) => {
      sites.panel.root.hidden = a.sites.length === 0
      sites.show(a)
    }, signal),
    loadPanel(usage.panel, quiet, 'No usage recorded.', () => fetchUsage(key, range, signal), (a) => usage.show(a, range), signal),
    retention.load(signal),
    fetchTriggers(key, range, signal).then(
      (answer) => {
        triggers = answer.events
        window.__tidemark.triggers = triggers
        timeline.show(triggers, answer.truncated)
        performance.redraw()
        chart.plot.redraw(false)
      },
      (err: unknown) => {
        // Markers are an extra: without the history the charts still stand, and the next refresh tries again.
        if (!signal.aborted) timeline.panel.set('error', `Trigger history unavailable: ${(err as Error).message} It will retry on the next refresh.`)
      }
    ),
  ])
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
  saveView()
  void refresh()
})

metricInput.addEventListener('change', () => {
  remember('metric', selectedMetric())
  saveView()
  void refresh()
})

rangeSelect.addEventListener('change', () => {
  if (rangeSelect.value === 'custom') {
    // Starts from the range on screen, to be narrowed or widened from there.
    setCustomRange(custom ?? viewRange)
    rangeFrom.focus()
    return
  }
  customRange.hidden = true
  custom = undefined
  saveView()
  void refresh()
})

for (const input of [rangeFrom, rangeTo]) {
  input.addEventListener('change', () => {
    const fromMs = fromLocalInput(rangeFrom.value)
    const toMs = fromLocalInput(rangeTo.value)
    if (!(fromMs < toMs)) {
      setStatus('The custom range needs a start before its end.', 'error')
      return
    }
    setCustomRange({ fromMs, toMs })
    void refresh()
  })
}

// Enter in the name field or the Refresh button; names too, since new metrics appear as data arrives.
viewForm.addEventListener('submit', (event) => {
  event.preventDefault()
  void refresh({ names: true })
})

autoRefresh.addEventListener('change', () => {
  if (!autoRefresh.checked) followWhatIsShown(undefined, undefined, undefined)
  if (autoRefresh.checked) void refresh({ quiet: true })
})

// A hidden tab skips its ticks and catches up the moment it is shown again.
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && autoRefresh.checked) void refresh({ quiet: true })
})

setInterval(() => {
  // A tick never cancels a request still running: on a slow server it would cancel every one.
  // A connected live stream covers what the tick would ask (each closed step re-queries): the poll is its fallback.
  if (autoRefresh.checked && !document.hidden && !inflight && !live?.connected) {
    window.__tidemark.polls++
    void refresh({ quiet: true })
  }
}, REFRESH_MS)

// The URL first (a shared link), then this browser's last choice.
const fromUrl = readUrl()
const savedRange = recall('range')
if (fromUrl.range === 'custom' && fromUrl.fromMs !== undefined && fromUrl.toMs !== undefined) setCustomRange({ fromMs: fromUrl.fromMs, toMs: fromUrl.toMs })
else if (fromUrl.range) rangeSelect.value = fromUrl.range
else if (savedRange && PRESETS[savedRange] !== undefined) rangeSelect.value = savedRange
const savedKey = recall('apiKey')
if (savedKey) {
  keyInput.value = savedKey
  apiKey = savedKey
  void refresh({ names: true })
}
