// Where trigger events go on NATS: the TM_TRIGGERS stream over
// `tm.triggers.>` (kept, so an autoscaler that was down catches up with a
// durable consumer), and the publisher the engine calls as soon as a
// transition or a step is decided.
//
// The duplicate window is what makes a replay harmless: after a restart or a
// partition move the engine replays beacons from its state horizon and
// decides the same events again, with the same ids (trigger-event.ts), and
// JetStream drops every id it saw within the window. A replay re-publishes an
// event at most (time the engine was down or the partition unowned) + (how
// far back the replay starts: the rules' longest range or `for`, minutes to
// an hour) after the original. 24 hours covers an engine down overnight; the
// server keeps each id of the window in memory, and triggers are rare (a few
// per alert per hour). Past the window a subscriber may see an event twice:
// ids stay equal, so it can drop it (examples/autoscaler does; the history
// table keeps one row per id).
import { nanos } from '@nats-io/transport-node'
import { RetentionPolicy, StorageType, type JetStreamClient, type PubAck, type StreamConfig } from '@nats-io/jetstream'
import { retryWithBackoff } from '../retry.ts'
import { TRIGGERS_SUBJECTS } from '../nats/subjects.ts'
import { triggerSubject, type TriggerEvent } from './trigger-event.ts'

export const TRIGGERS_STREAM = 'TM_TRIGGERS'
/** A month of history on NATS (ClickHouse keeps it longer): an autoscaler down for a weekend still catches up. */
export const TRIGGERS_MAX_AGE_MS = 30 * 24 * 3600_000
/** See above: how late a replay may re-publish an event and still have it dropped. */
export const TRIGGERS_DUPLICATE_WINDOW_MS = 24 * 3600_000

/** The stream the owner of the JetStream layout creates (jetstream-setup.ts). */
export function triggersStreamConfig(replicas: number): Partial<StreamConfig> & { name: string } {
  return {
    name: TRIGGERS_STREAM,
    description: 'Tidemark trigger events: alert transitions and action ladder steps',
    subjects: [TRIGGERS_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: replicas,
    max_age: nanos(TRIGGERS_MAX_AGE_MS),
    duplicate_window: nanos(TRIGGERS_DUPLICATE_WINDOW_MS),
  }
}

export interface PublishOptions {
  /** How long to keep retrying one event (same message id) before giving up; default 10 s. */
  timeoutMs?: number
}

export interface PublishResult {
  published: number
  /** Events JetStream already held (a replay, or a retry whose first attempt landed). */
  duplicates: number
}

function isPermissionViolation(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (/permissions violation/i.test(e.message)) return true
  return false
}

/**
 * Publishes events one after another, in the order given (one alert's events
 * must arrive in order), each with msgID = its id and retried with that id
 * until acknowledged. Resolves when JetStream holds all of them.
 */
export async function publishTriggerEvents(js: JetStreamClient, events: readonly TriggerEvent[], options: PublishOptions = {}): Promise<PublishResult> {
  const result: PublishResult = { published: 0, duplicates: 0 }
  const encoder = new TextEncoder()
  for (const event of events) {
    const subject = triggerSubject(event.tenant, event.rule)
    const data = encoder.encode(JSON.stringify(event))
    const deadline = Date.now() + (options.timeoutMs ?? 10_000)
    const ack: PubAck = await retryWithBackoff(() => js.publish(subject, data, { msgID: event.id, timeout: Math.max(100, Math.min(5000, deadline - Date.now())) }), {
      baseMs: 100,
      maxMs: 2000,
      deadline,
      // No retry fixes a missing permission: say so at once.
      giveUp: (err) => isPermissionViolation(err),
    })
    if (ack.duplicate) result.duplicates++
    else result.published++
  }
  return result
}
