// The `tidemark` command. See `tidemark help`.
import { loadConfig, migrateCommand, rulesTestCommand, type Config } from '../engine/index.ts'
import { startTidemark, ALL_ROLES, type TierRole } from './tidemark-app.ts'
import { deploymentProblems } from './deployment-checks.ts'
import { natsConfigCommand, setupCommand, siteCommand, tenantCommand } from './nats-commands.ts'

const HELP = `tidemark: stream-processing time-series engine

  tidemark start              ingest + engine + query + dashboard in one process (the embedded default)
  tidemark ingest             the ingest tier alone      (needs NATS_URL)
  tidemark engine             the storage engine alone   (needs NATS_URL and CLICKHOUSE_URL)
  tidemark query              the query tier and dashboard alone (needs NATS_URL, CLICKHOUSE_URL, TIDEMARK_ADMIN_TOKEN)
  tidemark engine query       several tiers in one process (any of ingest, engine, query)
  tidemark tenant create NAME create a tenant; prints {"id","ingestToken","apiKey"}
  tidemark tenant list        list tenants
  tidemark tenant rotate ID ingestToken|apiKey   replace a credential; prints the new one, the old one is refused everywhere within 1 s
  tidemark tenant delete ID   delete a tenant: its credentials are refused within 1 s, its name is free, its stored data is kept
  tidemark site create TENANT_ID NAME DOMAIN…   a site for the browser tracker; prints it with its public id (s_…)
  tidemark site list TENANT_ID                   the tenant's sites
  tidemark site delete TENANT_ID SITE_ID         delete a site: its beacons are refused everywhere within 1 s, its pageviews are kept
  tidemark rules test FILE…   run promtool unit-test files through Tidemark's rule evaluator; exits 0 or 1 as promtool does
  tidemark migrate status|up|down [N]   the ClickHouse schema's migrations (see docs/migrations.md)
  tidemark setup              create or change streams, consumer and buckets to this configuration (the engine does it at start)
  tidemark nats-config        print a nats-server authorization block with one user per role

The tenant, site and setup commands use NATS_URL, else the nats-server of the Tidemark
running on TIDEMARK_DATA_DIR, and say on stderr which one.

Configuration is read from the environment: see the README's table.
`

async function serve(config: Config, roles: TierRole[]): Promise<number> {
  const problems = deploymentProblems(config, roles)
  if (problems.length > 0) {
    process.stderr.write(problems.map((problem) => `TM_ENGINE_DEPLOYMENT_INVALID: ${problem}\n`).join(''))
    return 2
  }
  const tidemark = await startTidemark(config, { roles })
  const log = tidemark.app.log
  const admin = tidemark.adminToken
  log.info(
    {
      url: tidemark.url,
      roles,
      nats: tidemark.runtime.nats.kind === 'supervised' ? `supervised nats-server at ${tidemark.runtime.nats.url}` : tidemark.runtime.nats.url,
      clickhouse: tidemark.runtime.store?.mode,
    },
    'tidemark ready'
  )
  if (roles.includes('query')) {
    const tokenAt = admin?.source === 'env' ? 'from TIDEMARK_ADMIN_TOKEN' : `in ${admin?.source}`
    // One write, so whoever reads our output gets the whole banner at once.
    process.stdout.write(
      `\nTidemark is running.\n  Dashboard:   ${tidemark.url}/\n  Health:      ${tidemark.url}/api/v2/health\n` +
        `  Admin token: ${tokenAt}\n  New tenant:  npx tidemark tenant create NAME   (or POST /api/v2/tenants with the admin token)\n\n`
    )
  }
  await new Promise<void>((resolve) => {
    let signals = 0
    const stop = (signal: string): void => {
      if (++signals > 1) {
        log.warn({ signal }, 'second signal: exiting without draining')
        process.exit(1)
      }
      log.info({ signal }, 'draining: finishing requests, publishing and storing what was accepted')
      tidemark.close().then(resolve, (err) => {
        log.error({ err }, 'drain failed')
        process.exitCode = 1
        resolve()
      })
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  log.info('stopped')
  return 0
}

export async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...rest] = argv
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(HELP)
    return 0
  }
  // Needs no configuration: a user's promtool files run anywhere, as with promtool.
  if (command === 'rules') {
    if (rest[0] !== 'test' || rest.length < 2) {
      process.stderr.write('usage: tidemark rules test FILE…\n')
      return 2
    }
    return rulesTestCommand(rest.slice(1), process.stdout, process.stderr)
  }
  let config: Config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    process.stderr.write(`${(err as Error & { code?: string }).code ?? 'error'}: ${(err as Error).message}\n`)
    return 2
  }
  switch (command) {
    case 'start':
      return serve(config, ALL_ROLES)
    case 'ingest':
    case 'engine':
    case 'query': {
      // `tidemark engine query` runs two tiers in one process (they then share one chDB).
      const roles = [command, ...rest]
      const unknown = roles.filter((r) => !ALL_ROLES.includes(r as TierRole))
      if (unknown.length > 0) {
        process.stderr.write(`unknown role "${unknown.join('", "')}": the roles are ${ALL_ROLES.join(', ')}\n`)
        return 2
      }
      return serve(config, [...new Set(roles)] as TierRole[])
    }
    case 'tenant':
      return tenantCommand(config, rest)
    case 'site':
      return siteCommand(config, rest)
    case 'setup':
      return setupCommand(config)
    case 'migrate':
      return migrateCommand(config, rest)
    case 'nats-config':
      return natsConfigCommand()
    default:
      process.stderr.write(`unknown command "${command}"\n\n${HELP}`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error & { code?: string }) => {
    // Known failures (TM_* codes) get their message alone: it says what to do.
    process.stderr.write(err.code?.startsWith('TM_') ? `${err.code}: ${err.message}\n` : `${err.stack ?? err.message}\n`)
    process.exit(1)
  }
)
