// The RowBinary encoding of stream messages, straight from their msgpack bytes:
// what the storage encode worker runs, so the main thread neither decodes the
// samples nor builds insert text (measured: building JSON text was most of the
// embedded process's 14 s of garbage collection in 31 busy seconds at 100k
// samples/s). Rows are in SAMPLE_COLUMNS order; ROW_BINARY_STRUCTURE is what
// file(…, RowBinary, …) reads them as.
//
// A message with a sample that is not a row (a value that is not a number, a tag
// that is not a string) is left out whole, and reported: with a binary format
// ClickHouse can no longer refuse such content, so the encoder is where it is
// found, and storage dead-letters the message as it would a refused one.
import { decodeBatch } from '../model/beacon-batch.ts'
import { SampleField } from '../model/sample.ts'

export const ROW_BINARY_STRUCTURE =
  "tenant String, metric String, ts DateTime64(3, 'UTC'), value Float64, tags Map(String, String), received_at DateTime64(3, 'UTC'), stream_seq UInt64"

export interface EncodedMessages {
  bytes: Uint8Array
  rows: number
  /** Messages left out, by their index in the input, and why. */
  bad: Array<{ index: number; reason: string }>
}

/** Thrown inside the encoder for a sample that is not a row; never leaves encodeRowBinary. */
class NotARow extends Error {}

/** A growing output buffer; one per encode call. */
class Out {
  buf: Buffer
  pos = 0
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size)
  }
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }
  varUInt(n: number): void {
    this.room(10)
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80
      n = Math.floor(n / 128)
    }
    this.buf[this.pos++] = n
  }
  string(s: unknown, what: string): void {
    if (typeof s !== 'string') throw new NotARow(`${what} is ${describe(s)}, not a string`)
    const n = s.length
    this.room(n * 3 + 10)
    // Short ASCII strings (tenants, metrics, tags: nearly all) are copied a char at a time after a one-byte
    // length: Buffer.write's call cost was most of a string's (measured: the encoder at 2.7 µs a row).
    if (n < 0x80) {
      const buf = this.buf
      let pos = this.pos + 1
      let i = 0
      for (; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) break
        buf[pos++] = c
      }
      if (i === n) {
        buf[this.pos] = n
        this.pos = pos
        return
      }
    }
    this.varUInt(Buffer.byteLength(s, 'utf8'))
    this.pos += this.buf.write(s, this.pos, 'utf8')
  }
  float64(v: unknown, what: string): void {
    if (typeof v !== 'number') throw new NotARow(`${what} is ${describe(v)}, not a number`)
    this.room(8)
    this.pos = this.buf.writeDoubleLE(v, this.pos)
  }
  /** DateTime64(3): signed milliseconds since the epoch. */
  millis(v: unknown, what: string): void {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new NotARow(`${what} is ${describe(v)}, not a time in epoch milliseconds`)
    this.int64(Math.round(v))
  }
  uint64(v: number): void {
    this.int64(v)
  }
  /**
   * A whole number within ±2^53 as a little-endian 64-bit integer (two's complement), in two 32-bit
   * halves: writeBigInt64LE and the BigInt it needs were the encoder's top cost.
   */
  int64(v: number): void {
    this.room(8)
    const high = Math.floor(v / 0x1_0000_0000)
    this.buf.writeUInt32LE(v - high * 0x1_0000_0000, this.pos)
    this.buf.writeInt32LE(high, this.pos + 4)
    this.pos += 8
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v)
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)
  if (typeof v === 'number') return String(v)
  return Array.isArray(v) ? 'an array' : `a ${typeof v}`
}

function encodeSample(out: Out, s: unknown, seq: number): void {
  if (!Array.isArray(s)) throw new NotARow('not a sample tuple')
  out.string(s[SampleField.Tenant], 'tenant')
  out.string(s[SampleField.Metric], 'metric')
  out.millis(s[SampleField.Ts], 'ts')
  out.float64(s[SampleField.Value], 'value')
  const tags: unknown = s[SampleField.Tags]
  if (tags === null || tags === undefined) {
    out.varUInt(0)
  } else if (typeof tags === 'object' && !Array.isArray(tags)) {
    const names = Object.keys(tags)
    out.varUInt(names.length)
    for (const name of names) {
      out.string(name, 'a tag name')
      out.string((tags as Record<string, unknown>)[name], `tag ${JSON.stringify(name)}`)
    }
  } else {
    throw new NotARow(`tags are ${describe(tags)}, not an object`)
  }
  out.millis(s[SampleField.ReceivedAt], 'received_at')
  out.uint64(seq)
}

/** RowBinary rows of the messages (`datas[i]` is stream sequence `seqs[i]`), leaving out and reporting those that are not rows. */
export function encodeRowBinary(datas: readonly Uint8Array[], seqs: readonly number[]): EncodedMessages {
  let total = 0
  for (const d of datas) total += d.byteLength
  // RowBinary of a sample is about as long as its msgpack plus the fixed columns.
  const out = new Out(Math.max(4096, total * 2))
  const bad: EncodedMessages['bad'] = []
  let rows = 0
  for (let index = 0; index < datas.length; index++) {
    const start = out.pos
    let sample = 0
    try {
      const samples = decodeBatch(datas[index] as Uint8Array)
      for (; sample < samples.length; sample++) encodeSample(out, samples[sample], seqs[index] as number)
      rows += samples.length
    } catch (err) {
      // The whole message is left out: its rows so far are taken back.
      out.pos = start
      const reason = err instanceof NotARow ? `sample ${sample}: ${err.message}` : (err as Error).message
      bad.push({ index, reason })
    }
  }
  return { bytes: out.buf.subarray(0, out.pos), rows, bad }
}
