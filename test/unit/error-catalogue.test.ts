// Every code of every catalogue is documented with its status, and nothing documented is missing from the code.
import fs from 'node:fs'
import { expect, it } from 'vitest'
import { EngineErrors, HttpErrors } from '../../engine/index.ts'
import { IngestErrors } from '../../ingest/index.ts'
import { QueryErrors } from '../../query/index.ts'

const catalogues = { TM_ENGINE_: EngineErrors, TM_HTTP_: HttpErrors, TM_INGEST_: IngestErrors, TM_QUERY_: QueryErrors }
const doc = fs.readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
const documented = new Map([...doc.matchAll(/^\| `(TM_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1] as string, Number(m[2])]))

it('documents every code with the status it maps to, under its tier prefix', () => {
  const codes: string[] = []
  for (const [prefix, catalogue] of Object.entries(catalogues)) {
    for (const ErrorClass of Object.values(catalogue)) {
      const err = new ErrorClass('x', 'y') as Error & { code: string; statusCode: number }
      expect(err.code.startsWith(prefix), err.code).toBe(true)
      expect(documented.get(err.code), `${err.code} in docs/errors.md`).toBe(err.statusCode)
      codes.push(err.code)
    }
  }
  expect(new Set(codes).size).toBe(codes.length)
  expect([...documented.keys()].sort()).toEqual(codes.sort())
})
