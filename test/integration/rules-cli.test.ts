// `tidemark rules test` as a user runs it: the real command, promtool's exit codes.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)

async function tidemark(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/tidemark.mjs', ...args], { env: { ...process.env, LOG_LEVEL: 'silent' } })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('tidemark rules test', () => {
  it('passes a correct promtool file with exit 0', async () => {
    const result = await tidemark('rules', 'test', 'test/fixtures/rules/scaling.test.yml', 'test/fixtures/rules/templates.test.yml')
    expect(result.stdout).toContain('SUCCESS')
    expect(result.code).toBe(0)
  })

  it('fails a wrong expectation with exit 1 and says which alert', async () => {
    const result = await tidemark('rules', 'test', 'test/fixtures/rules/failing.test.yml')
    expect(result.code).toBe(1)
    expect(result.stdout + result.stderr).toMatch(/FAILED/)
  })

  it('refuses a call without files with a usage line', async () => {
    const result = await tidemark('rules', 'test')
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('usage: tidemark rules test')
  })
})
