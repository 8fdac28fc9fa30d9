// Whether storage is doing its job, from facts the consumer keeps: storage is
// stuck when it has work (messages it holds, or messages JetStream has not
// delivered yet) and has made no progress for too long, whatever the cause
// (ClickHouse down, an insert retried forever, NATS unreachable); and it is
// failing when dead letters pile up, since every dead letter is data not stored.
// A single dead letter is reported, not alarmed on: ingest validates every
// sample, so it is a bug to find, while storage goes on.

export interface StorageHealthThresholds {
  /** Work pending and no insert (or dead letter) completed for this long: stuck. */
  stuckAfterMs: number
  /** This many dead letters within deadLetterWindowMs: failing. */
  deadLetterAlarm: number
  deadLetterWindowMs: number
}

export const DEFAULT_STORAGE_HEALTH: StorageHealthThresholds = {
  // An analyst's query may hold chDB for tens of seconds; a minute without progress is not that.
  stuckAfterMs: 60_000,
  deadLetterAlarm: 10,
  deadLetterWindowMs: 5 * 60_000,
}

export interface StorageHealthFacts {
  now: number
  /** Messages this consumer holds (buffered, queued, being written). */
  heldMessages: number
  /** Messages JetStream has not delivered to any engine yet; null when unknown (NATS unreachable). */
  undelivered: number | null
  /** When storage last completed a write, or last had nothing to do. */
  progressAt: number
  /** Failed insert attempts of the write under way, and since when it fails. */
  retrying: { attempts: number; sinceMs: number } | null
  recentDeadLetters: number
  lastError: string | null
}

export interface StorageVerdict {
  ok: boolean
  /** Why not ok, for people: what is stuck, for how long, and the last error. */
  reason?: string
}

export function assessStorageHealth(facts: StorageHealthFacts, thresholds: StorageHealthThresholds): StorageVerdict {
  const problems: string[] = []
  const pending = facts.heldMessages + (facts.undelivered ?? 0)
  const idleFor = facts.now - facts.progressAt
  if (pending > 0 && idleFor > thresholds.stuckAfterMs) {
    const retrying = facts.retrying ? `, the insert under way failed ${facts.retrying.attempts} times in ${Math.round(facts.retrying.sinceMs / 1000)} s` : ''
    problems.push(`no write completed for ${Math.round(idleFor / 1000)} s with ${pending} messages waiting${retrying}${facts.lastError ? ` (last error: ${facts.lastError})` : ''}`)
  }
  if (facts.recentDeadLetters >= thresholds.deadLetterAlarm) {
    problems.push(`${facts.recentDeadLetters} batches dead-lettered in the last ${Math.round(thresholds.deadLetterWindowMs / 60_000)} min (stream TM_DEAD_LETTERS)`)
  }
  return problems.length === 0 ? { ok: true } : { ok: false, reason: problems.join('; ') }
}
