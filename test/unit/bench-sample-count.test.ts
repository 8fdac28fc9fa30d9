// The ingest bench counts exactly: stored must equal published, not merely reach it.
import { describe, expect, it } from 'vitest'
import { sampleCountProblems } from '../../bench/sample-count.ts'

describe('sampleCountProblems', () => {
  it('passes only when ClickHouse holds exactly what JetStream acknowledged', () => {
    expect(sampleCountProblems('single', { accepted: 200, published: 204, stored: 204, complete: true })).toEqual([])
  })

  it('fails a run that stored more than it published: duplicates', () => {
    expect(sampleCountProblems('single', { accepted: 200, published: 204, stored: 206, complete: true })).toEqual([
      'single: ClickHouse holds 206 samples of 204 published: 2 stored twice (duplicates)',
    ])
  })

  it('fails a run that stored less than it published, even when every 2xx sample is there', () => {
    expect(sampleCountProblems('batch100', { accepted: 200, published: 204, stored: 202, complete: true })).toEqual([
      'batch100: ClickHouse holds 202 samples of 204 published: 2 missing (data loss)',
    ])
  })

  it('fails counts that contradict each other, and a storage that never settled', () => {
    const problems = sampleCountProblems('single', { accepted: 300, published: 204, stored: 204, complete: false })
    expect(problems).toHaveLength(2)
    expect(problems[0]).toMatch(/300 samples answered 2xx but only 204 published/)
    expect(problems[1]).toMatch(/stalled/)
  })
})
