// From stream messages to ClickHouse rows: one insert per batch, under the
// batch's deduplication token. When ClickHouse refuses an insert for its content,
// the batch is halved until the refused messages stand alone; every half has its
// own token derived from its parent's, so a replay of the batch halves it the
// same way and ClickHouse drops the halves that already landed. A refused
// insert stores none of its rows (clickhouse-errors.ts), so a parent's token is
// never half used.
import { BATCH_FORMAT_VERSION, decodeBatch } from '../model/beacon-batch.ts'
import { SAMPLE_COLUMNS } from '../clickhouse/clickhouse-schema.ts'
import { ROW_BINARY_STRUCTURE } from './row-binary.ts'
import { isContentRefusal } from '../clickhouse/clickhouse-errors.ts'
import { EngineErrors } from '../errors.ts'
import { SampleField, type Sample } from '../model/sample.ts'

/** One stream message of a batch, decoded once (or, for RowBinary inserts, only counted: the encode worker decodes it). */
export interface BatchItem {
  seq: number
  subject: string
  data: Uint8Array
  /** Its samples; null when not decoded here (RowBinary inserts) or when it is not a batch Tidemark wrote (`problem` says why). */
  samples: Sample[] | null
  /** How many samples it holds; 0 when it is not a batch. */
  rows: number
  problem: string | null
}

/** A message storage sets aside, and why (TM_ENGINE_BATCH_DECODE_FAILED or TM_ENGINE_STORAGE_BATCH_REFUSED). */
export interface Refusal {
  item: BatchItem
  error: Error & { code: string }
}

export type InsertRows = (lines: string[], token: string) => Promise<void>

/**
 * The sample count of a batch in the layout encodeBatch writes ({v: 1, s: [...]},
 * msgpack map then array headers), read from its first bytes; null for any other
 * layout (decode it to know). Lets the main thread size writes without decoding
 * the samples, the garbage RowBinary inserts keep off it.
 */
export function batchLength(data: Uint8Array): number | null {
  let i: number
  if (data[0] === 0x82) i = 1
  else if (data[0] === 0xde && data[1] === 0 && data[2] === 2) i = 3
  else return null
  // 'v', 1, 's': fixstr keys and a positive fixint version.
  if (data[i] !== 0xa1 || data[i + 1] !== 0x76 || data[i + 2] !== BATCH_FORMAT_VERSION || data[i + 3] !== 0xa1 || data[i + 4] !== 0x73) return null
  i += 5
  const head = data[i]
  if (head === undefined) return null
  if (head >= 0x90 && head <= 0x9f) return head - 0x90
  if (head === 0xdc && data.length >= i + 3) return (data[i + 1]! << 8) | data[i + 2]!
  if (head === 0xdd && data.length >= i + 5) return ((data[i + 1]! << 24) | (data[i + 2]! << 16) | (data[i + 3]! << 8) | data[i + 4]!) >>> 0
  return null
}

/** The item of a stream message; `decode: false` only counts its samples where its layout allows (the encode worker decodes it). */
export function decodeItem(seq: number, subject: string, data: Uint8Array, options: { decode?: boolean } = {}): BatchItem {
  if (options.decode === false) {
    const rows = batchLength(data)
    if (rows !== null) return { seq, subject, data, samples: null, rows, problem: null }
  }
  try {
    const samples = decodeBatch(data)
    // A sample that is not a tuple cannot be turned into a row at all (ingest never writes one).
    const bad = samples.findIndex((s) => !Array.isArray(s))
    if (bad >= 0) return { seq, subject, data, samples: null, rows: 0, problem: `sample ${bad} is not a sample tuple` }
    return { seq, subject, data, samples, rows: samples.length, problem: null }
  } catch (err) {
    return { seq, subject, data, samples: null, rows: 0, problem: (err as Error).message }
  }
}

/**
 * Numbers are written as they are; anything else in a numeric field is quoted,
 * so a wrong type is a value ClickHouse refuses (for that row) rather than text
 * that could end the row early and start another.
 */
function numeric(v: unknown): string | number {
  return typeof v === 'number' ? v : String(JSON.stringify(v ?? null))
}

