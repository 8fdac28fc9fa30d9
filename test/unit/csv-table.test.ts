// The one CSV writer of the query tier (SQL console and reporting routes).
import { describe, expect, it } from 'vitest'
import { csvTable } from '../../query/sql/result-shapes.ts'

describe('csvTable', () => {
  it('writes RFC 4180: a header, CRLF line ends, quoting where a field needs it', () => {
    expect(csvTable(['a', 'b'], [[1, 'x,y'], [null, 'say "hi"']])).toBe('a,b\r\n1,"x,y"\r\n,"say ""hi"""\r\n')
  })

  it('defuses text a spreadsheet would run as a formula, and leaves numbers alone', () => {
    const rows = [['=HYPERLINK("http://x","y")'], ['+1+2'], ['@SUM(A1)'], ['-2+3'], ['\tcmd'], [-5], ['-5'], ['1e5'], ['plain']]
    expect(csvTable(['v'], rows).split('\r\n').slice(1, -1)).toEqual([`"'=HYPERLINK(""http://x"",""y"")"`, "'+1+2", "'@SUM(A1)", "'-2+3", "'\tcmd", '-5', '-5', '1e5', 'plain'])
  })
})
