// The publisher's bookkeeping as pure logic, against a JetStream stand-in that
// records what it is given (the integration tests run it against nats-server).
import { describe, expect, it } from 'vitest'
import type { JetStreamClient } from '@nats-io/jetstream'
import { decodeBatch, partitionOf, seriesKey, type Sample } from '../../engine/index.ts'
import { BatchPublisher } from '../../ingest/batch-publisher.ts'
import { batchByteLimit } from '../../ingest/batch-bytes.ts'
import type { IdempotencyStore } from '../../ingest/idempotency.ts'

interface Published {
  subject: string
  bytes: number
  msgID: string
  samples: Sample[]
}

function fakeJetStream(refuse: (subject: string) => boolean = () => false) {
  const published: Published[] = []
  const js = {
    async publish(subject: string, data: Uint8Array, options: { msgID: string }) {
      if (refuse(subject)) throw new Error('maximum messages exceeded')
      published.push({ subject, bytes: data.length, msgID: options.msgID, samples: decodeBatch(data) })
      return { duplicate: false, seq: published.length, stream: 'TM_BEACONS' }
    },
  } as unknown as JetStreamClient
  return { js, published }
}

const noIdempotency = { drain: async () => {} } as unknown as IdempotencyStore

function publisher(js: JetStreamClient, maxPayload: number, retryBudgetMs = 10_000, maxInFlight?: number): BatchPublisher {
  return new BatchPublisher({ js, partitions: 4, maxSamples: 1000, retryBudgetMs, maxPayload: () => maxPayload, idempotency: noIdempotency, maxInFlight })
}

const longTags = Object.fromEntries(Array.from({ length: 16 }, (_, t) => [`tag_${t}`, 'v'.repeat(200)]))
const tagged = (tenant: string, n: number): Sample[] => Array.from({ length: n }, (_, i) => [tenant, `m_${i % 8}`, 1_800_000_000_000 + i, i, longTags, 1_800_000_000_000])

