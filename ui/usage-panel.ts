// TokenUsageMonitor: what this tenant's credentials sent over the range, from
// /api/v2/usage (counted by every ingest process, published every 10 s).
import type { TimeRange } from './api.ts'
import { formatValue } from './chart-kit.ts'
import { Figures, Panel } from './panel.ts'

export interface UsageAnswer {
  from: string
  to: string
  requests: number
  samples: number
  bytes: number
  rateLimited: number
  refused: number
}

export class UsagePanel {
  readonly panel: Panel
  private readonly figures: Figures

  constructor(parent: HTMLElement) {
    this.panel = new Panel(parent, 'usage', 'Ingest usage')
    this.figures = new Figures(this.panel.body, 'usage', [
      { key: 'requests', label: 'requests' },
      { key: 'samples', label: 'samples stored' },
      { key: 'bytes', label: 'bytes sent' },
      { key: 'rateLimited', label: 'rate-limited (429)' },
      { key: 'refused', label: 'refused' },
    ])
  }

  show(answer: UsageAnswer, _range: TimeRange): void {
    if (answer.requests === 0) {
      this.panel.set('empty', 'No ingest requests in this range (usage is published every 10 s): send data with the ingestToken, or widen the range.')
      return
    }
    for (const key of ['requests', 'samples', 'rateLimited', 'refused'] as const) this.figures.set(key, answer[key].toLocaleString())
    this.figures.set('bytes', formatValue(answer.bytes, 'B'))
    this.panel.set('ready')
  }
}
