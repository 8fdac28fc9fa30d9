// The window worker pool with real worker threads: a partition always lands in
// the same thread, batches cross as transferred bytes, windows come out as the
// pipeline computes them in-process, tasks apply in order even when sent out of
// order, the pool grows on demand with new partitions going to the new thread,
// and a thread that dies reports the partitions it took with it.
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeBatch } from '../../engine/model/beacon-batch.ts'
import type { Sample } from '../../engine/model/sample.ts'
import type { StreamOutput } from '../../engine/stream/series-evaluator.ts'
import { DEFAULT_WINDOWS, type PipelineSettings } from '../../engine/stream/stream-config.ts'
import { PartitionPipeline } from '../../engine/stream/window-pipeline.ts'
import type { WorkerReply } from '../../engine/stream/worker-protocol.ts'
import { WindowWorkerPool } from '../../engine/stream/worker-pool.ts'
import { syntheticBatches } from '../helpers/stream-input.ts'

const settings: PipelineSettings = { windows: DEFAULT_WINDOWS.map((w) => ({ ...w })), allowedLatenessMs: 5_000, quantileAccuracy: 0.01 }
const PARTITIONS = 6
let pool: WindowWorkerPool

beforeAll(() => {
  pool = new WindowWorkerPool({ minThreads: 2, maxThreads: 3, lagMessages: 1_000_000 })
})

afterAll(async () => {
  await pool?.close()
})

const batchesFor = (partition: number) =>
  syntheticBatches({ seed: 100 + partition, tenants: 2, seriesPerTenant: 10, batches: 60, samplesPerBatch: 40, startTs: 1_700_000_000_000, stepMs: 5_000, jitterMs: 8_000 })

function sortById(outputs: StreamOutput[]): StreamOutput[] {
  return [...outputs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

describe('pinning and windows', () => {
  const threadsSeen = new Map<number, Set<number>>()
  const outputs = new Map<number, StreamOutput[]>()

  beforeAll(async () => {
    await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => pool.run(p, { op: 'open', partition: p, generation: 1, n: 0, settings })))
    const logs = Array.from({ length: PARTITIONS }, (_, p) => batchesFor(p))
    const detached: boolean[] = []
    const replies: Array<Promise<[number, WorkerReply]>> = []
    // Round-robin over partitions, many tasks in flight at once: each must still land in its partition's thread.
    for (let i = 0; i < 60; i++) {
      for (let p = 0; p < PARTITIONS; p++) {
        // A copy: a small batch may sit in Node's shared Buffer pool, whose ArrayBuffer is never transferred.
        const data = new Uint8Array(encodeBatch((logs[p] as ReturnType<typeof batchesFor>)[i] as never))
        const buffer = data.buffer as ArrayBuffer
        const reply = pool.run(p, { op: 'apply', partition: p, generation: 1, n: i + 1, messages: [{ seq: i + 1, data }], checkpoint: false }, [buffer])
        detached.push(buffer.byteLength === 0)
        replies.push(reply.then((r) => [p, r]))
      }
    }
    for (let p = 0; p < PARTITIONS; p++) {
      replies.push(pool.run(p, { op: 'apply', partition: p, generation: 1, n: 61, messages: [{ seq: 61, watermark: 1_800_000_000_000 }], checkpoint: true }).then((r) => [p, r]))
    }
    for (const [p, r] of await Promise.all(replies)) {
      if (!threadsSeen.has(p)) threadsSeen.set(p, new Set())
      threadsSeen.get(p)?.add(r.threadId)
      outputs.set(p, [...(outputs.get(p) ?? []), ...r.outputs])
    }
    expect(detached.every(Boolean)).toBe(true)
  })

  it('runs every task of a partition in one thread, and spreads partitions over the threads', () => {
    for (let p = 0; p < PARTITIONS; p++) {
      expect(threadsSeen.get(p)?.size, `partition ${p}`).toBe(1)
      expect([...(threadsSeen.get(p) as Set<number>)][0]).toBe(pool.threadOf(p))
    }
    const perThread = Object.values(pool.stats().pins).map((ps) => ps.length)
    expect(perThread.sort()).toEqual([3, 3])
  })

  it('computes the same windows in a worker as the pipeline does in-process', () => {
    for (let p = 0; p < PARTITIONS; p++) {
      const local = new PartitionPipeline(p, settings)
      const expected: StreamOutput[] = []
      batchesFor(p).forEach((samples, i) => local.apply({ kind: 'batch', seq: i + 1, samples }, expected))
      local.apply({ kind: 'watermark', seq: 61, watermark: 1_800_000_000_000 }, expected)
      expect(expected.length).toBeGreaterThan(50)
      expect(sortById(outputs.get(p) ?? [])).toEqual(sortById(expected))
    }
  })
})

it('applies a partition’s tasks in n order even when they reach the thread out of order', async () => {
  const p = 40
  await pool.run(p, { op: 'open', partition: p, generation: 1, n: 0, settings })
  const second = pool.run(p, { op: 'apply', partition: p, generation: 1, n: 2, messages: [{ seq: 2, watermark: 120_000 }], checkpoint: false })
  const first = pool.run(p, { op: 'apply', partition: p, generation: 1, n: 1, messages: [{ seq: 1, data: encodeBatch([['t', 'm', 30_000, 5, null, 0]]) }], checkpoint: false })
  const [r1, r2] = await Promise.all([first, second])
  expect(r1.samples).toBe(1)
  expect(r2.outputs.map((o) => o.id)).toContain('1m|0|t|m')
  // An older generation is answered stale and changes nothing.
  await pool.run(p, { op: 'open', partition: p, generation: 2, n: 0, settings })
  const old = await pool.run(p, { op: 'apply', partition: p, generation: 1, n: 3, messages: [{ seq: 3, watermark: 1e15 }], checkpoint: false })
  expect(old.stale).toBe(true)
})

