// A partition's snapshot: the states its evaluators gave through snapshot()
// (series-evaluator.ts), for the state a replay from the window horizon cannot
// rebuild (anomaly scorers depend on a series' whole history). One msgpack
// blob: { v, seq, s: [[series key, state name, bytes], …] }, taken in the
// worker thread with a checkpoint and stored beside it (checkpoint-store.ts).
import { Packr } from 'msgpackr'
import { EngineErrors } from '../errors.ts'

export const SNAPSHOT_FORMAT_VERSION = 1

export interface PartitionSnapshot {
  /** The partition had applied its messages up to this seq. */
  seq: number
  /** Series key (tenant + NUL + series) -> state name -> bytes. */
  states: Map<string, Map<string, Uint8Array>>
}

interface Envelope {
  v: number
  seq: number
  s: [string, string, Uint8Array][]
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

export function encodeSnapshot(snapshot: PartitionSnapshot): Uint8Array {
  const s: Envelope['s'] = []
  for (const [key, states] of snapshot.states) for (const [name, bytes] of states) s.push([key, name, bytes])
  return packr.pack({ v: SNAPSHOT_FORMAT_VERSION, seq: snapshot.seq, s } satisfies Envelope)
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
  return { seq: e.seq, states }
}
