// The shapes the read API answers in: the one columnar contract between the
// query tier and its clients. The dashboard imports these types (types only:
// it still talks to the server over HTTP alone).

export interface MetricInfo {
  name: string
  samples: number
  kind: string
}

export interface AggregateTotals {
  count: number
  sum: number | null
  avg: number | null
  min: number | null
  max: number | null
  /** With stats=quantiles: DDSketch quantiles, within 1 % of the value at that rank. */
  p50?: number | null
  p95?: number | null
  p99?: number | null
  /** With stats=visitors: distinct values of the `visitor` tag. */
  visitors?: number
}

/** Columnar, one entry per bucket, null in gaps: the shape uPlot draws. */
export interface AggregateSeries {
  /** Bucket starts, epoch ms. */
  t: number[]
  count: number[]
  sum: (number | null)[]
  avg: (number | null)[]
  min: (number | null)[]
  max: (number | null)[]
  p50?: (number | null)[]
  p95?: (number | null)[]
  p99?: (number | null)[]
  visitors?: number[]
}

export interface AggregateResponse {
  metric: string
  from: number
  to: number
  step: number
  /** Which table answered: samples, series_1m or series_1h. */
  source: string
  total: AggregateTotals
  series: AggregateSeries
}

/** A column of a SQL console answer: its name and ClickHouse type. */
export interface SqlColumn {
  name: string
  type: string
}

/** POST /api/v2/query, JSON: row-major values. */
export interface SqlJsonAnswer {
  columns: SqlColumn[]
  rows: unknown[][]
  rowCount: number
  /** More rows matched than maxRows; rows holds the first maxRows. */
  truncated: boolean
  elapsedMs: number
}

/** POST /api/v2/query?format=columnar: one array per column (uPlot's layout), Date/DateTime columns as epoch ms. */
export interface SqlColumnarAnswer extends Omit<SqlJsonAnswer, 'rows'> {
  data: unknown[][]
}
