// Combinations of roles and configuration that would run but lose or split
// data are refused before anything starts, with the variable to set. Guessing
// is what made them dangerous: a query process without CLICKHOUSE_URL used to
// open a private chDB that no engine ever wrote to.
import type { Config } from '../engine/index.ts'
import { ALL_ROLES, type TierRole } from './tidemark-app.ts'

export function deploymentProblems(config: Config, roles: readonly TierRole[]): string[] {
  const name = `tidemark ${roles.join(' ')}`
  const embedded = ALL_ROLES.every((role) => roles.includes(role))
  if (embedded) return []
  const problems: string[] = []
  if (!config.natsUrl) problems.push(`${name}: set NATS_URL to the NATS cluster the tiers share (a single tier cannot start its own)`)
  if (roles.includes('engine') !== roles.includes('query') && !config.clickhouseUrl) {
    problems.push(
      `${name}: set CLICKHOUSE_URL to the ClickHouse server the engine and query tiers share; without it this process would keep a private chDB ` +
        'that the other tier never sees (or run both in one process, `tidemark engine query`, which share its chDB)'
    )
  }
  if (roles.includes('query') && !config.adminToken) {
    problems.push(`${name}: set TIDEMARK_ADMIN_TOKEN (16+ characters, the same for every query process); a generated one would differ in each process`)
  }
  return problems
}
