// Polls a condition until it holds, or throws naming what was awaited.
import { setTimeout as sleep } from 'node:timers/promises'

export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number, pollMs = 50): Promise<void> {
  const started = Date.now()
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(pollMs)
  }
}
