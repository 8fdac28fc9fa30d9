// chDB's threads (background merges, query pipelines, its schedule pools) run
// at a lower OS priority than the process's own, so storage's work yields the
// two cores to the event loop and the stream engine's workers: measured on the
// 2-core box with the trigger bench's 100k samples/s, renicing every thread not
// named `node` to 15 from outside cut the trigger latency p50 from ~120 ms to
// ~36 ms. The CPU chDB uses does not change; only who waits when both want it.
//
// ClickHouse has settings for this (os_thread_priority, os_threads_nice_value_query,
// os_threads_nice_value_materialized_view and the server's
// os_threads_nice_value_merge_mutate) but they need CAP_SYS_NICE and are no-ops
// without it, even for a higher nice value (their description says so), and
// chDB takes no server config. So the process renices the threads itself:
// Linux's setpriority(PRIO_PROCESS, tid) changes one thread, which os.setPriority
// does for a thread id. Every thread Node makes (main, V8's, libuv's, worker
// threads) is named `node`; ClickHouse names its own (MergeMutate, ThreadPool,
// QueryPipelineEx, BgSchPool, …). Pools start threads lazily, and a thread
// started by a lowered one inherits its nice value but one started from the main
// thread does not, so the scan is repeated.
import fs from 'node:fs'
import os from 'node:os'

/** Threads Node makes are all named this on Linux; they keep their priority. */
const NODE_THREAD_NAME = 'node'
/** How often new ClickHouse threads are looked for. A scan reads /proc/self/task: about 0.1 ms for 40 threads. */
export const THREAD_SCAN_INTERVAL_MS = 1000

export interface ThreadPriorityLog {
  warn(obj: object, msg?: string): void
}

/** Whether per-thread nice values are available here (Linux, /proc). */
export function threadPrioritySupported(): boolean {
  return process.platform === 'linux' && fs.existsSync('/proc/thread-self')
}

/** The calling thread's id on Linux (the main thread's is the pid); undefined elsewhere. */
export function ownThreadId(): number | undefined {
  try {
    // "<pid>/task/<tid>"
    const link = fs.readlinkSync('/proc/thread-self')
    return Number(link.slice(link.lastIndexOf('/') + 1))
  } catch {
    return undefined
  }
}

/** The process's threads and their names, from /proc/self/task; threads that end meanwhile are left out. */
export function processThreads(): Array<{ tid: number; name: string }> {
  let tids: string[]
  try {
    tids = fs.readdirSync('/proc/self/task')
  } catch {
    return []
  }
  const threads: Array<{ tid: number; name: string }> = []
  for (const t of tids) {
    try {
      threads.push({ tid: Number(t), name: fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trimEnd() })
    } catch {
      // ended between the listing and the read
    }
  }
  return threads
}

/** A thread's CPU seconds so far (user + system) and nice value, from /proc/self/task/<tid>/stat; undefined once it ended. */
export function threadStat(tid: number): { cpuSeconds: number; nice: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
    // The fields after the name (which may hold spaces): utime, stime and nice are the 12th, 13th and 17th, in ticks of 1/100 s.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { cpuSeconds: (Number(f[11]) + Number(f[12])) / 100, nice: Number(f[16]) }
  } catch {
    return undefined
  }
}

/** Raises `tid`'s nice value to `nice` if it is below; false when the thread ended. Throws what else fails. */
function lower(tid: number, nice: number): boolean {
  try {
    if (os.getPriority(tid) >= nice) return true
    os.setPriority(tid, nice)
    return true
  } catch (err) {
    // Node's SystemError carries the errno's name in info.code.
    if ((err as { info?: { code?: string } }).info?.code === 'ESRCH') return false
    throw err
  }
}

let warned = false

/** Logs the first failure to renice, once per process: a lower priority is a nicety, never a reason to stop. */
function warnOnce(log: ThreadPriorityLog | undefined, err: unknown, what: string): void {
  if (warned) return
  warned = true
  log?.warn({ err }, `could not lower the OS priority of ${what}; it keeps the process's priority (TIDEMARK_STORAGE_NICE=0 stops trying)`)
}

/** Lowers the calling thread to `nice` (a worker thread that does storage's work); no-op for 0 or off Linux. */
export function lowerOwnThreadPriority(nice: number, log?: ThreadPriorityLog): void {
  if (nice <= 0 || !threadPrioritySupported()) return
  const tid = ownThreadId()
  if (tid === undefined || tid === process.pid) return
  try {
    lower(tid, nice)
  } catch (err) {
    warnOnce(log, err, 'a storage worker thread')
  }
}

/**
 * Lowers every thread of the process not named `node` (chDB's) to `nice` now,
 * then every THREAD_SCAN_INTERVAL_MS; scan() says how many of them are at
 * `nice` or below. The main thread is never touched. No-op for 0 or off Linux.
 */
export function lowerChdbThreadPriority(nice: number, log?: ThreadPriorityLog, intervalMs = THREAD_SCAN_INTERVAL_MS): { scan(): number; stop(): void } {
  if (nice <= 0 || !threadPrioritySupported()) return { scan: () => 0, stop: () => {} }
  let failed = false
  const scan = (): number => {
    if (failed) return 0
    let lowered = 0
    for (const { tid, name } of processThreads()) {
      if (name === NODE_THREAD_NAME || tid === process.pid) continue
      try {
        if (lower(tid, nice)) lowered++
      } catch (err) {
        // EACCES/EPERM will not change: stop scanning rather than fail every second.
        failed = true
        warnOnce(log, err, `chDB's threads (thread ${tid}, ${name})`)
        return lowered
      }
    }
    return lowered
  }
  scan()
  const timer = setInterval(scan, intervalMs)
  timer.unref()
  return { scan, stop: () => clearInterval(timer) }
}
