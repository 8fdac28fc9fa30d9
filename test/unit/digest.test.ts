// Credentials are stored and compared as SHA-256 digests: the one-shot hash must give the very digests
// the tenants bucket already holds (written with createHash before).
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sha256Hex } from '../../engine/tenancy/digest.ts'

describe('sha256Hex', () => {
  it('is the hex SHA-256 of the UTF-8 text, as createHash made it', () => {
    for (const text of ['', 'tm_in_0123456789abcdef0123456789abcdef', 'é€😀', 'x'.repeat(10_000)]) {
      expect(sha256Hex(text)).toBe(createHash('sha256').update(text).digest('hex'))
    }
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })
})
