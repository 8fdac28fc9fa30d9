import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../engine/index.ts'

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({ port: 8080, partitions: 16, clickhouseDatabase: 'tidemark', logLevel: 'info' })
    expect(config.dataDir).toMatch(/\/data$/)
    expect(config.natsUrl).toBeUndefined()
    expect(config.clickhouseUrl).toBeUndefined()
  })

  it('reads the environment', () => {
    const config = loadConfig({ PORT: '9000', NATS_URL: 'nats://n:4222', CLICKHOUSE_URL: 'http://ch:8123', CLICKHOUSE_USER: 'u', TIDEMARK_PARTITIONS: '64' })
    expect(config).toMatchObject({ port: 9000, natsUrl: 'nats://n:4222', clickhouseUrl: 'http://ch:8123', clickhouseUser: 'u', partitions: 64 })
  })

  it('keeps the storage linger well inside the ack wait, so buffered messages are not redelivered', () => {
    expect(() => loadConfig({ TIDEMARK_STORAGE_LINGER_MS: '5000', TIDEMARK_STORAGE_ACK_WAIT_MS: '8000' })).toThrow(/storageLingerMs \(5000\) must be at most half/)
    expect(loadConfig({ TIDEMARK_STORAGE_LINGER_MS: '4000', TIDEMARK_STORAGE_ACK_WAIT_MS: '8000' }).storageLingerMs).toBe(4000)
  })

  it('names every bad variable at once', () => {
    let message = ''
    try {
      loadConfig({ PORT: 'eighty', TIDEMARK_PARTITIONS: '0', CLICKHOUSE_URL: 'ch:8123', LOG_LEVEL: 'loud' })
    } catch (err) {
      expect((err as { code: string }).code).toBe('TM_ENGINE_CONFIG_INVALID')
      message = (err as Error).message
    }
    for (const name of ['port', 'partitions', 'clickhouseUrl', 'logLevel']) expect(message).toContain(name)
  })
})
