// NATS names in one place: streams, subjects, consumers and buckets.

export const BEACONS_STREAM = 'TM_BEACONS'
export const BEACONS_SUBJECT_PREFIX = 'tm.beacons.'
export const BEACONS_SUBJECTS = `${BEACONS_SUBJECT_PREFIX}>`
export const STORAGE_CONSUMER = 'tm-storage'
export const TENANTS_BUCKET = 'tm_tenants'
/** Bookkeeping the storage consumer needs to redo an interrupted insert exactly (see storage-consumer.ts). */
export const STORAGE_STATE_BUCKET = 'tm_storage_state'

export function beaconSubject(partition: number): string {
  return BEACONS_SUBJECT_PREFIX + partition
}
