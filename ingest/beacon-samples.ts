// Validated beacons to samples, and back: which beacons a partial failure left
// without their samples, so a 503 can tell the client what to resend.
import {
  MAX_FUTURE_SKEW_MS,
  MAX_METRICS_PER_BEACON,
  MIN_TIMESTAMP_MS,
  parseIsoTimestamp,
  type BeaconBody,
  type FieldProblem,
  type Sample,
} from '../engine/index.ts'

const MIN_TIMESTAMP_ISO = new Date(MIN_TIMESTAMP_MS).toISOString()

/** Whether an object has an own enumerable key, without listing them (Object.keys allocates an array a beacon). */
function hasAny(object: object): boolean {
  for (const _ in object) return true
  return false
}

/** The field a problem names: `[3].ts`, `ts`, `[3]`, `(body)`; built only for a problem, so the hot path makes no string a beacon. */
function fieldOf(body: BeaconBody | BeaconBody[], i: number, name?: string): string {
  if (!Array.isArray(body)) return name ?? '(body)'
  return name === undefined ? `[${i}]` : `[${i}].${name}`
}

/** Turns validated beacons into samples; returns the problems instead if any beacon is unusable. */
export function beaconsToSamples(tenant: string, body: BeaconBody | BeaconBody[], receivedAt: number): Sample[] | FieldProblem[] {
  const beacons = Array.isArray(body) ? body : [body]
  const samples: Sample[] = []
  const problems: FieldProblem[] = []
  for (let i = 0; i < beacons.length; i++) {
    const beacon = beacons[i] as BeaconBody
    let ts = receivedAt
    if (beacon.ts !== undefined) {
      // Epoch ms are bounded by the schema; an ISO string is bounded here, after it is read (as UTC when it has no offset).
      ts = typeof beacon.ts === 'number' ? beacon.ts : parseIsoTimestamp(beacon.ts)
      if (Number.isNaN(ts)) problems.push({ field: fieldOf(body, i, 'ts'), problem: 'must be epoch milliseconds or an ISO 8601 date-time' })
      else if (ts < MIN_TIMESTAMP_MS) problems.push({ field: fieldOf(body, i, 'ts'), problem: `must not be before ${MIN_TIMESTAMP_ISO}` })
      else if (ts > receivedAt + MAX_FUTURE_SKEW_MS) {
        problems.push({ field: fieldOf(body, i, 'ts'), problem: `must not be more than ${MAX_FUTURE_SKEW_MS / 60_000} minutes in the future` })
      }
    }
    const tags = beacon.tags && hasAny(beacon.tags) ? beacon.tags : null
    let metrics = 0
    for (const name in beacon) {
      if (name === 'ts' || name === 'tags') continue
      samples.push([tenant, name, ts, beacon[name] as number, tags, receivedAt])
      metrics++
    }
    if (metrics === 0) problems.push({ field: fieldOf(body, i), problem: 'has no metric: send at least one name -> number pair besides ts and tags' })
    // The schema counts ts and tags among its properties, so it lets a beacon without them carry two metrics too many.
    if (metrics > MAX_METRICS_PER_BEACON) problems.push({ field: fieldOf(body, i), problem: `has ${metrics} metrics: at most ${MAX_METRICS_PER_BEACON} a beacon` })
  }
  return problems.length > 0 ? problems : samples
}

/** A beacon not (entirely) durable: all its metrics must be resent, or only those named. */
export interface NotDurableBeacon {
  beacon: number
  /** Present when some of the beacon's metrics are durable: the ones that are not. */
  metrics?: string[]
}

/** Which beacons lack durable samples, given one flag per sample in beaconsToSamples' order (1 = not durable). */
export function notDurableBeacons(body: BeaconBody | BeaconBody[], notDurable: Uint8Array): NotDurableBeacon[] {
  const beacons = Array.isArray(body) ? body : [body]
  const result: NotDurableBeacon[] = []
  let sample = 0
  for (let i = 0; i < beacons.length; i++) {
    const beacon = beacons[i] as BeaconBody
    const missing: string[] = []
    let metrics = 0
    for (const name in beacon) {
      if (name === 'ts' || name === 'tags') continue
      if (notDurable[sample++]) missing.push(name)
      metrics++
    }
    if (missing.length === metrics && metrics > 0) result.push({ beacon: i })
    else if (missing.length > 0) result.push({ beacon: i, metrics: missing })
  }
  return result
}
