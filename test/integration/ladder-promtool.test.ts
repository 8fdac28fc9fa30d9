// A rule file with action ladders stays a Prometheus rule file: promtool checks it and passes its
// unit tests, `tidemark rules test` says the same, and Tidemark reads the ladders from it. A Tidemark
// field beside `for:` would have been refused by promtool (the reason the settings are annotations).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { rulesTestCommand } from '../../engine/rules/promtool-test.ts'
import { parseRuleFile } from '../../engine/rules/rule-file.ts'
import { triggerSubject } from '../../engine/rules/trigger-event.ts'
import { tempDir } from '../helpers/stack.ts'

const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool'
const fixtures = fileURLToPath(new URL('../fixtures/rules/', import.meta.url))
const promtool = (...args: string[]) => spawnSync('sh', ['-c', `exec "${PROMTOOL}" "$@" 2>&1`, 'promtool', ...args], { cwd: fixtures, encoding: 'utf8' })
const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '')

it('is checked and unit-tested alike by promtool and `tidemark rules test`', async () => {
  const check = promtool('check', 'rules', 'ladder.rules.yml')
  expect(check.status, check.stdout).toBe(0)
  const test = promtool('test', 'rules', 'ladder.test.yml')
  expect(test.status, test.stdout).toBe(0)
  let text = ''
  const previous = process.cwd()
  process.chdir(fixtures)
  try {
    expect(await rulesTestCommand(['ladder.test.yml'], { write: (t: string) => (text += t) })).toBe(0)
  } finally {
    process.chdir(previous)
  }
  expect(lines(text)).toEqual(lines(test.stdout))
})

it('gives Tidemark the ladders, and any alert name a subject', () => {
  const { groups } = parseRuleFile(fs.readFileSync(`${fixtures}/ladder.rules.yml`, 'utf8'))
  const [cpu, slow] = groups[0]?.rules ?? []
  expect(cpu?.ladder).toEqual({ actions: ['add_workers', 'degrade'], cooldownMs: 60_000, stepDownAfterMs: 600_000 })
  expect(slow?.ladder.actions).toEqual([])
  expect(triggerSubject('t_1', slow?.name as string)).toBe('tm.triggers.t_1.Slow~20checkout~2Epages~20~2A')
})

it('would not be a Prometheus rule file with a Tidemark field on the rule', () => {
  const dir = tempDir('ladder-field')
  fs.writeFileSync(`${dir}/field.rules.yml`, 'groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x > 1\n        tidemark: { cooldown: 2m }\n')
  const check = spawnSync('sh', ['-c', `exec "${PROMTOOL}" check rules "$1" 2>&1`, 'promtool', `${dir}/field.rules.yml`], { encoding: 'utf8' })
  expect(check.status).toBe(1)
  expect(check.stdout).toMatch(/field tidemark not found/)
  fs.rmSync(dir, { recursive: true, force: true })
})
