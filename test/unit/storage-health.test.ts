// When storage health says not ok, and what it says.
import { expect, it } from 'vitest'
import { assessStorageHealth, DEFAULT_STORAGE_HEALTH, type StorageHealthFacts } from '../../engine/storage/storage-health.ts'

const now = 1_000_000
const calm: StorageHealthFacts = { now, heldMessages: 0, undelivered: 0, progressAt: now - 3_600_000, retrying: null, recentDeadLetters: 0, lastError: null }

it('is ok with nothing to do, however long ago the last write was', () => {
  expect(assessStorageHealth(calm, DEFAULT_STORAGE_HEALTH)).toEqual({ ok: true })
  expect(assessStorageHealth({ ...calm, undelivered: null }, DEFAULT_STORAGE_HEALTH)).toEqual({ ok: true })
})

it('is ok with work while writes complete', () => {
  expect(assessStorageHealth({ ...calm, heldMessages: 500, undelivered: 10_000, progressAt: now - 2000 }, DEFAULT_STORAGE_HEALTH)).toEqual({ ok: true })
})

it('is stuck with work and no write for longer than stuckAfterMs, and says why', () => {
  const verdict = assessStorageHealth(
    { ...calm, heldMessages: 3, undelivered: 7, progressAt: now - 61_000, retrying: { attempts: 9, sinceMs: 58_000 }, lastError: 'ClickHouse insert failed: boom' },
    DEFAULT_STORAGE_HEALTH
  )
  expect(verdict.ok).toBe(false)
  expect(verdict.reason).toBe('no write completed for 61 s with 10 messages waiting, the insert under way failed 9 times in 58 s (last error: ClickHouse insert failed: boom)')
  // Undelivered messages alone are work too: a pump that stopped pulling is stuck.
  expect(assessStorageHealth({ ...calm, undelivered: 1, progressAt: now - 61_000 }, DEFAULT_STORAGE_HEALTH).ok).toBe(false)
})

it('alarms when dead letters pile up, not on one', () => {
  expect(assessStorageHealth({ ...calm, recentDeadLetters: 1 }, DEFAULT_STORAGE_HEALTH).ok).toBe(true)
  const verdict = assessStorageHealth({ ...calm, recentDeadLetters: DEFAULT_STORAGE_HEALTH.deadLetterAlarm }, DEFAULT_STORAGE_HEALTH)
  expect(verdict).toEqual({ ok: false, reason: '10 batches dead-lettered in the last 5 min (stream TM_DEAD_LETTERS)' })
})
