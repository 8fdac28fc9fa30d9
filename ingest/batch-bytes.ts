// How many bytes a batch may take, and an upper bound of what one sample adds
// to it, without encoding anything: NATS refuses a message over the server's
// max_payload (1 MiB by default), and 1,000 samples with long tags pass it
// (16 tags of 200 characters make a sample of about 3.5 KB).

/** The batch envelope `{v, s: [...]}` around the samples, with room to spare. */
export const BATCH_ENVELOPE_BYTES = 16
/** NATS' default, for a connection that has not told its own yet. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024

/** The largest batch body for a server's max_payload: a margin stays free for the headers (Nats-Msg-Id) and the protocol line. */
export function batchByteLimit(maxPayload: number | undefined): number {
  const max = maxPayload !== undefined && maxPayload > 0 ? maxPayload : DEFAULT_MAX_PAYLOAD
  return max - Math.min(16 * 1024, Math.floor(max / 8))
}

/**
 * At least the msgpack size of the sample [tenant, metric, ts, value, tags, receivedAt]:
 * the array header (1), string headers (at most 5 each), three numbers (at most 9 each),
 * the tags map header (at most 5), and the UTF-8 bytes of tenant, metric and tags. The
 * series key holds the metric and every tag name and value with two separators each, so
 * per tag only the two string headers beyond those separators are added.
 */
export function sampleBytesBound(tenantBytes: number, seriesKeyBytes: number, tagCount: number): number {
  return 1 + 5 + tenantBytes + 5 + seriesKeyBytes + 3 * 9 + 5 + 8 * tagCount
}
