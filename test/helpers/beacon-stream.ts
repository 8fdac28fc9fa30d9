// What clients' requests put in TM_BEACONS, counted from the stream itself. The
// stream carries more than clients' samples: the engine's anomaly scores (on
// their own subjects), rule-change markers, and ingest's usage samples of the
// system tenant, any of which may land while a test runs. Counting messages
// would count those too; counting one tenant's samples on the client subjects
// does not.
import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream'
import { BEACONS_STREAM, decodeBatch, SCORES_SUBJECT_PREFIX } from '../../engine/index.ts'
import { CONFIG_KIND, KIND_HEADER } from '../../engine/stream/index.ts'

export async function lastBeaconSeq(jsm: JetStreamManager): Promise<number> {
  return (await jsm.streams.info(BEACONS_STREAM)).state.last_seq
}

/** Whether a stored message is a batch of samples ingest published (not a score batch, not a rule-change marker). */
export function isClientBatch(message: StoredMsg): boolean {
  return !message.subject.startsWith(SCORES_SUBJECT_PREFIX) && message.header?.get(KIND_HEADER) !== CONFIG_KIND
}

/** The tenant's samples, as clients sent them, in the beacon stream's messages after `seq`. */
export async function tenantSamplesAfter(jsm: JetStreamManager, tenantId: string, seq: number): Promise<number> {
  const last = await lastBeaconSeq(jsm)
  let count = 0
  for (let s = seq + 1; s <= last; s++) {
    const message = await jsm.streams.getMessage(BEACONS_STREAM, { seq: s })
    if (!message || !isClientBatch(message)) continue
    count += decodeBatch(message.data).filter((sample) => sample[0] === tenantId).length
  }
  return count
}
