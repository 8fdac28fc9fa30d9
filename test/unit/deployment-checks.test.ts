// Role combinations that would split or lose data are refused before start (cli/deployment-checks.ts).
import { expect, it } from 'vitest'
import { loadConfig } from '../../engine/index.ts'
import { deploymentProblems } from '../../cli/deployment-checks.ts'

const scaled = { NATS_URL: 'nats://n:4222', TIDEMARK_ADMIN_TOKEN: 'x'.repeat(16) }

it('lets the embedded process run on chDB with a generated admin token, with or without NATS_URL', () => {
  expect(deploymentProblems(loadConfig({}), ['ingest', 'engine', 'query'])).toEqual([])
  expect(deploymentProblems(loadConfig({ NATS_URL: 'nats://n:4222' }), ['ingest', 'engine', 'query'])).toEqual([])
})

it('lets engine and query share one chDB in one process, and ingest run without ClickHouse', () => {
  expect(deploymentProblems(loadConfig(scaled), ['engine', 'query'])).toEqual([])
  expect(deploymentProblems(loadConfig(scaled), ['ingest'])).toEqual([])
})

it('refuses query without engine, or engine without query, on a private chDB', () => {
  for (const roles of [['query'], ['engine'], ['ingest', 'engine'], ['ingest', 'query']] as const) {
    expect(deploymentProblems(loadConfig(scaled), [...roles]).join('\n')).toMatch(/set CLICKHOUSE_URL/)
    expect(deploymentProblems(loadConfig({ ...scaled, CLICKHOUSE_URL: 'http://ch:8123' }), [...roles])).toEqual([])
  }
})

it('refuses a query process that is not the embedded one without TIDEMARK_ADMIN_TOKEN', () => {
  const config = loadConfig({ NATS_URL: 'nats://n:4222', CLICKHOUSE_URL: 'http://ch:8123' })
  expect(deploymentProblems(config, ['query'])).toEqual([expect.stringMatching(/^tidemark query: set TIDEMARK_ADMIN_TOKEN/)])
  expect(deploymentProblems(config, ['engine'])).toEqual([])
})

it('refuses a single tier without NATS_URL', () => {
  expect(deploymentProblems(loadConfig({}), ['ingest'])).toEqual([expect.stringMatching(/^tidemark ingest: set NATS_URL/)])
})
