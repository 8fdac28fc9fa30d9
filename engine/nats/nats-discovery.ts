// How the `tidemark` CLI (tenant, setup) finds NATS, the way a person would
// expect, and says which one it used: NATS_URL with the environment's
// credentials; else the nats-server a running `tidemark start` supervises on
// this data directory (its URL in <dataDir>/nats.url, its admin seed in the
// store); else, only when no server runs on the store, a temporary one. It
// never starts a second server on the store of a running one: two servers on
// one store corrupt it.
import fs from 'node:fs'
import type { Config } from '../config.ts'
import { EngineErrors } from '../errors.ts'
import { describeNatsAuth, natsAuthFromConfig } from './nats-auth.ts'
import { externalNats, natsStoreDir, natsUrlFile, runningNatsServerPid, SupervisedNatsServer, type NatsEndpoint } from './nats-endpoint.ts'
import { localUserAuth } from './nats-local-users.ts'

export interface FoundNats {
  endpoint: NatsEndpoint
  /** One line for the user: which NATS, found how, as whom. */
  description: string
  /** A server started for this command alone on the data directory's store (the command then owns its JetStream). */
  temporary: boolean
}

export async function findNats(config: Config): Promise<FoundNats> {
  if (config.natsUrl) {
    const auth = natsAuthFromConfig(config)
    return { endpoint: externalNats(config.natsUrl, auth), description: `${config.natsUrl} (NATS_URL, ${describeNatsAuth(auth)})`, temporary: false }
  }
  const storeDir = natsStoreDir(config.dataDir)
  const urlFile = natsUrlFile(config.dataDir)
  const pid = runningNatsServerPid(storeDir)
  if (pid !== undefined) {
    let url: string
    try {
      url = fs.readFileSync(urlFile, 'utf8').trim()
    } catch {
      throw new EngineErrors.NatsStoreInUse(`nats-server ${pid} runs on ${storeDir} but ${urlFile} is missing, so its address is unknown; set NATS_URL to it`)
    }
    const auth = localUserAuth(storeDir, 'admin')
    return {
      endpoint: externalNats(url, auth),
      description: `${url} (the nats-server, pid ${pid}, of the Tidemark running on ${config.dataDir}; ${describeNatsAuth(auth)})`,
      temporary: false,
    }
  }
  // No server runs on the store: a nats.url left behind is from one that died.
  const server = await SupervisedNatsServer.start({ binary: config.natsServerBin, storeDir })
  return {
    endpoint: server,
    description: `${server.url} (a temporary nats-server on ${storeDir}, since no Tidemark runs on ${config.dataDir}; stopped when done)`,
    temporary: true,
  }
}
