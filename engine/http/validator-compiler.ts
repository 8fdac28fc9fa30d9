// fastify's validator, set up the way Tidemark needs it: every problem is
// reported (allErrors) so one 400 names every bad field, and bodies are never
// coerced ("150" is not a count). Query strings are coerced, as they are text.
// Bodies have strictNumbers: NaN and Infinity are not numbers (msgpack can carry them; JSON cannot).
// Query strings must not: ajv coerces "Infinity" to Infinity and then, with strictNumbers, skips every
// range keyword for a value that is not finite, so step=Infinity would pass (it fails maximum without).
import { Ajv, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { FastifySchemaCompiler } from 'fastify'

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule

function makeAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, verbose: true, coerceTypes, useDefaults: true, removeAdditional: false, strict: false, strictNumbers: !coerceTypes })
  ;(addFormats as unknown as (ajv: Ajv) => void)(ajv)
  return ajv
}

const bodyAjv = makeAjv(false)
const textAjv = makeAjv(true)

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : textAjv
  return ajv.compile(schema as object) as ValidateFunction
}
