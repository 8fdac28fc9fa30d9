// The CLI commands that talk to NATS without serving: `tidemark tenant …`,
// `tidemark setup`, `tidemark nats-config`. Each says on stderr which NATS it
// used (findNats: NATS_URL, the running Tidemark's server, or a temporary one
// when nothing runs on the data directory).
import { findNats, natsAuthorizationConfig, openEngineRuntime, passwordVariable, NATS_ROLES, type Config, type EngineRuntime, type NatsRole } from '../engine/index.ts'

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

export async function tenantCommand(config: Config, args: string[]): Promise<number> {
  const [action, name] = args
  if (action === 'create' && name) {
    const created = await withNats(config, 'query', (runtime) => runtime.tenants.create(name))
    process.stdout.write(JSON.stringify(created) + '\n')
    return 0
  }
  if (action === 'list') {
    const tenants = await withNats(config, 'query', (runtime) => runtime.tenants.list())
    process.stdout.write(JSON.stringify(tenants) + '\n')
    return 0
  }
  process.stderr.write('usage: tidemark tenant create NAME | tidemark tenant list\n')
  return 2
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
