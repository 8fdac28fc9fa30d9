// Messages storage cannot write (they do not decode, or ClickHouse refuses
// their content) go to the dead-letter stream with the reason, so storage goes
// on and nothing is silently dropped. The original payload is kept byte for
// byte; headers say why, and where it came from. The message id makes a
// redone batch (storage died after the publish and before the ack) publish
// each dead letter once, within the stream's duplicate window.
import { headers } from '@nats-io/transport-node'
import type { JetStreamClient, PubAck } from '@nats-io/jetstream'
import { BEACONS_STREAM, DEAD_LETTERS_SUBJECT_PREFIX } from '../nats/subjects.ts'

export const STORAGE_DEAD_LETTER_SUBJECT = `${DEAD_LETTERS_SUBJECT_PREFIX}storage`

/** Headers of a dead letter. */
export const DeadLetterHeader = {
  /** TM_ENGINE_BATCH_DECODE_FAILED or TM_ENGINE_STORAGE_BATCH_REFUSED. */
  Code: 'Tm-Error-Code',
  /** The error's message, on one line. */
  Reason: 'Tm-Reason',
  Stream: 'Tm-Original-Stream',
  Subject: 'Tm-Original-Subject',
  Sequence: 'Tm-Original-Sequence',
  /** The storage consumer that set it aside. */
  Consumer: 'Tm-Consumer',
} as const

/** Header values are one line; ClickHouse's messages span several and can be long. */
const REASON_MAX_CHARS = 2000

export interface DeadLetter {
  seq: number
  subject: string
  data: Uint8Array
  code: string
  reason: string
}

/** Resolves once JetStream stored the dead letter (`duplicate` when it had it already): only then may the original be acknowledged. */
export function publishDeadLetter(js: JetStreamClient, consumerName: string, letter: DeadLetter): Promise<PubAck> {
  const h = headers()
  h.set(DeadLetterHeader.Code, letter.code)
  h.set(DeadLetterHeader.Reason, letter.reason.replace(/\s+/g, ' ').trim().slice(0, REASON_MAX_CHARS))
  h.set(DeadLetterHeader.Stream, BEACONS_STREAM)
  h.set(DeadLetterHeader.Subject, letter.subject)
  h.set(DeadLetterHeader.Sequence, String(letter.seq))
  h.set(DeadLetterHeader.Consumer, consumerName)
  return js.publish(STORAGE_DEAD_LETTER_SUBJECT, letter.data, { headers: h, msgID: `${consumerName}:${letter.seq}` })
}
