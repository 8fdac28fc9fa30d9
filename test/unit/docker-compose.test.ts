// No Docker engine runs here, so the compose file is checked as a file: the
// services exist, each tier runs its command against the shared NATS and
// ClickHouse, and every variable it sets is one Tidemark reads.
import fs from 'node:fs'
import { expect, it } from 'vitest'
import { parse } from 'yaml'
import { loadConfig } from '../../engine/index.ts'

const compose = parse(fs.readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8'), { merge: true })
const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

it('wires nats (JetStream on), clickhouse-server and the three tiers', () => {
  expect(Object.keys(compose.services).sort()).toEqual(['clickhouse', 'engine', 'ingest', 'nats', 'query'])
  expect(compose.services.nats.command).toContain('-js')
  expect(compose.services.clickhouse.image).toMatch(/^clickhouse\/clickhouse-server:/)
  for (const tier of ['ingest', 'engine', 'query']) {
    const service = compose.services[tier]
    expect(service.command).toEqual([tier])
    expect(service.build).toBe('.')
    expect(service.environment.NATS_URL).toBe('nats://nats:4222')
    expect(Object.keys(service.depends_on)).toContain('nats')
  }
  for (const tier of ['engine', 'query']) {
    expect(compose.services[tier].environment.CLICKHOUSE_URL).toBe('http://clickhouse:8123')
    expect(Object.keys(compose.services[tier].depends_on)).toContain('clickhouse')
  }
  expect(compose.services.ingest.environment.CLICKHOUSE_URL).toBeUndefined()
})

it('sets only variables Tidemark reads, with values its config accepts', () => {
  for (const tier of ['ingest', 'engine', 'query']) {
    const environment = { ...compose.services[tier].environment, TIDEMARK_ADMIN_TOKEN: 'x'.repeat(16) }
    for (const name of Object.keys(environment)) expect(readme, `${name} in the README's configuration table`).toContain(`\`${name}\``)
    expect(() => loadConfig(environment)).not.toThrow()
  }
})

it('builds the image the tiers run from', () => {
  const dockerfile = fs.readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8')
  expect(dockerfile).toMatch(/^FROM node:20/m)
  expect(dockerfile).toMatch(/ENTRYPOINT \["node", "bin\/tidemark.mjs"\]/)
})
