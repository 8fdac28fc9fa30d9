// A scorer's state as bytes, for restarts: an 8-byte header ("TMAS", format
// version, three bytes reserved) and the state's Float64 values, little-endian.
// Restoring checks everything it can, so that bytes from elsewhere fail loudly
// instead of scoring nonsense.
import { EngineErrors } from '../errors.ts'
import { LEVELS, SEASON_BINS, STATE_LENGTH, Slot } from './state-layout.ts'

const MAGIC = [0x54, 0x4d, 0x41, 0x53] // "TMAS"
const FORMAT_VERSION = 1
const HEADER_BYTES = 8

/** Bytes of a serialised scorer. */
export const STATE_BYTES = HEADER_BYTES + STATE_LENGTH * 8

export function encodeState(state: Float64Array): Uint8Array {
  const bytes = new Uint8Array(STATE_BYTES)
  bytes.set(MAGIC, 0)
  bytes[4] = FORMAT_VERSION
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < STATE_LENGTH; i++) view.setFloat64(HEADER_BYTES + i * 8, state[i] as number, true)
  return bytes
}

export function decodeState(bytes: Uint8Array): Float64Array {
  const invalid = (why: string): Error => new EngineErrors.AnomalyStateInvalid(why)
  if (!(bytes instanceof Uint8Array)) throw invalid('expected a Uint8Array')
  if (bytes.length !== STATE_BYTES) throw invalid(`expected ${STATE_BYTES} bytes, got ${bytes.length}`)
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw invalid('not a Tidemark anomaly scorer state (bad magic)')
  if (bytes[4] !== FORMAT_VERSION) throw invalid(`format version ${bytes[4]}, this build reads ${FORMAT_VERSION}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const state = new Float64Array(STATE_LENGTH)
  for (let i = 0; i < STATE_LENGTH; i++) {
    const v = view.getFloat64(HEADER_BYTES + i * 8, true)
    // Only MIN and MAX may be infinite (before the first point); nothing may be NaN.
    if (Number.isNaN(v) || (!Number.isFinite(v) && i !== Slot.MIN && i !== Slot.MAX)) throw invalid(`value ${i} is ${v}`)
    state[i] = v
  }
  const count = state[Slot.COUNT] as number
  const prev = state[Slot.PREV_LEVEL] as number
  if (!(state[Slot.PERIOD_MS]! > 0) || !(state[Slot.WARMUP]! >= 0)) throw invalid('options out of range')
  if (!Number.isInteger(count) || count < 0) throw invalid(`point count ${count}`)
  if (!Number.isInteger(prev) || prev < -1 || prev >= LEVELS) throw invalid(`previous level ${prev}`)
  for (let b = 0; b < SEASON_BINS; b++) if (!(state[Slot.SEASON_COUNT + b]! >= 0)) throw invalid('negative season count')
  return state
}
