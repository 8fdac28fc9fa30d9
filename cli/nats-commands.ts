// The CLI commands that talk to NATS without serving: `tidemark tenant …`,
// `tidemark setup`, `tidemark nats-config`. Each says on stderr which NATS it
// used (findNats: NATS_URL, the running Tidemark's server, or a temporary one
// when nothing runs on the data directory).
import { CREDENTIAL_ROLES, EngineErrors, findNats, SiteRegistry, natsAuthorizationConfig, openEngineRuntime, passwordVariable, NATS_ROLES, type Config, type CredentialName, type EngineRuntime, type NatsRole } from '../engine/index.ts'

/**
 * Opens NATS acting as `role`: tenant commands do what the query role does,
 * setup what the engine does (so a role user's permissions and inboxes fit).
 * JetStream is set up only by setup, or on a temporary server of the data
 * directory's own store; otherwise it is checked, and a different layout refused.
 */
async function withNats<T>(config: Config, role: NatsRole, work: (runtime: EngineRuntime) => Promise<T>): Promise<T> {
  const found = await findNats(config)
  process.stderr.write(`tidemark: NATS at ${found.description}\n`)
  try {
    const runtime = await openEngineRuntime(config, {
      clickhouse: false,
      name: `tidemark-cli-${role}`,
      roles: [role],
      nats: found.endpoint,
      ownsJetStream: role === 'engine' || found.temporary,
      // A command should answer now, not wait for an engine that may never come.
      setupWaitMs: 0,
    })
    try {
      return await work(runtime)
    } finally {
      await runtime.close()
    }
  } finally {
    if (found.temporary) await found.endpoint.stop()
  }
}

const TENANT_USAGE = `usage: tidemark tenant create NAME | list | rotate ID ${Object.keys(CREDENTIAL_ROLES).join('|')} | delete ID\n`

export async function tenantCommand(config: Config, args: string[]): Promise<number> {
  const [action, subject, credential] = args
  let result: unknown
  if (action === 'create' && subject && args.length === 2) {
    result = await withNats(config, 'query', (runtime) => runtime.tenants.create(subject))
  } else if (action === 'list' && args.length === 1) {
    result = await withNats(config, 'query', (runtime) => runtime.tenants.list())
  } else if (action === 'rotate' && subject && isCredentialName(credential) && args.length === 3) {
    // The new token, shown once: {"id","ingestToken"} or {"id","apiKey"}. Every process refuses the old one within a second.
    const token = await withNats(config, 'query', (runtime) => runtime.tenants.rotate(subject, credential))
    result = { id: subject, [credential]: token }
  } else if (action === 'delete' && subject && args.length === 2) {
    result = await withNats(config, 'query', async (runtime) => {
      const deleted = await runtime.tenants.delete(subject)
      // Its sites go too, as with DELETE /api/v2/tenants/<id>: nothing else stops its pages' beacons.
      await (await SiteRegistry.open(runtime.nc)).deleteAllOf(subject)
      return { ...deleted, deleted: true }
    })
  } else {
    process.stderr.write(TENANT_USAGE)
    return 2
  }
  process.stdout.write(JSON.stringify(result) + '\n')
  return 0
}

const SITE_USAGE = 'usage: tidemark site create TENANT_ID NAME DOMAIN… | list TENANT_ID | delete TENANT_ID SITE_ID\n'

/** A tenant's tracker sites, as POST/GET/DELETE /api/v2/sites do them with the tenant's apiKey. */
export async function siteCommand(config: Config, args: string[]): Promise<number> {
  const [action, tenant, ...rest] = args
  const sites = (work: (registry: SiteRegistry, tenantId: string) => Promise<unknown>) =>
    withNats(config, 'query', async (runtime) => {
      // A site must belong to a tenant that exists: the registry itself takes any id.
      if (!(await runtime.tenants.get(tenant as string))) throw new EngineErrors.TenantNotFound(String(tenant))
      return work(await SiteRegistry.open(runtime.nc), tenant as string)
    })
  let result: unknown
  if (action === 'create' && tenant && rest.length >= 2) {
    const [name, ...domains] = rest
    result = await sites((registry, id) => registry.create(id, name as string, domains))
  } else if (action === 'list' && tenant && rest.length === 0) {
    result = await sites((registry, id) => registry.list(id))
  } else if (action === 'delete' && tenant && rest.length === 1) {
    result = { ...((await sites((registry, id) => registry.delete(id, rest[0] as string))) as object), deleted: true }
  } else {
    process.stderr.write(SITE_USAGE)
    return 2
  }
  process.stdout.write(JSON.stringify(result) + '\n')
  return 0
}

function isCredentialName(name: string | undefined): name is CredentialName {
  return name !== undefined && Object.hasOwn(CREDENTIAL_ROLES, name)
}

/** Creates or changes the streams, consumer and buckets to this configuration, as the engine does at start. */
export async function setupCommand(config: Config): Promise<number> {
  const changes = await withNats(config, 'engine', async (runtime) => runtime.setupChanges ?? [])
  const layout = `replicas ${config.streamReplicas}, partitions ${config.partitions}, storage ack wait ${config.storageAckWaitMs} ms`
  if (changes.length === 0) process.stdout.write(`JetStream already matches this configuration (${layout})\n`)
  for (const change of changes) process.stdout.write(`${change}\n`)
  return 0
}

/** The authorization block for a deployment's own nats-server: one user per role, passwords from the environment. */
export function natsConfigText(): string {
  return (
    '# Tidemark users for nats-server 2.9+ (include it from your config, or use it as one).\n' +
    `# Each password comes from the environment: ${NATS_ROLES.map(passwordVariable).join(', ')}.\n` +
    natsAuthorizationConfig(NATS_ROLES.map((user) => ({ user, passwordVariable: passwordVariable(user) })))
  )
}

export function natsConfigCommand(): number {
  process.stdout.write(natsConfigText())
  return 0
}
