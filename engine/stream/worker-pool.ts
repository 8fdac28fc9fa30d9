// The window workers: a piscina pool whose load balancer pins each partition to
// one thread, so a series' window state lives in exactly one place.
//
// - A partition seen for the first time goes to the live thread holding the
//   fewest partitions (ties: the least busy); it stays there while that thread
//   lives. Tasks go to the pinned thread even when it is busy: the worker applies
//   each partition's in order (the lightest ready task of any partition first),
//   and queueing there keeps piscina's own queue empty.
// - A thread that dies takes its partitions' state with it: the pool emits
//   'partition-lost' for each, and their readers rebuild them by replay.
// - Under lag the pool grows: when the messages waiting behind one thread stay
//   above lagMessages for two checks, and it holds two partitions or more, one
//   thread is added (up to maxThreads) and half of that thread's partitions are
//   moved to it ('move'); a move is a checkpoint, then a replay in the new thread.
//   New partitions go to the new thread first, since it holds the fewest.
// - Threads never idle out (idleTimeout Infinity): a thread's partitions are its
//   state. The pool does not shrink; a thread left with no partitions is cheap.
import { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { Worker } from 'node:worker_threads'
import { Piscina, queueOptionsSymbol } from 'piscina'
import type { PiscinaTask } from 'piscina'
import type { WorkerReply, WorkerTask } from './worker-protocol.ts'

type LoadBalancer = NonNullable<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer']>
type PiscinaWorker = Parameters<LoadBalancer>[1][number]

/** How long other tasks wait for a new thread to come up before going on without it. */
const GROW_TIMEOUT_MS = 10_000

const WORKER_ENTRY = fileURLToPath(new URL('./window-worker.mjs', import.meta.url))

export interface WorkerPoolOptions {
  minThreads: number
  maxThreads: number
  /** Messages waiting behind one thread past which the pool grows. */
  lagMessages: number
  /** How often lag is checked. */
  lagCheckMs?: number
  /** A window worker entry; tests may use another. */
  filename?: string
  /**
   * How long a ready task may wait before it runs ahead of lighter ones (window-worker.ts; default 100 ms). A test
   * of the lightest-first order sets it high, so that a loaded machine's delays cannot make every task overdue.
   */
  maxTaskWaitMs?: number
}

/** Routing a task asks of the balancer, carried under piscina's queue-options symbol (never sent to the thread). */
interface Route {
  partition?: number
  /** A probe that should land on a new thread: the balancer answers null once, so piscina spawns one. */
  grow?: boolean
}

interface PoolEvents {
  'partition-lost': [partition: number]
  move: [partition: number, threadId: number]
}

export interface PoolStats {
  threads: number
  maxThreads: number
  /** Partitions per thread id. */
  pins: Record<number, number[]>
  grown: number
  moves: number
}

export class WindowWorkerPool extends EventEmitter<PoolEvents> {
  readonly #piscina: Piscina<WorkerTask, WorkerReply>
  readonly #o: Required<Omit<WorkerPoolOptions, 'filename' | 'maxTaskWaitMs'>>
  readonly #pins = new Map<number, number>()
  readonly #alive = new Set<number>()
  readonly #backlog = new Map<number, number>()
  readonly #lagging = new Map<number, number>()
  #growing: Promise<void> | undefined
  #spawnRequested = false
  #timer: NodeJS.Timeout
  #lastGrowth = 0
  #grown = 0
  #moves = 0

  constructor(options: WorkerPoolOptions) {
    super()
    this.#o = { lagCheckMs: 1000, ...options }
    this.#piscina = new Piscina<WorkerTask, WorkerReply>({
      filename: options.filename ?? WORKER_ENTRY,
      minThreads: options.minThreads,
      maxThreads: options.maxThreads,
      idleTimeout: Infinity,
      // Tasks queue in the pinned thread, not in piscina (see above); piscina's queue only ever holds a growth probe.
      maxQueue: Infinity,
      loadBalancer: (task, workers) => this.#balance(task, workers),
      ...(options.maxTaskWaitMs === undefined ? {} : { workerData: { maxTaskWaitMs: options.maxTaskWaitMs } }),
    })
    this.#piscina.on('workerCreate', (w: PiscinaWorker) => {
      this.#alive.add(w.id)
    })
    // A dead thread's id already reads -1 here (Node clears threadId as it exits): reconcile with the threads left.
    this.#piscina.on('workerDestroy', () => setImmediate(() => this.#reconcile()))
    // A thread that crashed between tasks: piscina reports it here; its partitions are gone with it.
    this.#piscina.on('error', () => {})
    this.#timer = setInterval(() => this.#checkLag(), this.#o.lagCheckMs)
    this.#timer.unref()
  }

  /** Runs a partition's task in its thread; transferList moves the batches' bytes instead of copying them. */
  async run(partition: number, task: WorkerTask, transferList?: ArrayBuffer[]): Promise<WorkerReply> {
    // While a growth probe waits in piscina's queue, piscina would queue (and spawn for) every other task too.
    while (this.#growing) await this.#growing
    const route: Route = { partition }
    return this.#piscina.run(Object.assign(task, { [queueOptionsSymbol]: route }), { transferList })
  }

  threadOf(partition: number): number | undefined {
    return this.#pins.get(partition)
  }

  /** Puts a partition on a given thread (a move); its next open lands there. */
  pin(partition: number, threadId: number): void {
    this.#pins.set(partition, threadId)
  }

  /** The partition left this process (lease moved): the next time it comes, it goes to the emptiest thread. */
  unpin(partition: number): void {
    this.#pins.delete(partition)
    this.#backlog.delete(partition)
  }

  /** A reader tells how many of its partition's messages wait (stream pending plus those in hand). */
  reportBacklog(partition: number, messages: number): void {
    this.#backlog.set(partition, messages)
  }

  get threads(): number {
    return this.#piscina.threads.length
  }

  /** The threads themselves (their ids, resource use). */
  workerThreads(): readonly Worker[] {
    return this.#piscina.threads
  }

  stats(): PoolStats {
    const pins: Record<number, number[]> = {}
    for (const [p, t] of this.#pins) (pins[t] ??= []).push(p)
    for (const list of Object.values(pins)) list.sort((a, b) => a - b)
    return { threads: this.threads, maxThreads: this.#o.maxThreads, pins, grown: this.#grown, moves: this.#moves }
  }

  /** Adds one thread (if below maxThreads) and resolves with its id once it is ready (undefined if none came). */
  grow(): Promise<number | undefined> {
    if (this.threads >= this.#o.maxThreads) return Promise.resolve(undefined)
    const known = new Set(this.#alive)
    let created: number | undefined
    let onCreate: (w: PiscinaWorker) => void = () => {}
    const ready = new Promise<void>((resolve) => {
      onCreate = (w: PiscinaWorker) => {
        if (known.has(w.id)) return
        created = w.id
        resolve()
      }
      this.#piscina.on('workerCreate', onCreate)
    })
    this.#spawnRequested = false
    const probe = this.#piscina.run({ op: 'probe', [queueOptionsSymbol]: { grow: true } as Route } as WorkerTask)
    probe.catch(() => {})
    // A thread that never comes up must not hold every other task back: give up waiting after a while.
    const growing = Promise.race([Promise.all([ready, probe]), sleep(GROW_TIMEOUT_MS, undefined, { ref: false })])
      .then(() => {
        if (created !== undefined) this.#grown++
      })
      .catch(() => {})
      .finally(() => {
        this.#piscina.off('workerCreate', onCreate)
        this.#growing = undefined
      })
    this.#growing = growing
    return growing.then(() => created)
  }

  async close(): Promise<void> {
    clearInterval(this.#timer)
    await this.#piscina.destroy()
  }

  #balance(task: PiscinaTask, workers: PiscinaWorker[]): PiscinaWorker | null {
    const route = (task as unknown as Record<symbol, Route | null>)[queueOptionsSymbol] ?? {}
    const live = workers.filter((w) => !w.terminating && !w.destroyed)
    if (route.grow) {
      // Null once makes piscina spawn a thread; the probe then runs anywhere, its job done.
      if (!this.#spawnRequested && this.threads < this.#o.maxThreads) {
        this.#spawnRequested = true
        return null
      }
      return this.#leastBusy(live)
    }
    if (route.partition === undefined) return this.#leastBusy(live)
    const pinned = this.#pins.get(route.partition)
    if (pinned !== undefined) {
      const w = live.find((x) => x.id === pinned)
      if (w) return w
      // Alive but not offered (not ready): wait rather than split the partition's state over two threads.
      if (this.#alive.has(pinned)) return null
    }
    const chosen = this.#emptiest(live)
    if (chosen) this.#pins.set(route.partition, chosen.id)
    return chosen
  }

  #leastBusy(workers: PiscinaWorker[]): PiscinaWorker | null {
    let best: PiscinaWorker | null = null
    for (const w of workers) if (best === null || w.currentUsage < best.currentUsage) best = w
    return best
  }

  #emptiest(workers: PiscinaWorker[]): PiscinaWorker | null {
    const count = new Map<number, number>()
    for (const t of this.#pins.values()) count.set(t, (count.get(t) ?? 0) + 1)
    let best: PiscinaWorker | null = null
    for (const w of workers) {
      if (best === null) best = w
      else {
        const d = (count.get(w.id) ?? 0) - (count.get(best.id) ?? 0)
        if (d < 0 || (d === 0 && w.currentUsage < best.currentUsage)) best = w
      }
    }
    return best
  }

  #reconcile(): void {
    const running = new Set(this.#piscina.threads.map((t) => t.threadId).filter((id) => id >= 0))
    for (const id of [...this.#alive]) if (!running.has(id)) this.#alive.delete(id)
    for (const [p, t] of [...this.#pins]) {
      if (running.has(t)) continue
      this.#pins.delete(p)
      this.emit('partition-lost', p)
    }
  }

  #checkLag(): void {
    if (this.#growing || this.threads >= this.#o.maxThreads) return
    // Let the last move's replays catch up before judging again.
    if (Date.now() - this.#lastGrowth < 5 * this.#o.lagCheckMs) return
    const perThread = new Map<number, number[]>()
    for (const [p, t] of this.#pins) perThread.set(t, [...(perThread.get(t) ?? []), p])
    let worst: { thread: number; partitions: number[]; backlog: number } | undefined
    for (const [thread, partitions] of perThread) {
      const backlog = partitions.reduce((n, p) => n + (this.#backlog.get(p) ?? 0), 0)
      const lagging = backlog > this.#o.lagMessages && partitions.length >= 2 ? (this.#lagging.get(thread) ?? 0) + 1 : 0
      this.#lagging.set(thread, lagging)
      if (lagging >= 2 && (!worst || backlog > worst.backlog)) worst = { thread, partitions, backlog }
    }
    if (!worst) return
    const from = worst
    this.#lastGrowth = Date.now()
    void this.grow().then((thread) => {
      if (thread === undefined) return
      this.#lagging.delete(from.thread)
      // Move the busier half: what waits most gains most from a thread of its own.
      const moving = [...from.partitions].sort((a, b) => (this.#backlog.get(b) ?? 0) - (this.#backlog.get(a) ?? 0)).slice(0, Math.floor(from.partitions.length / 2))
      for (const p of moving) {
        this.#moves++
        this.emit('move', p, thread)
      }
    })
  }
}
