// The three shapes of a console answer: JSON rows, columnar arrays as uPlot
// draws them, and CSV. ClickHouse sends 64-bit integers as strings (a count
// past 2^53 would lose digits as a JSON number); the ones a JavaScript number
// holds exactly become numbers, the others stay strings.
import type { SqlColumn, SqlColumnarAnswer, SqlJsonAnswer } from '../read-contract.ts'
import type { SqlAnswer } from './sql-console.ts'

const WIDE_INTEGER = /^(Nullable\(|LowCardinality\()*U?Int(64|128|256)\b/
const INSTANT = /^(Nullable\(|LowCardinality\()*(Date|Date32|DateTime|DateTime64)\b/

function exactNumbers(columns: readonly SqlColumn[], rows: unknown[][]): unknown[][] {
  const wide = columns.map((c) => WIDE_INTEGER.test(c.type))
  if (!wide.includes(true)) return rows
  return rows.map((row) =>
    row.map((value, i) => {
      if (!wide[i] || typeof value !== 'string') return value
      const n = Number(value)
      return Number.isSafeInteger(n) ? n : value
    })
  )
}

export function jsonAnswer(answer: SqlAnswer): SqlJsonAnswer {
  return { ...answer, rows: exactNumbers(answer.columns, answer.rows) }
}

/** One array per column; Date and DateTime columns as epoch milliseconds (the statement ran with ISO 8601 UTC output). */
export function columnarAnswer(answer: SqlAnswer): SqlColumnarAnswer {
  const rows = exactNumbers(answer.columns, answer.rows)
  const data = answer.columns.map((column, i) => {
    const values = rows.map((row) => row[i] ?? null)
    if (!INSTANT.test(column.type)) return values
    return values.map((v) => (typeof v === 'string' ? Date.parse(v) : v))
  })
  const { rows: _rows, ...rest } = answer
  return { ...rest, data }
}

/** A text a spreadsheet would run as a formula: it starts with = + - @ or a tab or CR, and is not a plain number. */
const FORMULA_START = /^[=+\-@\t\r]/
const PLAIN_NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/

function csvField(value: unknown): string {
  if (value === null || value === undefined) return ''
  let text = typeof value === 'object' ? JSON.stringify(value) : String(value)
  // Tag values come from the public (a site name, a page path): opened in a spreadsheet, `=HYPERLINK(…)` would run.
  // OWASP's advice: a leading quote makes it text. Numbers, negative ones included, stay as they are.
  if (typeof value === 'string' && FORMULA_START.test(text) && !PLAIN_NUMBER.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

/** RFC 4180: a header of column names, CRLF line ends, fields quoted when they hold a comma, quote or line break. */
export function csvTable(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const lines = [header.map(csvField).join(',')]
  for (const row of rows) lines.push(row.map(csvField).join(','))
  return lines.join('\r\n') + '\r\n'
}

export function csvAnswer(answer: SqlAnswer): string {
  return csvTable(
    answer.columns.map((c) => c.name),
    answer.rows
  )
}
