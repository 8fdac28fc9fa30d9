// How Tidemark proves who it is to NATS: the ways NATS users already pass
// credentials (a creds file, user and password, a token, an nkey seed file),
// from the environment through Config, or the nkey seed the supervised server
// generated under the data directory.
import fs from 'node:fs'
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions } from '@nats-io/transport-node'
import type { Config } from '../config.ts'
import { EngineErrors } from '../errors.ts'

export type NatsAuth =
  | { kind: 'creds'; file: string }
  | { kind: 'nkey'; seedFile: string; user?: string }
  | { kind: 'user'; user: string; password: string }
  | { kind: 'token'; token: string }

/** The credentials the environment gives (NATS_CREDS, NATS_USER+NATS_PASSWORD, NATS_TOKEN, NATS_NKEY), or none. */
export function natsAuthFromConfig(config: Config): NatsAuth | undefined {
  if (config.natsCreds) return { kind: 'creds', file: config.natsCreds }
  if (config.natsUser && config.natsPassword) return { kind: 'user', user: config.natsUser, password: config.natsPassword }
  if (config.natsToken) return { kind: 'token', token: config.natsToken }
  if (config.natsNkey) return { kind: 'nkey', seedFile: config.natsNkey }
  return undefined
}

/** The other way round: the Config fields (as the NATS_* variables set them) that carry these credentials. */
export function natsAuthConfig(auth: NatsAuth | undefined): Partial<Config> {
  switch (auth?.kind) {
    case undefined:
      return {}
    case 'creds':
      return { natsCreds: auth.file }
    case 'nkey':
      return { natsNkey: auth.seedFile }
    case 'user':
      return { natsUser: auth.user, natsPassword: auth.password }
    case 'token':
      return { natsToken: auth.token }
  }
}

/** Says which credentials were used, never the secret itself: for logs and refusals. */
export function describeNatsAuth(auth: NatsAuth | undefined): string {
  if (!auth) return 'no credentials'
  switch (auth.kind) {
    case 'creds':
      return `creds file ${auth.file}`
    case 'nkey':
      return auth.user ? `user ${auth.user} (nkey ${auth.seedFile})` : `nkey seed ${auth.seedFile}`
    case 'user':
      return `user ${auth.user}`
    case 'token':
      return 'a token'
  }
}

function readSecretFile(file: string, variable: string): Uint8Array {
  try {
    return fs.readFileSync(file)
  } catch (err) {
    throw new EngineErrors.ConfigInvalid(`${variable} names ${file}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
      cause: err,
    })
  }
}

/** The connection options that carry these credentials; files are read here, once. */
export function natsAuthOptions(auth: NatsAuth | undefined): Partial<ConnectionOptions> {
  if (!auth) return {}
  switch (auth.kind) {
    case 'creds':
      return { authenticator: credsAuthenticator(readSecretFile(auth.file, 'NATS_CREDS')) }
    case 'nkey': {
      const seed = new TextDecoder().decode(readSecretFile(auth.seedFile, 'NATS_NKEY')).trim()
      return { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) }
    }
    case 'user':
      return { user: auth.user, pass: auth.password }
    case 'token':
      return { token: auth.token }
  }
}
