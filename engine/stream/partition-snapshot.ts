// A partition's snapshot: the states its evaluators gave through snapshot()
// (series-evaluator.ts), for the state a replay from the window horizon cannot
// rebuild (anomaly scorers depend on a series' whole history). One msgpack
// blob: { v, seq, s: [[series key, state name, bytes], …], o: [[series key,
// tenant, metric, tags], …] }, taken in the worker thread with a checkpoint and
// stored beside it (checkpoint-store.ts). `o` lists the series that were open
// and not idle: a restore opens them before replaying anything, since their
// state may have work due (a firing alert, a ladder step) without a sample of
// their own in the replay. Snapshots written before `o` existed read as none.
import { Packr } from 'msgpackr'
import { EngineErrors } from '../errors.ts'

export const SNAPSHOT_FORMAT_VERSION = 1

export interface PartitionSnapshot {
  /** The partition had applied its messages up to this seq. */
  seq: number
  /** Series key (tenant + NUL + series) -> state name -> bytes. */
  states: Map<string, Map<string, Uint8Array>>
  /** Series open and not idle when it was taken, by key: opened again first on restore. */
  awake: Map<string, AwakeSeries>
}

export interface AwakeSeries {
  tenant: string
  metric: string
  tags: Record<string, string> | null
}

interface Envelope {
  v: number
  seq: number
  s: [string, string, Uint8Array][]
  o?: [string, string, string, Record<string, string> | null][]
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

export function encodeSnapshot(snapshot: PartitionSnapshot): Uint8Array {
  const s: Envelope['s'] = []
  for (const [key, states] of snapshot.states) for (const [name, bytes] of states) s.push([key, name, bytes])
  const o: NonNullable<Envelope['o']> = []
  for (const [key, a] of snapshot.awake) o.push([key, a.tenant, a.metric, a.tags])
  return packr.pack({ v: SNAPSHOT_FORMAT_VERSION, seq: snapshot.seq, s, ...(o.length > 0 ? { o } : {}) } satisfies Envelope)
}

export function decodeSnapshot(data: Uint8Array): PartitionSnapshot {
  let e: Envelope
  try {
    e = packr.unpack(data) as Envelope
  } catch (err) {
    throw new EngineErrors.SnapshotInvalid(`not a partition snapshot: ${(err as Error).message}`, { cause: err })
  }
  if (e?.v !== SNAPSHOT_FORMAT_VERSION || !Number.isInteger(e.seq) || !Array.isArray(e.s)) throw new EngineErrors.SnapshotInvalid(`unknown partition snapshot format ${String(e?.v)}`)
  const states = new Map<string, Map<string, Uint8Array>>()
  for (const [key, name, bytes] of e.s) {
    let m = states.get(key)
    if (!m) states.set(key, (m = new Map()))
    m.set(name, bytes)
  }
  const awake = new Map<string, AwakeSeries>()
  if (e.o !== undefined && !Array.isArray(e.o)) throw new EngineErrors.SnapshotInvalid('the open series are not a list')
  for (const [key, tenant, metric, tags] of e.o ?? []) awake.set(key, { tenant, metric, tags })
  return { seq: e.seq, states, awake }
}