/** The JSONCompactEachRow rows of a batch, in SAMPLE_COLUMNS order. */
export function rowsOf(items: readonly BatchItem[]): string[] {
  const lines: string[] = []
  for (const item of items) {
    if (item.problem !== null) continue
    const { seq } = item
    const samples = item.samples ?? decodeBatch(item.data)
    // Built by hand: stringifying a fresh array per sample was the top cost of storage (bench/README.md).
    for (const s of samples) {
      const tags = s[SampleField.Tags]
      lines.push(
        `[${JSON.stringify(s[SampleField.Tenant])},${JSON.stringify(s[SampleField.Metric])},${numeric(s[SampleField.Ts])},${numeric(s[SampleField.Value])},${tags === null ? '{}' : String(JSON.stringify(tags))},${numeric(s[SampleField.ReceivedAt])},${seq}]`
      )
    }
  }
  return lines
}

// async_insert off: the token must be honoured synchronously; views deduplicate too, or rollups double count.
const dedupSettings = (token: string): string => `insert_deduplication_token = '${token}', async_insert = 0, deduplicate_blocks_in_dependent_materialized_views = 1`

export function insertStatement(database: string, token: string, lines: readonly string[]): string {
  return `INSERT INTO ${database}.samples (${SAMPLE_COLUMNS.join(', ')}) SETTINGS ${dedupSettings(token)} FORMAT JSONCompactEachRow\n${lines.join('\n')}\n`
}

/**
 * The insert of a RowBinary file (row-binary.ts) on chDB: 1.1M rows/s against
 * 0.4M for text (DESIGN.md). The token holds for INSERT … SELECT FROM file on
 * chDB, rollups included (storage-binary.test.ts); insert_deduplicate = 1 is this
 * chDB's default (the test passed without it) and is written out so a changed
 * default cannot silently turn deduplication off.
 */
export function fileInsertStatement(database: string, token: string, file: string): string {
  const quoted = (text: string): string => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  return (
    `INSERT INTO ${database}.samples (${SAMPLE_COLUMNS.join(', ')}) SETTINGS ${dedupSettings(token)}, insert_deduplicate = 1 ` +
    `SELECT * FROM file(${quoted(file)}, RowBinary, ${quoted(ROW_BINARY_STRUCTURE)})`
  )
}

/** Inserts some messages' rows under a token (text or RowBinary); may set aside messages that are not rows in `refused`. */
export type InsertItems = (items: readonly BatchItem[], token: string) => Promise<void>

/**
 * Inserts the rows of `items` under `token`. If ClickHouse refuses them for
 * their content, each half is inserted under `${token}/0` and `${token}/1`, and
 * so on down to one message, which goes to `refused`. Outages are not handled
 * here: `insert` retries them, and whatever it throws that is not a content
 * refusal ends the batch (it is redone from its intent).
 */
export async function isolateRefusals(items: readonly BatchItem[], token: string, insert: InsertItems, refused: Refusal[], onSplit?: () => void): Promise<void> {
  if (items.length === 0) return
  try {
    await insert(items, token)
  } catch (err) {
    if (!isContentRefusal(err)) throw err
    if (items.length === 1) {
      refused.push({ item: items[0] as BatchItem, error: new EngineErrors.StorageBatchRefused((err as Error).message, { cause: err }) })
      return
    }
    onSplit?.()
    const half = Math.ceil(items.length / 2)
    await isolateRefusals(items.slice(0, half), `${token}/0`, insert, refused, onSplit)
    await isolateRefusals(items.slice(half), `${token}/1`, insert, refused, onSplit)
  }
}

/** isolateRefusals with the JSONCompactEachRow text rows (the HTTP path: a server's file() cannot read this machine's files). */
export function insertIsolating(items: readonly BatchItem[], token: string, insert: InsertRows, refused: Refusal[], onSplit?: () => void): Promise<void> {
  return isolateRefusals(
    items,
    token,
    async (part, t) => {
      const lines = rowsOf(part)
      if (lines.length > 0) await insert(lines, t)
    },
    refused,
    onSplit
  )
}
