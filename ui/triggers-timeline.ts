// The triggers timeline: every transition in the range, newest first (from
// /api/v2/triggers), the same events the charts mark.
import type { TriggerHistoryItem } from './api.ts'
import { element, Panel } from './panel.ts'

export class TriggersTimeline {
  readonly panel: Panel
  private readonly rows: HTMLTableSectionElement
  private readonly more: HTMLElement

  constructor(parent: HTMLElement) {
    this.panel = new Panel(parent, 'triggers', 'Trigger transitions')
    const table = element('table', 'data-table')
    table.dataset.testid = 'triggers-table'
    const headRow = element('tr')
    for (const title of ['time', 'rule', 'state', 'change', 'step', 'action', 'value']) headRow.append(element('th', undefined, title))
    const head = element('thead')
    head.append(headRow)
    this.rows = element('tbody')
    table.append(head, this.rows)
    this.more = element('p', 'note', 'More transitions than shown: narrow the range to see the older ones.')
    this.panel.body.append(table, this.more)
  }

  show(events: TriggerHistoryItem[], truncated: boolean): void {
    if (events.length === 0) {
      this.panel.set('empty', 'No trigger transitions in this range. Rules are set with PUT /api/v2/rules; their transitions appear here and as markers on the charts.')
      return
    }
    this.more.hidden = !truncated
    this.rows.replaceChildren(
      ...events.map((event) => {
        const row = element('tr')
        row.dataset.state = event.state
        const state = element('td', `state state-${event.state}`, event.state)
        row.append(
          element('td', undefined, new Date(event.at).toLocaleString()),
          element('td', undefined, event.rule),
          state,
          element('td', undefined, event.change),
          element('td', 'num', `${event.previousStep} → ${event.step}`),
          element('td', undefined, event.action ?? '–'),
          element('td', 'num', String(event.value))
        )
        return row
      })
    )
    this.panel.set('ready')
  }
}
