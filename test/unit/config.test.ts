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

  it('lowers storage to nice 10 by default; 0 turns it off; a nice value is 0 to 19', () => {
    expect(loadConfig({}).storageNice).toBe(0)
    expect(loadConfig({ TIDEMARK_STORAGE_NICE: '10' }).storageNice).toBe(10)
    expect(loadConfig({ TIDEMARK_STORAGE_NICE: '0' }).storageNice).toBe(0)
    expect(() => loadConfig({ TIDEMARK_STORAGE_NICE: '20' })).toThrow(/storageNice/)
    expect(() => loadConfig({ TIDEMARK_STORAGE_NICE: '-5' })).toThrow(/storageNice/)
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

describe('NATS credentials', () => {
  it('takes them from the environment the ways NATS users pass them, file paths made absolute', () => {
    expect(loadConfig({ NATS_CREDS: 'tidemark.creds' }).natsCreds).toMatch(/^\/.*\/tidemark\.creds$/)
    expect(loadConfig({ NATS_USER: 'ingest', NATS_PASSWORD: 's3cret' })).toMatchObject({ natsUser: 'ingest', natsPassword: 's3cret' })
    expect(loadConfig({ NATS_TOKEN: 'tok' }).natsToken).toBe('tok')
    expect(loadConfig({ NATS_NKEY: '/seeds/ingest.nk' }).natsNkey).toBe('/seeds/ingest.nk')
    const none = loadConfig({})
    expect([none.natsCreds, none.natsUser, none.natsPassword, none.natsToken, none.natsNkey]).toEqual([undefined, undefined, undefined, undefined, undefined])
  })

  it('refuses two ways at once, and a user without a password', () => {
    expect(() => loadConfig({ NATS_TOKEN: 't', NATS_CREDS: '/c' })).toThrow(/NATS credentials are given more than one way \(NATS_CREDS, NATS_TOKEN\)/)
    expect(() => loadConfig({ NATS_USER: 'ingest' })).toThrow(/NATS_USER and NATS_PASSWORD go together/)
    expect(() => loadConfig({ NATS_PASSWORD: 'p' })).toThrow(/NATS_USER and NATS_PASSWORD go together/)
  })

  it('reads how long a tier waits for the engine to set JetStream up', () => {
    expect(loadConfig({}).setupWaitMs).toBe(60_000)
    expect(loadConfig({ TIDEMARK_SETUP_WAIT_MS: '0' }).setupWaitMs).toBe(0)
    expect(() => loadConfig({ TIDEMARK_SETUP_WAIT_MS: '-1' })).toThrow(/setupWaitMs/)
  })
})
