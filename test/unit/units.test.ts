// The one table of kinds to units and its scaling, which the SVG charts and the dashboard share.
import { describe, expect, it } from 'vitest'
import { formatInUnit, KIND_UNITS, unitOfKind, unitScale } from '../../engine/index.ts'

const en = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 })

describe('units', () => {
  it('names a unit for every metric kind, and none for a kind it does not know', () => {
    expect(KIND_UNITS).toEqual({ count: '', duration_ms: 'ms', percent: '%', bytes: 'B', gauge: '' })
    expect(unitOfKind('duration_ms')).toBe('ms')
    expect(unitOfKind(undefined)).toBe('')
    expect(unitOfKind('constructor')).toBe('')
  })

  it('scales durations to seconds and sizes by 1024, a figure in KB starting a rung up', () => {
    expect(unitScale('ms', 999)).toEqual({ scale: 1, suffix: ' ms' })
    expect(unitScale('ms', 1000)).toEqual({ scale: 1000, suffix: ' s' })
    expect(unitScale('B', 1023)).toEqual({ scale: 1, suffix: ' B' })
    expect(unitScale('B', 3 * 1024 ** 2)).toEqual({ scale: 1024 ** 2, suffix: ' MB' })
    expect(unitScale('KB', 2048)).toEqual({ scale: 1024, suffix: ' MB' })
    expect(unitScale('KB', 1024 ** 9)).toEqual({ scale: 1024 ** 4, suffix: ' PB' })
    expect(unitScale('%', 1e9)).toEqual({ scale: 1, suffix: ' %' })
  })

  it('formats a figure by its own size, and a missing one as a dash', () => {
    expect(formatInUnit(1250, 'ms', en)).toBe('1.25 s')
    expect(formatInUnit(420, 'ms', en)).toBe('420 ms')
    expect(formatInUnit(2048, 'KB', en)).toBe('2 MB')
    expect(formatInUnit(1536, 'B', en)).toBe('1.5 KB')
    expect(formatInUnit(75, '%', en)).toBe('75 %')
    expect(formatInUnit(12000, '', en)).toBe('12,000')
    expect(formatInUnit(null, 'ms', en)).toBe('–')
    expect(formatInUnit(Number.NaN, 'ms', en)).toBe('–')
  })
})
