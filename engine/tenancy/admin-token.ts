// The admin token creates tenants. From TIDEMARK_ADMIN_TOKEN when set (every
// process of a scaled-out deployment needs the same one), else generated once
// into the data directory, readable by its owner only.
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

export interface AdminToken {
  token: string
  /** 'env' or the file it was read from. */
  source: string
}

export function adminTokenPath(dataDir: string): string {
  return path.join(dataDir, 'admin-token')
}

export function loadAdminToken(dataDir: string, fromEnv?: string): AdminToken {
  if (fromEnv) return { token: fromEnv, source: 'env' }
  const file = adminTokenPath(dataDir)
  fs.mkdirSync(dataDir, { recursive: true })
  try {
    return { token: fs.readFileSync(file, 'utf8').trim(), source: file }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const token = 'tma_' + randomBytes(24).toString('base64url')
  // 'wx' fails if another process wrote it first; then read theirs.
  try {
    fs.writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { token: fs.readFileSync(file, 'utf8').trim(), source: file }
    throw err
  }
  return { token, source: file }
}
