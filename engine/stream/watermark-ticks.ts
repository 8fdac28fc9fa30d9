// Watermark ticks: how an idle partition's watermark moves by wall-clock time
// without making replays depend on the clock. The owner publishes the tick into
// the partition's own subject, so it takes its place in the log between the
// batches; every replay, by any owner, sees the same tick at the same place.
// A tick is a tiny message with header Tm-Kind: watermark (the storage consumer
// acks it without inserting) and a JSON body {"watermark": epoch ms}.
import { headers, type MsgHdrs } from '@nats-io/transport-node'
import { KIND_HEADER, WATERMARK_KIND } from './stream-layout.ts'

export interface TickMessage {
  data: Uint8Array
  headers: MsgHdrs
  /** Deduplicates a retried publish: the same partition and value is the same tick. */
  msgID: string
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function tickMessage(partition: number, watermark: number): TickMessage {
  const h = headers()
  h.set(KIND_HEADER, WATERMARK_KIND)
  return { data: encoder.encode(JSON.stringify({ watermark })), headers: h, msgID: `wm-${partition}-${watermark}` }
}

/** The tick's watermark, or undefined when the message is not a tick (a beacon batch). */
export function tickOf(message: { headers?: MsgHdrs; data: Uint8Array }): number | undefined {
  if (message.headers?.get(KIND_HEADER) !== WATERMARK_KIND) return undefined
  try {
    const { watermark } = JSON.parse(decoder.decode(message.data)) as { watermark: unknown }
    return typeof watermark === 'number' && Number.isFinite(watermark) ? watermark : undefined
  } catch {
    return undefined
  }
}

/** True for any message marked as a watermark tick, well-formed or not: what the storage consumer should skip. */
export function isWatermarkTick(message: { headers?: MsgHdrs }): boolean {
  return message.headers?.get(KIND_HEADER) === WATERMARK_KIND
}
