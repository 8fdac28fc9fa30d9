// The range's totals as plain numbers, next to the chart: the figure people
// quote, and the one a chart's cursor cannot give.
import type { AggregateTotals } from './api.ts'
import { formatValue, unitOfKind } from './chart-kit.ts'

const FIELDS = ['count', 'sum', 'avg', 'min', 'max'] as const

export class TotalsPanel {
  private readonly cells = new Map<string, HTMLElement>()

  constructor(root: HTMLElement) {
    for (const field of FIELDS) {
      const cell = root.querySelector<HTMLElement>(`[data-total="${field}"]`)
      if (!cell) throw new Error(`index.html lacks the ${field} total`)
      this.cells.set(field, cell)
    }
  }

  show(total: AggregateTotals, kind: string | undefined): void {
    const unit = unitOfKind(kind)
    // count has no unit: it counts samples whatever the metric measures.
    for (const field of FIELDS) this.set(field, formatValue(total[field], field === 'count' ? '' : unit))
  }

  clear(): void {
    for (const field of FIELDS) this.set(field, '–')
  }

  private set(field: string, text: string): void {
    const cell = this.cells.get(field)
    if (cell) cell.textContent = text
  }
}
