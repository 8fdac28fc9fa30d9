// One SHA-256 for the project: credentials are stored and compared as digests.
import { createHash } from 'node:crypto'

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
