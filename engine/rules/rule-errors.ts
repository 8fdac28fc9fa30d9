// Rule problems at the boundary: a RuleFileError becomes the engine's
// TM_ENGINE_RULE_INVALID (400) with one `fields` entry per problem, the shape
// every Tidemark 400 has, so the rules API answers like every other route.
import fs from 'node:fs/promises'
import { EngineErrors } from '../errors.ts'
import { compileRuleFile, parseRuleFile, RuleFileError, type RuleFileSpec, type RuleGroup } from './rule-file.ts'

export interface RuleInvalidError extends Error {
  code: 'TM_ENGINE_RULE_INVALID'
  statusCode: 400
  fields: { field: string; problem: string }[]
}

export function ruleInvalidError(err: RuleFileError): RuleInvalidError {
  const e = new EngineErrors.RuleInvalid(err.message) as unknown as RuleInvalidError
  e.fields = err.problems.map((p) => ({ field: p.field, problem: p.problem }))
  return e
}

function translated<T>(run: () => T): T {
  try {
    return run()
  } catch (err) {
    if (err instanceof RuleFileError) throw ruleInvalidError(err)
    throw err
  }
}

/** A rules API body (a rule file as JSON); throws TM_ENGINE_RULE_INVALID naming every problem. */
export function parseRulesBody(body: unknown): { spec: RuleFileSpec; groups: RuleGroup[] } {
  return translated(() => compileRuleFile(body))
}

/** The rule file named in the configuration (YAML or JSON); throws TM_ENGINE_RULE_INVALID naming the file and every problem. */
export async function loadRuleFileFromDisk(file: string): Promise<{ spec: RuleFileSpec; groups: RuleGroup[] }> {
  const text = await fs.readFile(file, 'utf8')
  return translated(() => parseRuleFile(text, file))
}
