// A fresh worker thread for one measurement of bench/engine-cost.ts: registers
// tsx in this thread (hooks from the main thread do not reach workers on Node 20).
import { register } from 'tsx/esm/api'

register()
await import('./engine-cost.ts')
