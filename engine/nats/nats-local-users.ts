// The users of the supervised nats-server: one nkey per role and one for
// admin, generated once into <store>/credentials/ (mode 0600, directory 0700),
// kept across restarts so clients reconnect with what they have. The server
// config holds only public keys; whoever can read the data directory (the
// `tidemark` CLI on the same machine) can read the seeds, and nobody else.
import fs from 'node:fs'
import path from 'node:path'
import { nkeys } from '@nats-io/transport-node'
import type { NatsAuth } from './nats-auth.ts'
import { natsAuthorizationConfig, NATS_USERS, type NatsUserName } from './nats-permissions.ts'

export function credentialsDir(storeDir: string): string {
  return path.join(storeDir, 'credentials')
}

export function seedFile(storeDir: string, user: NatsUserName): string {
  return path.join(credentialsDir(storeDir), `${user}.nk`)
}

/** The server config the supervised nats-server runs with: written at every start, so permissions follow the code. */
export function serverConfigFile(storeDir: string): string {
  return path.join(storeDir, 'tidemark-nats.conf')
}

function readOrCreateSeed(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const seed = new TextDecoder().decode(nkeys.createUser().getSeed())
  // 'wx' fails if another process wrote it first; then use theirs.
  try {
    fs.writeFileSync(file, seed + '\n', { mode: 0o600, flag: 'wx' })
    return seed
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return fs.readFileSync(file, 'utf8').trim()
    throw err
  }
}

/** Makes sure every user has a seed, then writes the server config naming their public keys. Returns the config file. */
export function writeLocalServerConfig(storeDir: string): string {
  fs.mkdirSync(credentialsDir(storeDir), { recursive: true, mode: 0o700 })
  const credentials = NATS_USERS.map((user) => {
    const seed = readOrCreateSeed(seedFile(storeDir, user))
    return { user, nkey: nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey() }
  })
  const file = serverConfigFile(storeDir)
  const text = `# Written by Tidemark at every start of its supervised nats-server; edits are lost.\n${natsAuthorizationConfig(credentials)}`
  fs.writeFileSync(file, text, { mode: 0o600 })
  // writeFileSync's mode applies to new files only: an older, wider file is narrowed here.
  fs.chmodSync(file, 0o600)
  return file
}

/** The credentials a client of the supervised server uses as this user. */
export function localUserAuth(storeDir: string, user: NatsUserName): NatsAuth {
  return { kind: 'nkey', seedFile: seedFile(storeDir, user), user }
}
