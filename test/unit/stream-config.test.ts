// Stream settings are read once and refused with a message naming every bad value.
import { expect, it } from 'vitest'
import { DEFAULT_STREAM_SETTINGS, loadStreamSettings, parseWindows } from '../../engine/stream/stream-config.ts'

it('parses window lists: a size is tumbling, size/hop is sliding', () => {
  expect(parseWindows('1m, 5m/1m,500ms')).toEqual([
    { name: '1m', sizeMs: 60_000, hopMs: 60_000 },
    { name: '5m/1m', sizeMs: 300_000, hopMs: 60_000 },
    { name: '500ms', sizeMs: 500, hopMs: 500 },
  ])
})

it('defaults to 1-minute tumbling and 5-minute sliding windows, a 3 s lease renewed every second', () => {
  const s = loadStreamSettings({})
  expect(s).toEqual(DEFAULT_STREAM_SETTINGS)
  expect(s.windows.map((w) => w.name)).toEqual(['1m', '5m/1m'])
  expect([s.leaseTtlMs, s.leaseRenewMs]).toEqual([3000, 1000])
})

it('refuses bad settings with TM_ENGINE_CONFIG_INVALID naming each problem', () => {
  const attempt = () =>
    loadStreamSettings({ TIDEMARK_STREAM_WINDOWS: '5m/2m,1x', TIDEMARK_STREAM_LEASE_TTL_MS: '1000', TIDEMARK_STREAM_LEASE_RENEW_MS: '900' })
  expect(attempt).toThrow(expect.objectContaining({ code: 'TM_ENGINE_CONFIG_INVALID' }))
  expect(attempt).toThrow(/windows\/1\/sizeMs/)
  expect(() => loadStreamSettings({ TIDEMARK_STREAM_WINDOWS: '5m/2m' })).toThrow(/sizeMs \(300000\) must be a multiple of hopMs \(120000\)/)
  expect(() => loadStreamSettings({ TIDEMARK_STREAM_LEASE_TTL_MS: '1000', TIDEMARK_STREAM_LEASE_RENEW_MS: '900' })).toThrow(/at most half of leaseTtlMs/)
  expect(() => loadStreamSettings({ TIDEMARK_STREAM_MIN_THREADS: '3', TIDEMARK_STREAM_MAX_THREADS: '2' })).toThrow(/minThreads \(3\) must not exceed maxThreads/)
})