describe('BatchPublisher', () => {
  it('puts every sample in partitionOf(tenant, seriesKey) also for frozen tags shared by beacons far apart (their key is kept)', async () => {
    const { js, published } = fakeJetStream()
    const p = publisher(js, 1024 * 1024)
    const frozen = Array.from({ length: 5 }, (_, i) => Object.freeze({ page: `/p${i}`, ...(i % 2 ? { host: 'é' } : {}) }))
    // Two tenants share the frozen tags (their partitions differ), and a publisher of 7 partitions shares the kept keys.
    const samples = Array.from({ length: 60 }, (_, i): Sample => [i < 30 ? 't_a' : 't_b', `m_${i % 3}`, 1, i, i % 7 === 0 ? { page: `/p${i % 5}` } : (frozen[(i * 2) % 5] as Record<string, string>), 1])
    for (let round = 0; round < 2; round++) expect(await p.publish(samples)).toEqual({ durable: 60, notDurable: null })
    const seven = fakeJetStream()
    const other = new BatchPublisher({ js: seven.js, partitions: 7, maxSamples: 1000, maxPayload: () => 1024 * 1024, idempotency: noIdempotency })
    for (let round = 0; round < 2; round++) expect(await other.publish(samples)).toEqual({ durable: 60, notDurable: null })
    expect(await p.publish(samples.slice(30))).toEqual({ durable: 30, notDurable: null })
    expect(published.reduce((n, m) => n + m.samples.length, 0)).toBe(150)
    for (const [list, count] of [[published, 4], [seven.published, 7]] as const) {
      for (const message of list) {
        for (const [tenant, metric, , , tags] of message.samples) expect(message.subject).toBe(`tm.beacons.${partitionOf(tenant, seriesKey(metric, tags), count)}`)
      }
    }
  })

  it("cuts batches by bytes under the server's max_payload, and loses no sample", async () => {
    const { js, published } = fakeJetStream()
    const p = publisher(js, 64 * 1024)
    const outcome = await p.publish(tagged('t_a', 400))
    expect(outcome).toEqual({ durable: 400, notDurable: null })
    // 400 samples of ~3.4 KB under a 56 KB limit: at least 24 batches, where counting samples alone would make 4.
    expect(published.length).toBeGreaterThanOrEqual(24)
    for (const message of published) expect(message.bytes).toBeLessThanOrEqual(batchByteLimit(64 * 1024))
    expect(published.reduce((n, m) => n + m.samples.length, 0)).toBe(400)
  })

  it("refuses a sample no message could carry, before queueing it, without touching another tenant's samples", async () => {
    const { js, published } = fakeJetStream()
    const p = publisher(js, 2048)
    const [big, small] = await Promise.allSettled([p.publish(tagged('t_big', 3)), p.publish([['t_small', 'page_views', 1, 1, null, 1]])])
    expect(big).toMatchObject({ status: 'rejected', reason: { code: 'TM_INGEST_SAMPLE_TOO_LARGE', statusCode: 413 } })
    expect(small).toMatchObject({ status: 'fulfilled', value: { durable: 1, notDurable: null } })
    expect(published.flatMap((m) => m.samples.map((s) => s[0]))).toEqual(['t_small'])
    expect(p.stats.pendingSamples).toBe(0)
  })

  it('says exactly which samples a failed batch held, and health says publishes are failing', async () => {
    const { js } = fakeJetStream((subject) => subject === 'tm.beacons.1')
    const p = publisher(js, 1024 * 1024, 150)
    const samples: Sample[] = Array.from({ length: 200 }, (_, i) => ['t_a', `m_${i}`, 1, i, null, 1])
    const outcome = await p.publish(samples)
    expect(outcome.durable).toBeGreaterThan(0)
    expect(outcome.durable).toBeLessThan(200)
    expect(outcome.error?.message).toBe('maximum messages exceeded')
    const failed = samples.filter((_, i) => outcome.notDurable?.[i])
    expect(failed.length).toBe(200 - outcome.durable)
    expect(p.health()).toMatchObject({ ok: false, reason: expect.stringMatching(/failing.*maximum messages exceeded/) })
  })

  it("publishExact makes the same batches with the same ids for the same request, and skips what is durable", async () => {
    const first = fakeJetStream()
    const samples: Sample[] = Array.from({ length: 3000 }, (_, i) => ['t_a', `m_${i % 50}`, 1, i, null, 1])
    await publisher(first.js, 1024 * 1024).publishExact(samples, 'k1')
    const again = fakeJetStream()
    await publisher(again.js, 1024 * 1024).publishExact(samples, 'k1')
    expect(again.published.map((m) => m.msgID).sort()).toEqual(first.published.map((m) => m.msgID).sort())
    // Mark the samples of two batches durable: a resend carries the rest, under the ids they first had.
    const durable = new Uint8Array(samples.length)
    const landed = first.published.slice(0, 2)
    for (const message of landed) for (const s of message.samples) durable[s[3]] = 1
    const resend = fakeJetStream()
    const outcome = await publisher(resend.js, 1024 * 1024).publishExact(samples, 'k1', durable)
    expect(outcome).toEqual({ durable: 3000, notDurable: null })
    expect(resend.published.map((m) => m.msgID).sort()).toEqual(first.published.slice(2).map((m) => m.msgID).sort())
  })
})

