// A dashboard section's frame: a heading, one line that says what state it is
// in and what to do about it, and a body shown only once there is data.

export type PanelState = 'loading' | 'empty' | 'error' | 'ready'

export class Panel {
  readonly root: HTMLElement
  readonly body: HTMLElement
  private readonly note: HTMLElement
  private hasShown = false

  constructor(parent: HTMLElement, readonly name: string, title: string) {
    this.root = document.createElement('section')
    this.root.className = 'panel'
    this.root.dataset.testid = `${name}-panel`
    this.root.setAttribute('aria-label', title)
    const heading = document.createElement('h2')
    heading.textContent = title
    this.note = document.createElement('p')
    this.note.className = 'note'
    this.note.dataset.testid = `${name}-note`
    this.note.setAttribute('role', 'status')
    this.body = document.createElement('div')
    this.body.className = 'panel-body'
    this.body.hidden = true
    this.root.append(heading, this.note, this.body)
    parent.append(this.root)
    this.set('empty', 'Connect with an API key to load this view.')
  }

  /**
   * Loading keeps the last data on screen (a refresh should not blank a chart);
   * empty and error hide it, since it no longer describes the range.
   */
  set(state: PanelState, text = ''): void {
    this.root.dataset.state = state
    this.note.textContent = text
    this.note.hidden = state === 'ready'
    if (state === 'ready') this.hasShown = true
    if (state === 'empty' || state === 'error') this.hasShown = false
    // uPlot measures its container when shown: a body revealed after creation gets a resize from followSize's observer.
    this.body.hidden = !this.hasShown
  }
}

export function element<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

/** A row of labelled figures (dt/dd), each findable by data-testid `${prefix}-${key}`. */
export class Figures {
  private readonly cells = new Map<string, HTMLElement>()
  readonly root: HTMLDListElement

  /** `words`: a figure in words rather than a number, which may wrap (a number never does). */
  constructor(parent: HTMLElement, prefix: string, fields: { key: string; label: string; words?: boolean }[]) {
    this.root = element('dl', 'totals')
    // For a chart's aria-describedby: these figures are its text alternative.
    this.root.id = `${prefix}-figures`
    for (const field of fields) {
      const wrap = element('div')
      const value = element('dd', field.words ? 'words' : undefined, '–')
      value.dataset.testid = `${prefix}-${field.key}`
      wrap.append(element('dt', undefined, field.label), value)
      this.root.append(wrap)
      this.cells.set(field.key, value)
    }
    parent.append(this.root)
  }

  set(key: string, text: string): void {
    const cell = this.cells.get(key)
    if (cell) cell.textContent = text
  }
}
