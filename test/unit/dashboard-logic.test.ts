// The dashboard's pure logic: the SSE parser the live stream relies on (fetch,
// since EventSource cannot send the key as a header) and the sentence a
// retention change shows before it deletes anything.
import { describe, expect, it } from 'vitest'
import { parseSse } from '../../ui/live-stream.ts'
import { deletions } from '../../ui/retention-panel.ts'

describe('parseSse', () => {
  it('splits events, skips comments, joins data lines and keeps an unfinished event for the next chunk', () => {
    const { events, rest } = parseSse('retry: 2000\n: tidemark live\n\nevent: trigger\nid: 1.2.x\ndata: {"a":\ndata: 1}\n\nevent: aggregate\ndata: {"t"')
    expect(events).toEqual([
      { event: 'message', data: '', id: undefined, retry: 2000 },
      { event: 'trigger', data: '{"a":\n1}', id: '1.2.x', retry: undefined },
    ])
    expect(rest).toBe('event: aggregate\ndata: {"t"')
    const next = parseSse(rest + ':0}\n\n')
    expect(next.events).toEqual([{ event: 'aggregate', data: '{"t":0}', id: undefined, retry: undefined }])
    expect(next.rest).toBe('')
  })

  it('reads CRLF line ends and a heartbeat alone as nothing', () => {
    expect(parseSse(': heartbeat\r\n\r\n').events).toEqual([])
    expect(parseSse('event: trigger\r\ndata: x\r\n\r\n').events).toEqual([{ event: 'trigger', data: 'x', id: undefined, retry: undefined }])
  })
})

describe('retention deletions', () => {
  const now = Date.UTC(2026, 10, 22)
  it('names what a shorter or first retention deletes, and nothing for a longer one', () => {
    expect(deletions({ rawDays: null, rollup1mDays: 90, rollup1hDays: null }, { rawDays: 7, rollup1mDays: 30, rollup1hDays: null }, now)).toEqual([
      'Raw samples older than 7 days (before 2026-11-15) will be deleted (kept for ever until now).',
      '1-minute rollup older than 30 days (before 2026-10-23) will be deleted, instead of after 90 days.',
    ])
    expect(deletions({ rawDays: 7, rollup1mDays: 30, rollup1hDays: 365 }, { rawDays: 14, rollup1mDays: null, rollup1hDays: 365 }, now)).toEqual([])
  })
})
