// The live stream's event ids are its position: they must round-trip, refuse what the stream never sent,
// and a step counts as closed only once it has settled.
import { expect, it } from 'vitest'
import { decodeEventId, encodeEventId, lastClosedStep, SETTLE_MS } from '../../query/live-route.ts'

it('round-trips a position through the event id', () => {
  const id = 'ab'.repeat(16)
  for (const p of [
    { stepMs: 1_795_000_000_000, triggers: { insertedMs: 1_795_000_001_234, id } },
    { stepMs: 0, triggers: { insertedMs: 5, id: '' } },
  ]) {
    expect(decodeEventId(encodeEventId(p))).toEqual(p)
  }
  expect(encodeEventId({ stepMs: 60_000, triggers: { insertedMs: 7, id: '' } })).toBe('60000.7.-')
})

it('refuses an id the stream never sent, without echoing a long one', () => {
  for (const bad of ['', 'x', '1.2', '1.2.3', "1.2.' OR 1=1", '1.2.' + 'A'.repeat(32), '99999999999999999.1.-', '9999999999999999.1.-']) {
    expect(() => decodeEventId(bad), bad).toThrow(expect.objectContaining({ code: 'TM_QUERY_INVALID' }))
  }
  expect(() => decodeEventId('9'.repeat(500))).toThrow(expect.objectContaining({ message: expect.not.stringContaining('9'.repeat(100)) }))
})

it('closes a step only once it has settled', () => {
  const step = 60_000
  const end = 10 * step
  // The step [9 min, 10 min) is not closed at its end, nor until SETTLE_MS later.
  expect(lastClosedStep(end, step)).toBe(8 * step)
  expect(lastClosedStep(end + SETTLE_MS - 1, step)).toBe(8 * step)
  expect(lastClosedStep(end + SETTLE_MS, step)).toBe(9 * step)
})
