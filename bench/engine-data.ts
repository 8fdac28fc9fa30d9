// The engine bench's fixed data, shared by bench/engine.ts and the worker threads
// that measure one evaluator set each (engine-cost.ts): SERIES series of one
// tenant, 10 samples per series per second of event time, a little out of order.
import { encodeBatch } from '../engine/model/beacon-batch.ts'
import type { Sample } from '../engine/model/sample.ts'

export function engineBenchBatches(samples: number, series: number, batch: number): Uint8Array[] {
  const out: Uint8Array[] = []
  const start = 1_700_000_000_000
  let i = 0
  while (i < samples) {
    const part: Sample[] = []
    for (let k = 0; k < batch && i < samples; k++, i++) {
      const s = i % series
      const ts = start + Math.floor(i / series) * 100 - (i % 7) * 10
      part.push(['t_bench', s % 2 === 0 ? 'load_time' : 'cpu_usage', ts, (i * 7919) % 1000, { host: `h${s}` }, ts])
    }
    out.push(encodeBatch(part))
  }
  return out
}
