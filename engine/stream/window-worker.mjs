// The entry piscina starts in each worker thread: registers tsx in this thread
// (hooks registered in the main thread do not reach worker threads on Node 20,
// measured: ERR_UNKNOWN_FILE_EXTENSION), then loads the TypeScript handler.
// Resolving tsx from this file keeps it working whatever the process's cwd.
import { register } from 'tsx/esm/api'

register()
const { default: handle } = await import('./window-worker.ts')
export default handle
