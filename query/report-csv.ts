// CSV for the reporting routes: JSON by default, CSV when the client sends
// `Accept: text/csv`. The rows are the JSON answer's aligned series laid out
// one bucket a line (time first, as ISO 8601 UTC, which spreadsheets read),
// written by the SQL console's RFC 4180 writer. Grouped answers (a series per
// site, per tag value) become long tables: the group's columns lead each line.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { csvTable } from './sql/result-shapes.ts'

export function acceptsCsv(request: FastifyRequest): boolean {
  return /\btext\/csv\b/i.test(request.headers.accept ?? '')
}

/** Aligned columns: `t` (epoch ms) and any others, each as long as `t`. */
export type Columns = { t: readonly number[] } & Record<string, readonly unknown[] | undefined>

export interface CsvPart {
  /** Leading columns with one value for the whole part (e.g. { site: 'a' }). */
  keys?: Record<string, string>
  series: Columns
}

/** One table from parts sharing their column names; a part's buckets in time order. */
export function seriesCsv(parts: readonly CsvPart[]): string {
  const first = parts[0]
  const keyNames = Object.keys(first?.keys ?? {})
  const columnNames = Object.keys(first?.series ?? { t: [] }).filter((name) => name !== 't')
  const rows: unknown[][] = []
  for (const part of parts) {
    const keys = keyNames.map((k) => part.keys?.[k] ?? '')
    part.series.t.forEach((t, i) => rows.push([...keys, new Date(t).toISOString(), ...columnNames.map((c) => part.series[c]?.[i] ?? null)]))
  }
  return csvTable([...keyNames, 'time', ...columnNames], rows)
}

/** Answers CSV when asked, else the JSON answer as it is. */
export function sendReport<T>(request: FastifyRequest, reply: FastifyReply, json: T, csvParts: () => readonly CsvPart[]): T | FastifyReply {
  if (!acceptsCsv(request)) return json
  return reply.type('text/csv; charset=utf-8').send(seriesCsv(csvParts()))
}
