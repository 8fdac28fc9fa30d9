// IntentBook.save under a KV that times out for a while: the put is retried
// within its budget instead of failing the write at the first timeout, and
// gives up once the budget (a quarter of the ack wait) or a stop says so.
// The KV is a stand-in: this is the retry policy, the bucket itself is tested
// against a real nats-server in the storage integration tests.
import type { KV } from '@nats-io/kv'
import { describe, expect, it } from 'vitest'
import { IntentBook, newIntent } from '../../engine/storage/storage-intents.ts'

function flakyKv(failures: number): { kv: KV; puts: () => number } {
  let puts = 0
  const kv = {
    put: async (): Promise<number> => {
      puts++
      if (puts <= failures) throw new Error('TIMEOUT')
      return puts
    },
  } as unknown as KV
  return { kv, puts: () => puts }
}

describe('IntentBook.save', () => {
  it('retries a put that times out, and knows the intent once one lands', async () => {
    const { kv, puts } = flakyKv(2)
    const book = new IntentBook(kv)
    book.graceMs = 60_000
    const entry = newIntent('storage', [5, 6, 7])
    await book.save(entry)
    expect(puts()).toBe(3)
    expect(book.get(6)).toBe(entry)
  })

  it('fails within a quarter of the ack wait when the put never lands, leaving the intent unknown', async () => {
    const { kv, puts } = flakyKv(Number.POSITIVE_INFINITY)
    const book = new IntentBook(kv)
    book.graceMs = 2000
    const started = Date.now()
    await expect(book.save(newIntent('storage', [9]))).rejects.toThrow('TIMEOUT')
    expect(Date.now() - started).toBeLessThan(1000)
    expect(puts()).toBeGreaterThan(1)
    expect(book.get(9)).toBeUndefined()
  })

  it('stops retrying once the consumer stops', async () => {
    const { kv, puts } = flakyKv(Number.POSITIVE_INFINITY)
    const book = new IntentBook(kv)
    book.graceMs = 60_000
    await expect(book.save(newIntent('storage', [3]), () => true)).rejects.toThrow('TIMEOUT')
    expect(puts()).toBe(1)
  })
})
