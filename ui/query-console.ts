// The SQL console: a statement in, the rows as a table, a chart of the numeric
// columns when the answer has a time column, and the same statement as a CSV
// download. The server screens and bounds the SQL (docs/sql.md); the page
// only shows what it says.
import uPlot from 'uplot'
import { ApiError, runSql, runSqlCsv, type SqlColumnarAnswer } from './api.ts'
import { cssVar, nameChart, timeAxis, valueAxis } from './chart-kit.ts'
import { element, Panel } from './panel.ts'

const EXAMPLE = "SELECT toStartOfMinute(ts) AS minute, count() AS samples, avg(value) AS avg\nFROM samples\nWHERE metric = 'response_time' AND ts > now() - INTERVAL 1 HOUR\nGROUP BY minute ORDER BY minute"
const HEIGHT = 220
const COLOURS = ['--series-1', '--series-2', '--series-3']

const isTime = (type: string): boolean => /^(Nullable\()?Date(Time)?/.test(type)
const isNumber = (type: string): boolean => /^(Nullable\()?(U?Int|Float|Decimal)/.test(type)

export class QueryConsole {
  readonly panel: Panel
  /** The chart of the last answer with a time column, for tests and the console. */
  plot: uPlot | undefined
  private readonly editor: HTMLTextAreaElement
  private readonly summary: HTMLElement
  private readonly table: HTMLTableElement
  private readonly chartBox: HTMLElement
  private running: AbortController | undefined

  constructor(parent: HTMLElement, private readonly key: () => string | undefined) {
    this.panel = new Panel(parent, 'sql', 'SQL console')
    // Always usable once connected: the body shows from the start.
    this.panel.set('ready')
    const form = element('form', 'sql-form')
    this.editor = element('textarea')
    this.editor.dataset.testid = 'sql-editor'
    this.editor.rows = 5
    this.editor.spellcheck = false
    this.editor.value = EXAMPLE
    this.editor.setAttribute('aria-label', 'SQL statement')
    const run = element('button', undefined, 'Run')
    run.type = 'submit'
    run.dataset.testid = 'sql-run'
    const csv = element('button', undefined, 'Download CSV')
    csv.type = 'button'
    csv.dataset.testid = 'sql-csv'
    const buttons = element('div', 'controls')
    buttons.append(run, csv, element('span', 'hint', 'Ctrl+Enter runs. One SELECT over your views: samples, samples_1m, cache_stats, … (docs/sql.md).'))
    form.append(this.editor, buttons)
    this.summary = element('p', 'note')
    this.summary.dataset.testid = 'sql-summary'
    this.summary.setAttribute('role', 'status')
    this.chartBox = element('div', 'chart')
    this.chartBox.hidden = true
    this.table = element('table', 'data-table')
    this.table.dataset.testid = 'sql-table'
    this.table.id = 'sql-table'
    nameChart(this.chartBox, 'The answer charted: each numeric column over the time column (the table below holds the figures)', this.table)
    const scroller = element('div', 'table-scroll')
    scroller.append(this.table)
    this.panel.body.append(form, this.summary, this.chartBox, scroller)

    form.addEventListener('submit', (event) => {
      event.preventDefault()
      void this.run()
    })
    this.editor.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault()
        void this.run()
      }
    })
    csv.addEventListener('click', () => void this.download())
    // One observer for whichever chart the last answer made (each answer makes a new one).
    new ResizeObserver(() => this.plot?.setSize({ width: this.chartBox.clientWidth, height: HEIGHT })).observe(this.chartBox)
  }

  private start(): { key: string; signal: AbortSignal } | undefined {
    const key = this.key()
    if (!key) {
      this.say('Connect with an API key first.', 'error')
      return undefined
    }
    this.running?.abort()
    this.running = new AbortController()
    return { key, signal: this.running.signal }
  }

  private say(text: string, state: 'ok' | 'error' | 'loading' = 'ok'): void {
    this.summary.textContent = text
    this.summary.dataset.state = state
  }

  async run(): Promise<void> {
    const started = this.start()
    if (!started) return
    this.say('Running…', 'loading')
    try {
      const answer = await runSql(started.key, this.editor.value, started.signal)
      this.showTable(answer)
      this.showChart(answer)
      const more = answer.truncated ? ' (more matched: the first ones are shown; add a LIMIT or narrow the WHERE)' : ''
      this.say(`${answer.rowCount.toLocaleString()} rows in ${answer.elapsedMs} ms${more}`)
    } catch (err) {
      if (started.signal.aborted) return
      this.say(err instanceof ApiError ? err.message : `Cannot reach the server: ${(err as Error).message}`, 'error')
    }
  }

  private async download(): Promise<void> {
    const started = this.start()
    if (!started) return
    try {
      const blob = await runSqlCsv(started.key, this.editor.value, started.signal)
      const link = element('a')
      link.href = URL.createObjectURL(blob)
      link.download = 'tidemark-query.csv'
      link.click()
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000)
    } catch (err) {
      if (started.signal.aborted) return
      this.say(err instanceof ApiError ? err.message : `Cannot reach the server: ${(err as Error).message}`, 'error')
    }
  }

  private showTable(answer: SqlColumnarAnswer): void {
    const head = element('thead')
    const headRow = element('tr')
    for (const column of answer.columns) {
      const th = element('th', isNumber(column.type) ? 'num' : undefined, column.name)
      th.title = column.type
      headRow.append(th)
    }
    head.append(headRow)
    const body = element('tbody')
    const rows = answer.data[0]?.length ?? 0
    for (let r = 0; r < rows; r++) {
      const row = element('tr')
      answer.columns.forEach((column, c) => {
        const value = answer.data[c]![r]
        const text = value === null ? 'NULL' : isTime(column.type) && typeof value === 'number' ? new Date(value).toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value)
        row.append(element('td', isNumber(column.type) ? 'num' : undefined, text))
      })
      body.append(row)
    }
    this.table.replaceChildren(head, body)
  }

  /** A time column and at least one numeric column: a line per numeric column, over the first time column. */
  private showChart(answer: SqlColumnarAnswer): void {
    this.plot?.destroy()
    this.plot = undefined
    const timeIndex = answer.columns.findIndex((c) => isTime(c.type))
    const numeric = answer.columns.map((c, i) => ({ c, i })).filter(({ c, i }) => i !== timeIndex && isNumber(c.type))
    this.chartBox.hidden = timeIndex < 0 || numeric.length === 0 || (answer.data[0]?.length ?? 0) === 0
    if (this.chartBox.hidden) return
    // Sorted by time: uPlot needs ascending x, and a query may order otherwise.
    const order = answer.data[timeIndex]!.map((_, r) => r).sort((a, b) => Number(answer.data[timeIndex]![a]) - Number(answer.data[timeIndex]![b]))
    const column = (i: number): (number | null)[] => order.map((r) => (answer.data[i]![r] === null ? null : Number(answer.data[i]![r])))
    this.plot = new uPlot(
      {
        width: this.chartBox.clientWidth || 600,
        height: HEIGHT,
        ms: 1,
        series: [{}, ...numeric.map(({ c }, k) => ({ label: c.name, stroke: () => cssVar(COLOURS[k % COLOURS.length]!), width: 1.5, spanGaps: true }))],
        axes: [timeAxis(), valueAxis()],
      },
      [column(timeIndex), ...numeric.map(({ i }) => column(i))] as uPlot.AlignedData,
      this.chartBox
    )
  }
}
