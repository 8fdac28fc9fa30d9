// chDB's threads and storage's encode worker run at TIDEMARK_STORAGE_NICE (10 by
// default), the rest of the process at its own priority: the event loop and
// the stream engine's worker threads win the cores when storage competes for
// them (engine/clickhouse/thread-priority.ts). The whole embedded stack on real
// NATS and chDB, with the stream engine on, after samples were stored.
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { processThreads, threadPrioritySupported, threadStat } from '../../engine/clickhouse/thread-priority.ts'
import { startStack, type Stack } from '../helpers/stack.ts'

let stack: Stack

beforeAll(async () => {
  // Opt-in (off by default, README: it slows storage whenever the cores are contended).
  stack = await startStack({ storageNice: 10 })
})
afterAll(async () => stack?.stop())

/** Each thread's name and nice value. */
function niceByThread(): Array<{ tid: number; name: string; nice: number }> {
  return processThreads().flatMap(({ tid, name }) => {
    const stat = threadStat(tid)
    return stat ? [{ tid, name, nice: stat.nice }] : []
  })
}

it.runIf(threadPrioritySupported())('lowers chDB threads and the encode worker to TIDEMARK_STORAGE_NICE, never the main thread or the stream engine workers', async () => {
  expect(stack.config.storageNice).toBe(10)
  const tenant = await stack.createTenant('nice')
  const beacons = Array.from({ length: 100 }, (_, i) => ({ page_views: i, load_time: 400 + i, tags: { page: `/p${i % 5}` } }))
  const res = await stack.request('POST', '/api/v2/analytics/metrics', tenant.ingestToken, beacons)
  expect(res.status).toBe(200)
  expect(await stack.waitForRows(tenant.id, 200)).toBe(200)
  // The stream engine ran: its anomaly scores, computed in its worker threads, were stored too.
  const scoresStored = async (): Promise<number> =>
    Number((await stack.tidemark.runtime.store!.rows<{ n: string }>(`SELECT count() AS n FROM tidemark.samples WHERE tenant = {t:String} AND metric = 'anomaly_score'`, { t: tenant.id }))[0]?.n)
  for (let i = 0; i < 100 && (await scoresStored()) === 0; i++) await sleep(100)
  expect(await scoresStored()).toBeGreaterThan(0)
  // Pools start threads lazily: the rescan (every second) catches those started since.
  await sleep(1500)
  const threads = niceByThread()
  const chdb = threads.filter((t) => t.name !== 'node')
  expect(chdb.map((t) => t.name)).toContain('MergeMutate')
  expect(chdb.filter((t) => t.nice < 10)).toEqual([])
  const main = threads.find((t) => t.tid === process.pid)
  expect(main?.nice).toBe(0)
  // Every thread Node made keeps the process's priority (main, V8, libuv, the stream engine's workers) but
  // storage's encode worker, which lowered itself.
  const node = threads.filter((t) => t.name === 'node')
  expect(node.filter((t) => t.nice === 10)).toHaveLength(1)
  expect(node.filter((t) => t.nice !== 0 && t.nice !== 10)).toEqual([])
})
