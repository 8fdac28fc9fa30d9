// RetentionPolicyManager: how long raw samples and the rollups are kept
// (GET/PUT /api/v2/retention). A change that shortens a retention deletes data
// at ClickHouse's next merges, so saving first says exactly what goes and waits
// for a second click.
import { ApiError, fetchRetention, saveRetention, type RetentionPolicy } from './api.ts'
import { element, Panel } from './panel.ts'

const KINDS = [
  { key: 'rawDays', label: 'Raw samples' },
  { key: 'rollup1mDays', label: '1-minute rollup' },
  { key: 'rollup1hDays', label: '1-hour rollup' },
] as const

const DAY = 86_400_000

/** What a new policy deletes that the current one keeps, one sentence per kind of row. */
export function deletions(current: RetentionPolicy, next: RetentionPolicy, now = Date.now()): string[] {
  const lines: string[] = []
  for (const { key, label } of KINDS) {
    const before = current[key]
    const after = next[key]
    if (after === null || (before !== null && after >= before)) continue
    const cutoff = new Date(now - after * DAY).toISOString().slice(0, 10)
    lines.push(`${label} older than ${after} days (before ${cutoff}) will be deleted${before === null ? ' (kept for ever until now)' : `, instead of after ${before} days`}.`)
  }
  return lines
}

export class RetentionPanel {
  readonly panel: Panel
  private readonly inputs = new Map<string, HTMLInputElement>()
  private readonly confirmBox: HTMLElement
  private readonly confirmText: HTMLElement
  private readonly message: HTMLElement
  private readonly saveButton: HTMLButtonElement
  private readonly cancelButton: HTMLButtonElement
  private current: RetentionPolicy | undefined

  constructor(parent: HTMLElement, private readonly key: () => string | undefined) {
    this.panel = new Panel(parent, 'retention', 'Retention')
    const form = element('form', 'controls')
    for (const { key, label } of KINDS) {
      const field = element('label', 'field', `${label} `)
      const input = element('input')
      input.type = 'number'
      input.min = '1'
      input.step = '1'
      input.placeholder = 'for ever'
      input.dataset.testid = `retention-${key}`
      field.append(input, ' days')
      form.append(field)
      this.inputs.set(key, input)
    }
    const save = element('button', undefined, 'Save')
    save.type = 'submit'
    save.dataset.testid = 'retention-save'
    this.saveButton = save
    form.append(save)
    this.confirmBox = element('div', 'confirm')
    this.confirmBox.hidden = true
    this.confirmBox.setAttribute('role', 'alertdialog')
    this.confirmBox.setAttribute('aria-label', 'Confirm the deletion')
    this.confirmBox.dataset.testid = 'retention-dialog'
    this.confirmText = element('div')
    this.confirmText.id = 'retention-confirm-text'
    this.confirmText.dataset.testid = 'retention-confirm-text'
    this.confirmBox.setAttribute('aria-describedby', this.confirmText.id)
    const confirm = element('button', 'danger', 'Delete and save')
    confirm.type = 'button'
    confirm.dataset.testid = 'retention-confirm'
    const cancel = element('button', undefined, 'Cancel')
    cancel.type = 'button'
    cancel.dataset.testid = 'retention-cancel'
    this.cancelButton = cancel
    this.confirmBox.append(this.confirmText, confirm, cancel)
    this.message = element('p', 'note')
    this.message.dataset.testid = 'retention-message'
    this.panel.body.append(element('p', 'hint', 'Empty keeps rows for ever. ClickHouse removes expired rows at its next merges, within hours.'), form, this.confirmBox, this.message)

    form.addEventListener('submit', (event) => {
      event.preventDefault()
      this.review()
    })
    confirm.addEventListener('click', () => void this.save())
    cancel.addEventListener('click', () => this.dismiss())
    // A confirmation holds the keyboard until answered: Escape cancels, Tab cycles its two buttons.
    this.confirmBox.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.preventDefault()
        this.dismiss()
      } else if (event.key === 'Tab') {
        event.preventDefault()
        const next = document.activeElement === confirm ? cancel : confirm
        next.focus()
      }
    })
  }

  async load(signal: AbortSignal): Promise<void> {
    const key = this.key()
    if (!key) return
    try {
      this.current = await fetchRetention(key, signal)
      // A refresh never overwrites what the user is editing.
      if (this.confirmBox.hidden && !this.panel.root.contains(document.activeElement)) this.fill()
      this.panel.set('ready')
    } catch (err) {
      if (signal.aborted) return
      this.panel.set('error', `${err instanceof ApiError ? err.message : (err as Error).message} It will retry on the next refresh.`)
    }
  }

  /** Cancels the pending change: the inputs go back to the policy in force, and focus to the Save that asked. */
  private dismiss(): void {
    this.confirmBox.hidden = true
    this.fill()
    this.saveButton.focus()
  }

  private fill(): void {
    for (const { key } of KINDS) this.inputs.get(key)!.value = this.current?.[key] == null ? '' : String(this.current[key])
  }

  private edited(): RetentionPolicy | string {
    const policy: Record<string, number | null> = {}
    for (const { key, label } of KINDS) {
      const text = this.inputs.get(key)!.value.trim()
      const days = text === '' ? null : Number(text)
      if (days !== null && !(Number.isInteger(days) && days >= 1)) return `${label}: whole days, 1 or more, or empty to keep for ever.`
      policy[key] = days
    }
    return policy as unknown as RetentionPolicy
  }

  private review(): void {
    const next = this.edited()
    if (typeof next === 'string') {
      this.say(next, 'error')
      return
    }
    const lost = this.current ? deletions(this.current, next) : []
    if (lost.length === 0) {
      void this.save()
      return
    }
    this.confirmText.replaceChildren(...lost.map((line) => element('p', undefined, line)))
    this.confirmBox.hidden = false
    // The safe answer first: Enter on a reflex keeps the data.
    this.cancelButton.focus()
  }

  private say(text: string, state: 'ok' | 'error'): void {
    this.message.textContent = text
    this.message.dataset.state = state
  }

  private async save(): Promise<void> {
    const wasAsking = !this.confirmBox.hidden
    this.confirmBox.hidden = true
    // The focused button just disappeared: back to the Save that opened the question.
    if (wasAsking) this.saveButton.focus()
    const key = this.key()
    const next = this.edited()
    if (!key || typeof next === 'string') return
    try {
      this.current = await saveRetention(key, next, new AbortController().signal)
      this.fill()
      this.say('Saved.', 'ok')
    } catch (err) {
      this.say(err instanceof ApiError ? err.message : `Cannot reach the server: ${(err as Error).message}`, 'error')
    }
  }
}
