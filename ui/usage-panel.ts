// TokenUsageMonitor: what this tenant's ingest credential (its ingestToken, the
// one credential that writes) sent over the range, against its quota, from
// /api/v2/usage (counted by every ingest process, published every 10 s).
import type { TimeRange, UsageAnswer, UsageQuota } from './api.ts'
import { formatValue } from './chart-kit.ts'
import { element, Figures, Panel } from './panel.ts'

const rate = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 })

/** The quota in words: its rate and burst, and whether it is the tenant's own or the default. */
export function quotaText(quota: UsageQuota | null): string {
  if (!quota) return 'unavailable'
  const own = quota.source === 'tenant' ? '' : ' (default)'
  if (quota.samplesPerSec === 0) return `no limit${own}`
  return `${quota.samplesPerSec.toLocaleString()} samples/s, burst ${quota.burst.toLocaleString()}${own}`
}

export class UsagePanel {
  readonly panel: Panel
  private readonly figures: Figures
  private readonly meter: HTMLMeterElement
  private readonly meterText: HTMLLabelElement

  constructor(parent: HTMLElement) {
    this.panel = new Panel(parent, 'usage', 'Ingest usage and quota')
    this.figures = new Figures(this.panel.body, 'usage', [
      { key: 'requests', label: 'requests' },
      { key: 'samples', label: 'samples stored' },
      { key: 'bytes', label: 'bytes sent' },
      { key: 'rateLimited', label: 'rate-limited (429)' },
      { key: 'refused', label: 'refused' },
      { key: 'quota', label: 'quota (per ingest process)', words: true },
      { key: 'peak', label: 'busiest minute', words: true },
    ])
    const gauge = element('p', 'usage-gauge')
    this.meter = element('meter')
    this.meter.min = 0
    this.meter.id = 'usage-meter'
    this.meter.dataset.testid = 'usage-meter'
    this.meterText = element('label', undefined, '')
    this.meterText.htmlFor = this.meter.id
    this.meterText.dataset.testid = 'usage-of-quota'
    gauge.append(this.meterText, ' ', this.meter)
    this.panel.body.append(gauge)
  }

  show(answer: UsageAnswer, _range: TimeRange): void {
    if (answer.requests === 0) {
      this.panel.set('empty', `No ingest requests in this range (usage is published every 10 s): send data with the ingestToken, or widen the range. Quota: ${quotaText(answer.quota)}.`)
      return
    }
    for (const key of ['requests', 'samples', 'rateLimited', 'refused'] as const) this.figures.set(key, answer[key].toLocaleString())
    this.figures.set('bytes', formatValue(answer.bytes, 'B'))
    this.figures.set('quota', quotaText(answer.quota))
    this.figures.set('peak', `${rate.format(answer.peakSamplesPerSec)} samples/s`)
    const limit = answer.quota && answer.quota.samplesPerSec > 0 ? answer.quota.samplesPerSec : undefined
    this.meter.hidden = limit === undefined
    if (limit !== undefined) {
      this.meter.max = limit
      this.meter.high = limit * 0.8
      this.meter.value = Math.min(limit, answer.peakSamplesPerSec)
      this.meterText.textContent = `Busiest minute at ${rate.format((answer.peakSamplesPerSec / limit) * 100)} % of the quota`
    } else this.meterText.textContent = answer.quota ? 'No rate limit applies.' : 'The quota cannot be read right now.'
    this.panel.set('ready')
  }
}
