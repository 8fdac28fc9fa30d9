// The wire format of tm.beacons.<partition>: a msgpack-encoded batch of samples.
// A version field lets later formats coexist with stored ones.
import { Packr } from 'msgpackr'
import { EngineErrors } from '../errors.ts'
import type { Sample } from './sample.ts'

export const BATCH_FORMAT_VERSION = 1

interface BatchEnvelope {
  v: number
  s: Sample[]
}

// One Packr for the process: records off, so any reader decodes without shared structures.
const packr = new Packr({ useRecords: false, mapsAsObjects: true })

export function encodeBatch(samples: Sample[]): Uint8Array {
  const envelope: BatchEnvelope = { v: BATCH_FORMAT_VERSION, s: samples }
  return packr.pack(envelope)
}

export function decodeBatch(data: Uint8Array): Sample[] {
  let envelope: BatchEnvelope
  try {
    envelope = packr.unpack(data) as BatchEnvelope
  } catch (err) {
    throw new EngineErrors.BatchDecodeFailed((err as Error).message, { cause: err })
  }
  if (envelope?.v !== BATCH_FORMAT_VERSION || !Array.isArray(envelope.s)) {
    throw new EngineErrors.BatchDecodeFailed(`unknown batch format version ${String(envelope?.v)}`)
  }
  return envelope.s
}