describe('BatchPublisher group commit', () => {
  /** A JetStream stand-in whose acks wait until released, to hold a publish in flight. */
  function gatedJetStream() {
    const published: Published[] = []
    const waiting: (() => void)[] = []
    const js = {
      async publish(subject: string, data: Uint8Array, options: { msgID: string }) {
        published.push({ subject, bytes: data.length, msgID: options.msgID, samples: decodeBatch(data) })
        await new Promise<void>((resolve) => waiting.push(resolve))
        return { duplicate: false, seq: published.length, stream: 'TM_BEACONS' }
      },
    } as unknown as JetStreamClient
    const releaseAll = () => waiting.splice(0).forEach((release) => release())
    return { js, published, releaseAll }
  }
  // One series: every sample lands in the same partition.
  const one = (i: number): Sample => ['t_a', 'page_views', 1_800_000_000_000 + i, i, null, 1_800_000_000_000]

  /** The end of this turn of the event loop, when an idle partition's batch goes. */
  const turn = () => new Promise((resolve) => setImmediate(resolve))

  it('publishes a lone beacon at the end of this turn of the event loop, with no timer', async () => {
    const { js, published } = fakeJetStream()
    const p = publisher(js, 1024 * 1024)
    const outcome = p.publish([one(0)])
    expect(published.length).toBe(0)
    await turn()
    // Handed to JetStream once the turn ends: nothing waits for a linger.
    expect(published.length).toBe(1)
    expect(await outcome).toEqual({ durable: 1, notDurable: null })
  })

  it('sends the requests of one turn as one batch, and every partition ready in that turn', async () => {
    const { js, published } = fakeJetStream()
    const p = publisher(js, 1024 * 1024)
    const requests = Array.from({ length: 50 }, (_, i) => p.publish([one(i), ['t_a', `m_${i % 5}`, 1, i, null, 1]]))
    await turn()
    const partitions = new Set(published.map((m) => m.subject))
    // One message a partition: the 50 requests' samples of a partition share it.
    expect(published.length).toBe(partitions.size)
    expect(published.reduce((n, m) => n + m.samples.length, 0)).toBe(100)
    for (const outcome of await Promise.all(requests)) expect(outcome).toEqual({ durable: 2, notDurable: null })
  })

  it('at depth 1, fills the next batch behind a publish in flight and sends it when that one is acknowledged', async () => {
    const { js, published, releaseAll } = gatedJetStream()
    const p = publisher(js, 1024 * 1024, 10_000, 1)
    const first = p.publish([one(0)])
    await turn()
    const behind = Array.from({ length: 50 }, (_, i) => p.publish([one(i + 1)]))
    await new Promise((resolve) => setTimeout(resolve, 20))
    // Only the first went: the other 50 requests wait together behind it.
    expect(published.map((m) => m.samples.length)).toEqual([1])
    releaseAll()
    expect(await first).toEqual({ durable: 1, notDurable: null })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(published.map((m) => m.samples.length)).toEqual([1, 50])
    releaseAll()
    for (const outcome of await Promise.all(behind)) expect(outcome).toEqual({ durable: 1, notDurable: null })
    expect(p.stats.pendingSamples).toBe(0)
  })

  it('sends a batch that reaches the limit while another is in flight: a busy partition still sends full batches', async () => {
    const { js, published, releaseAll } = gatedJetStream()
    const p = publisher(js, 1024 * 1024, 10_000, 1)
    const first = p.publish([one(0)])
    await turn()
    const full = p.publish(Array.from({ length: 1000 }, (_, i) => one(i + 1)))
    const rest = p.publish(Array.from({ length: 10 }, (_, i) => one(i + 1001)))
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(published.map((m) => m.samples.length)).toEqual([1, 1000])
    releaseAll()
    await Promise.all([first, full])
    await new Promise((resolve) => setTimeout(resolve, 20))
    // The ten went once nothing coalesced was in flight on their partition.
    expect(published.map((m) => m.samples.length)).toEqual([1, 1000, 10])
    releaseAll()
    expect(await rest).toEqual({ durable: 10, notDurable: null })
  })

  it('at depth 3, sends a coalesced batch each turn while fewer than 3 are in flight, then fills the next behind them', async () => {
    const { js, published, releaseAll } = gatedJetStream()
    const p = publisher(js, 1024 * 1024, 10_000, 3)
    const outcomes: Promise<unknown>[] = []
    for (let round = 0; round < 5; round++) {
      outcomes.push(...Array.from({ length: 10 }, (_, i) => p.publish([one(round * 10 + i)])))
      await turn()
    }
    // Three turns' requests went at once, each its own batch; the last two turns' wait together for an ack.
    expect(published.map((m) => m.samples.length)).toEqual([10, 10, 10])
    releaseAll()
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(published.map((m) => m.samples.length)).toEqual([10, 10, 10, 20])
    releaseAll()
    for (const outcome of await Promise.all(outcomes)) expect(outcome).toEqual({ durable: 1, notDurable: null })
    expect(p.stats.pendingSamples).toBe(0)
  })

  it('at depth 3, still answers exactly which samples a failed batch held when several are in flight', async () => {
    let calls = 0
    const js = {
      async publish(_subject: string, data: Uint8Array) {
        // The second batch of the partition fails for good; the others land.
        if (++calls === 2 || decodeBatch(data).some((s) => s[3] === 10)) throw new Error('refused')
        return { duplicate: false, seq: calls, stream: 'TM_BEACONS' }
      },
    } as unknown as JetStreamClient
    const p = publisher(js, 1024 * 1024, 200, 3)
    const a = p.publish([one(1), one(2)])
    await turn()
    const b = p.publish([one(10), one(11)])
    await turn()
    const c = p.publish([one(20)])
    expect(await a).toEqual({ durable: 2, notDurable: null })
    const failed = await b
    expect(failed.durable).toBe(0)
    expect(Array.from(failed.notDurable ?? [])).toEqual([1, 1])
    expect(await c).toEqual({ durable: 1, notDurable: null })
    expect(p.stats.pendingSamples).toBe(0)
  })
})
