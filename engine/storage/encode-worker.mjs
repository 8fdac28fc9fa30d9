// The entry piscina starts in the storage encode worker thread: registers tsx in
// this thread (hooks registered in the main thread do not reach worker threads
// on Node 20, see engine/stream/window-worker.mjs), then loads the TypeScript handler.
import { register } from 'tsx/esm/api'

register()
const { default: encodeToFile } = await import('./encode-worker.ts')
export default encodeToFile
