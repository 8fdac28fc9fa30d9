// Whole-number flags of a scenario with its own options (e2e, query): parsed,
// checked against their minimum, with --help; a usage error prints the help.
import { parseArgs } from 'node:util'

/** Each flag's default and least value. */
export type FlagSpec<K extends string> = Record<K, { default: number; min: number }>

/** The flags' values, or the exit code when there is nothing to run: 0 after --help, 2 for a usage error. */
export function wholeNumberFlags<K extends string>(argv: string[], spec: FlagSpec<K>, help: string): Record<K, number> | number {
  const names = Object.keys(spec) as K[]
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: argv,
      options: { ...Object.fromEntries(names.map((n) => [n, { type: 'string' as const, default: String(spec[n].default) }])), help: { type: 'boolean', short: 'h', default: false } },
    }).values
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${help}`)
    return 2
  }
  if (values.help) {
    process.stdout.write(help)
    return 0
  }
  const result = {} as Record<K, number>
  for (const name of names) {
    const n = Number(values[name])
    if (!Number.isInteger(n) || n < spec[name].min) {
      process.stderr.write(`--${name} must be a whole number from ${spec[name].min} (got "${String(values[name])}")\n\n${help}`)
      return 2
    }
    result[name] = n
  }
  return result
}
