// Partition leases on a real nats-server: two engines split the partitions; one
// stops renewing as a kill -9 would (timers stopped, nothing released), and the
// other owns every partition within 10 s, never while the dead one could still
// believe it owns one; engines joining later get their share.
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectAs, startNats } from '../helpers/stack.ts'
import type { SupervisedNatsServer } from '../../engine/nats/nats-endpoint.ts'
import { PartitionLeases } from '../../engine/stream/partition-leases.ts'
import { ensureStreamLayout, type StreamLayout } from '../../engine/stream/stream-layout.ts'

const PARTITIONS = 16
const TTL_MS = 3000
const RENEW_MS = 1000

let nats: SupervisedNatsServer
let nc: NatsConnection
let layout: StreamLayout
const managers: PartitionLeases[] = []

beforeAll(async () => {
  nats = await startNats()
  nc = await connectAs(nats)
  layout = await ensureStreamLayout(nc, { replicas: 1, leaseTtlMs: TTL_MS })
})

afterAll(async () => {
  for (const m of managers) m.halt()
  await nc?.close()
  await nats?.stop()
})

interface Engine {
  leases: PartitionLeases
  acquired: Array<{ partition: number; at: number }>
  lost: number[]
}

function engine(id: string, onAcquired?: (p: number) => void, kv: KV = layout.leases): Engine {
  const e: Engine = { leases: undefined as unknown as PartitionLeases, acquired: [], lost: [] }
  e.leases = new PartitionLeases({
    kv,
    partitions: PARTITIONS,
    engineId: id,
    ttlMs: TTL_MS,
    renewMs: RENEW_MS,
    onAcquired: (p) => {
      e.acquired.push({ partition: p, at: Date.now() })
      onAcquired?.(p)
    },
    onLost: (p) => e.lost.push(p),
    onRelease: async () => {},
  })
  managers.push(e.leases)
  return e
}

async function until(condition: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(50)
  }
  return Date.now() - started
}

function assertPartitioned(engines: Engine[]): void {
  const all = engines.flatMap((e) => e.leases.owned())
  expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: PARTITIONS }, (_, i) => i))
}

it('splits the partitions, moves a dead engine’s within 10 s, and rebalances for newcomers', async () => {
  const a = engine('engine-a')
  // B checks, each time it acquires a partition, that A does not believe it still owns it.
  const overlaps: number[] = []
  const b = engine('engine-b', (p) => {
    if (a.leases.isOwner(p)) overlaps.push(p)
  })
  await a.leases.start()
  expect(a.leases.owned()).toHaveLength(PARTITIONS)
  await b.leases.start()
  await until(() => a.leases.owned().length === 8 && b.leases.owned().length === 8, 10_000)
  assertPartitioned([a, b])

  // kill -9, as far as leases can tell: A stops renewing and releases nothing.
  const aHeld = a.leases.owned()
  a.leases.halt()
  const killedAt = Date.now()
  const tookMs = await until(() => b.leases.owned().length === PARTITIONS, 10_000)
  expect(tookMs).toBeLessThan(10_000)
  expect(overlaps).toEqual([])
  // Every partition B took from A came after A's own validity had run out.
  for (const { partition, at } of b.acquired.filter((x) => x.at >= killedAt)) {
    expect(aHeld).toContain(partition)
    expect(a.leases.isOwner(partition)).toBe(false)
    expect(at - killedAt).toBeGreaterThanOrEqual(TTL_MS - RENEW_MS)
  }
  expect(a.leases.owned()).toEqual([])

  // Two newcomers: ceil(16 / 3) = 6 at most each, every partition owned once.
  const c = engine('engine-c')
  const d = engine('engine-d')
  await Promise.all([c.leases.start(), d.leases.start()])
  await until(() => [b, c, d].every((e) => e.leases.owned().length >= 4 && e.leases.owned().length <= 6) && [b, c, d].reduce((n, e) => n + e.leases.owned().length, 0) === PARTITIONS, 15_000)
  assertPartitioned([b, c, d])
  expect(b.lost).toEqual([])

  // A graceful stop hands its partitions over at once (no TTL wait).
  const stoppedAt = Date.now()
  await d.leases.stop()
  await until(() => b.leases.owned().length + c.leases.owned().length === PARTITIONS, 10_000)
  expect(Date.now() - stoppedAt).toBeLessThan(TTL_MS + 2 * RENEW_MS)
  assertPartitioned([b, c])
}, 40_000)

it('keeps renewing while balancing is stuck: a slow key listing under load never lets the leases expire', async () => {
  // The real bucket, except that after the first pass, listing the live engines never answers (as a
  // listing can lag far behind under load). Renewals must not wait for it.
  let listings = 0
  const stuckListing = new Proxy(layout.leases, {
    get(target, prop, receiver) {
      if (prop === 'keys') return (...args: unknown[]) => (++listings === 1 ? target.keys(...(args as [string])) : new Promise(() => {}))
      const value = Reflect.get(target, prop, receiver) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  // The engines of the test before stop; their leases expire, and this one's first pass claims what is free then.
  for (const m of managers) m.halt()
  await sleep(TTL_MS + 500)
  const e = engine('engine-stuck', undefined, stuckListing)
  await e.leases.start()
  const held = e.leases.owned()
  expect(held).toHaveLength(PARTITIONS)
  // Three TTLs: every lease would have expired had renewals queued behind the stuck listing.
  await sleep(3 * TTL_MS)
  expect(listings).toBeGreaterThan(1)
  expect(e.lost).toEqual([])
  expect(e.leases.owned()).toEqual(held)
  e.leases.halt()
}, 20_000)