it('grows by a thread on demand; the next new partition goes to it', async () => {
  expect(pool.threads).toBe(2)
  const thread = await pool.grow()
  expect(thread).toBeDefined()
  expect(pool.threads).toBe(3)
  const reply = await pool.run(50, { op: 'open', partition: 50, generation: 1, n: 0, settings })
  expect(reply.threadId).toBe(thread)
  // At maxThreads it does not grow further.
  expect(await pool.grow()).toBeUndefined()
})

it('reports the partitions of a thread that died, so their readers rebuild them', async () => {
  const victim = pool.threadOf(0) as number
  const held = pool.stats().pins[victim] ?? []
  const lost: number[] = []
  pool.on('partition-lost', (p) => lost.push(p))
  const worker = pool.workerThreads().find((w) => w.threadId === victim)
  if (!worker) throw new Error(`no thread ${victim}`)
  const exited = once(worker, 'exit')
  await worker.terminate()
  await exited
  for (let i = 0; i < 100 && lost.length < held.length; i++) await new Promise((r) => setTimeout(r, 20))
  expect(lost.sort((a, b) => a - b)).toEqual(held)
  expect(pool.threadOf(0)).toBeUndefined()
  // The partition comes back in a live thread, empty until its reader replays it.
  const reply = await pool.run(0, { op: 'open', partition: 0, generation: 2, n: 0, settings })
  expect(reply.threadId).not.toBe(victim)
  expect(reply.partitions).toContain(0)
})

it('grows under lag by itself and moves half of the lagging thread’s partitions to the new thread', async () => {
  const lagging = new WindowWorkerPool({ minThreads: 1, maxThreads: 2, lagMessages: 10, lagCheckMs: 50 })
  try {
    const moves: Array<[number, number]> = []
    lagging.on('move', (p, thread) => moves.push([p, thread]))
    for (const p of [0, 1]) await lagging.run(p, { op: 'open', partition: p, generation: 1, n: 0, settings })
    expect(lagging.threads).toBe(1)
    // Below the threshold nothing happens.
    lagging.reportBacklog(0, 5)
    lagging.reportBacklog(1, 4)
    await new Promise((r) => setTimeout(r, 300))
    expect(moves).toEqual([])
    lagging.reportBacklog(0, 500)
    lagging.reportBacklog(1, 40)
    for (let i = 0; i < 100 && moves.length === 0; i++) await new Promise((r) => setTimeout(r, 50))
    expect(lagging.threads).toBe(2)
    // The partition with the larger backlog moves, to the thread that did not exist before.
    expect(moves).toHaveLength(1)
    const [[partition, thread]] = moves as [[number, number]]
    expect(partition).toBe(0)
    expect(thread).not.toBe(lagging.threadOf(1))
    expect(lagging.stats().grown).toBe(1)
  } finally {
    await lagging.close()
  }
})

it('runs a small task of one partition before the big batches queued in its thread for others (lightest first, each partition in order)', async () => {
  // No task is ever overdue here: on a loaded CI box the big tasks took long enough that every task had waited past
  // the default 100 ms, and overdue tasks rightly run in arrival order (seen: 20/1 20/2 21/1 21/2 22/1 22/2 23/1).
  const single = new WindowWorkerPool({ minThreads: 1, maxThreads: 1, lagMessages: 1_000_000, maxTaskWaitMs: 600_000 })
  try {
    const heavy = [20, 21, 22]
    const light = 23
    await Promise.all([...heavy, light].map((p) => single.run(p, { op: 'open', partition: p, generation: 1, n: 0, settings })))
    const big = syntheticBatches({ seed: 7, tenants: 2, seriesPerTenant: 400, batches: 6, samplesPerBatch: 1_000, startTs: 1_700_000_000_000, stepMs: 1_000, jitterMs: 500 })
    const finished: string[] = []
    const sent: Array<Promise<unknown>> = []
    // Every batch encoded before the first goes: encoding one between sends (tens of ms on a busy box) let the thread
    // finish the first big task and start the next before the small one arrived (seen in a CI run: 20/1 20/2 23/1).
    const task = (partition: number, n: number, samples: Sample[]) => {
      const data = new Uint8Array(encodeBatch(samples))
      return { partition, n, data, task: { op: 'apply' as const, partition, generation: 1, n, messages: [{ seq: n, data }], checkpoint: false } }
    }
    // Each heavy partition gets two big batches, then the light one a single sample: in arrival order it would
    // finish last, behind every big batch.
    const tasks = [...heavy.flatMap((p, i) => [task(p, 1, big[2 * i] as Sample[]), task(p, 2, big[2 * i + 1] as Sample[])]), task(light, 1, [['t_0', 'tiny', 1_700_000_000_000, 1, null, 0]])]
    for (const t of tasks) sent.push(single.run(t.partition, t.task, [t.data.buffer as ArrayBuffer]).then(() => finished.push(`${t.partition}/${t.n}`)))
    await Promise.all(sent)
    // The first big batch may already be running when the small one arrives; after it, the small one goes first.
    expect(finished.indexOf(`${light}/1`), finished.join(' ')).toBeLessThanOrEqual(1)
    // Each partition's own tasks still in n order.
    for (const p of heavy) expect(finished.indexOf(`${p}/1`)).toBeLessThan(finished.indexOf(`${p}/2`))
  } finally {
    await single.close()
  }
})
