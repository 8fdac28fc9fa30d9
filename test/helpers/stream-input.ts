// Deterministic input for the stream engine's tests and measurements: the same
// seed gives the same samples, in the same batches, every run.
import type { Sample } from '../../engine/model/sample.ts'

/** mulberry32: a small seeded PRNG, good enough to shuffle test data. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface SyntheticInput {
  seed: number
  tenants: number
  seriesPerTenant: number
  batches: number
  samplesPerBatch: number
  /** Event time of the first sample. */
  startTs: number
  /** How far event time moves per batch. */
  stepMs: number
  /** Samples are scattered this far back from the batch's time (some beyond the allowed lateness: late ones). */
  jitterMs: number
}

/** Batches of samples whose event time moves forward with jitter; values include negatives and zeros. */
export function syntheticBatches(input: SyntheticInput): Sample[][] {
  const random = seededRandom(input.seed)
  const batches: Sample[][] = []
  for (let b = 0; b < input.batches; b++) {
    const batchTs = input.startTs + b * input.stepMs
    const batch: Sample[] = []
    for (let i = 0; i < input.samplesPerBatch; i++) {
      const tenant = `t_${Math.floor(random() * input.tenants)}`
      const series = Math.floor(random() * input.seriesPerTenant)
      const metric = series % 3 === 0 ? 'load_time' : series % 3 === 1 ? 'cpu_usage' : 'delta'
      const ts = Math.round(batchTs - random() * input.jitterMs)
      const r = random()
      const value = metric === 'delta' ? Math.round((r - 0.5) * 2000) / 10 : r < 0.05 ? 0 : Math.round(Math.exp(r * 8) * 100) / 100
      batch.push([tenant, metric, ts, value, { host: `h${series}` }, batchTs])
    }
    batches.push(batch)
  }
  return batches
}
