// The dashboard as a test sees it: its controls by data-testid, and the chart
// through window.__tidemark, where uPlot's own data can be read back.
import type { Page } from 'playwright-core'

export type TotalField = 'count' | 'sum' | 'avg' | 'min' | 'max'

export class DashboardPage {
  /** Uncaught exceptions in the page: a test ends by checking there were none. */
  readonly errors: string[] = []
  /** console.error lines, the browser's own included (a failed request logs one). */
  readonly consoleErrors: string[] = []

  constructor(readonly page: Page) {
    page.on('pageerror', (err) => this.errors.push(err.message))
    page.on('console', (message) => {
      if (message.type() === 'error') this.consoleErrors.push(`${message.text()} (${message.location().url})`)
    })
  }

  async text(testId: string): Promise<string> {
    return (await this.page.getByTestId(testId).textContent()) ?? ''
  }

  /** Until the element reads `text`. */
  async waitForText(testId: string, text: string, timeout = 10_000): Promise<void> {
    await this.page.waitForFunction(
      ({ testId, text }) => document.querySelector(`[data-testid="${testId}"]`)?.textContent === text,
      { testId, text },
      { timeout }
    )
  }

  async connect(apiKey: string): Promise<void> {
    await this.page.getByTestId('api-key').fill(apiKey)
    await this.page.getByTestId('connect').click()
  }

  /** Waits for the option: the picker fills only once metric-names answers. */
  async pickMetric(name: string): Promise<void> {
    await this.page.getByTestId('metric-select').selectOption(name)
  }

  async total(field: TotalField): Promise<string> {
    return (await this.page.getByTestId(`total-${field}`).textContent()) ?? ''
  }

  /** Until the chart holds `value` in the series labelled `label` (avg, min, max or count) for `metric`. */
  async waitForSeriesValue(metric: string, label: string, value: number, timeout = 10_000): Promise<void> {
    await this.page.waitForFunction(
      ({ metric, label, value }) => {
        const { chart, lastResponse } = window.__tidemark
        const i = chart.series.findIndex((s) => s.label === label)
        return lastResponse?.metric === metric && Array.from(chart.data[i] ?? []).includes(value)
      },
      { metric, label, value },
      { timeout }
    )
  }

  /** Until the last answer drawn is for `metric` and counts `count` samples. */
  async waitForCount(metric: string, count: number, timeout = 10_000): Promise<void> {
    await this.page.waitForFunction(
      ({ metric, count }) => {
        const response = window.__tidemark.lastResponse
        return response?.metric === metric && response.total.count === count
      },
      { metric, count },
      { timeout }
    )
  }

  async waitForStatus(text: string, timeout = 10_000): Promise<void> {
    await this.page.waitForFunction(
      (text) => document.querySelector('[data-testid="status"]')?.textContent === text,
      text,
      { timeout }
    )
  }

  async savedApiKey(): Promise<string | null> {
    return this.page.evaluate(() => localStorage.getItem('tidemark.apiKey'))
  }
}
