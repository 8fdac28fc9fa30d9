// `tidemark tenant create NAME`: creates a tenant straight in the NATS KV
// bucket and prints { id, ingestToken, apiKey }. NATS is found the way a
// person would expect: NATS_URL, else the embedded server of a running
// `tidemark start` (its URL is in the data directory), else a temporary
// supervised nats-server over the same data directory.
import fs from 'node:fs'
import { openEngineRuntime, natsUrlFile, type Config, type EngineRuntime } from '../engine/index.ts'

async function openForTenants(config: Config): Promise<EngineRuntime> {
  if (!config.natsUrl) {
    const file = natsUrlFile(config.dataDir)
    if (fs.existsSync(file)) {
      const url = fs.readFileSync(file, 'utf8').trim()
      try {
        return await openEngineRuntime({ ...config, natsUrl: url }, { clickhouse: false, name: 'tidemark-cli' })
      } catch {
        // A stale file from a server that died: fall through and start our own.
      }
    }
  }
  return openEngineRuntime(config, { clickhouse: false, name: 'tidemark-cli' })
}

export async function tenantCommand(config: Config, args: string[]): Promise<number> {
  const [action, name] = args
  if (action === 'create' && name) {
    const runtime = await openForTenants(config)
    try {
      process.stdout.write(JSON.stringify(await runtime.tenants.create(name)) + '\n')
    } finally {
      await runtime.close()
    }
    return 0
  }
  if (action === 'list') {
    const runtime = await openForTenants(config)
    try {
      process.stdout.write(JSON.stringify(await runtime.tenants.list()) + '\n')
    } finally {
      await runtime.close()
    }
    return 0
  }
  process.stderr.write('usage: tidemark tenant create NAME | tidemark tenant list\n')
  return 2
}
