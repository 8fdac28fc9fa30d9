// A Dockerfile read the way the builder reads it, for tests on a machine with no
// Docker engine: continuation lines joined, comments dropped, each instruction
// with its flags and (exec form) its JSON array, grouped into stages. Enough
// of the grammar to check what an image holds, not a builder.
import path from 'node:path'

export interface Instruction {
  keyword: string
  /** The text after the keyword and its --flags. */
  args: string
  flags: Record<string, string>
  /** The JSON array of an exec-form RUN, CMD, ENTRYPOINT (or HEALTHCHECK CMD). */
  exec?: string[]
  line: number
}

export interface Stage {
  index: number
  name?: string
  /** The FROM image, or the name of an earlier stage. */
  base: string
  instructions: Instruction[]
}

function jsonArray(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined
  try {
    const value: unknown = JSON.parse(text)
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined
  } catch {
    return undefined
  }
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const first = i + 1
    let logical = lines[i]!.trim()
    if (logical === '' || logical.startsWith('#')) continue
    // A trailing backslash continues the instruction; comment lines inside it are dropped, as the builder does.
    while (logical.endsWith('\\') && i + 1 < lines.length) {
      logical = logical.slice(0, -1)
      let next = lines[++i]!.trim()
      while (next.startsWith('#') && i + 1 < lines.length) next = lines[++i]!.trim()
      logical += ' ' + next
    }
    const match = /^(\S+)\s*(.*)$/s.exec(logical.trim())
    if (!match) continue
    const keyword = match[1]!.toUpperCase()
    let rest = match[2]!.trim()
    const flags: Record<string, string> = {}
    for (let flag = /^--([a-z-]+)(?:=(\S*))?\s*/i.exec(rest); flag; flag = /^--([a-z-]+)(?:=(\S*))?\s*/i.exec(rest)) {
      flags[flag[1]!] = flag[2] ?? 'true'
      rest = rest.slice(flag[0].length)
    }
    const instruction: Instruction = { keyword, args: rest, flags, line: first }
    const execText = keyword === 'HEALTHCHECK' ? rest.replace(/^CMD\s+/i, '') : rest
    if (['RUN', 'CMD', 'ENTRYPOINT', 'HEALTHCHECK'].includes(keyword)) instruction.exec = jsonArray(execText)
    if (keyword === 'FROM') {
      const [base = '', as, name] = rest.split(/\s+/)
      stages.push({ index: stages.length, base, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] })
      continue
    }
    const stage = stages.at(-1)
    if (!stage) throw new Error(`line ${first}: ${keyword} before any FROM`)
    stage.instructions.push(instruction)
  }
  return stages
}

/** Words of a shell-ish argument list, honouring double and single quotes. */
export function words(text: string): string[] {
  const out: string[] = []
  // A word runs until unquoted space; quotes inside it (A="b c") group, and are dropped, as the shell does.
  for (const m of text.matchAll(/(?:[^\s"']+|"(?:[^"\\]|\\.)*"|'[^']*')+/g)) {
    out.push(m[0].replace(/"((?:[^"\\]|\\.)*)"|'([^']*)'/g, (_all, double?: string, single?: string) => double ?? single ?? ''))
  }
  return out
}

/** ENV k=v k2="v 2", or the old ENV k v form. */
export function envPairs(args: string): Record<string, string> {
  const parts = words(args)
  if (parts.length >= 2 && !parts[0]!.includes('=')) return { [parts[0]!]: args.slice(args.indexOf(parts[0]!) + parts[0]!.length).trim() }
  const env: Record<string, string> = {}
  for (const part of parts) {
    const eq = part.indexOf('=')
    if (eq > 0) env[part.slice(0, eq)] = part.slice(eq + 1)
  }
  return env
}

/** The stage a stage is built FROM, when that is an earlier stage. */
export function parentStage(stages: Stage[], stage: Stage): Stage | undefined {
  return stages.slice(0, stage.index).find((s) => s.name === stage.base)
}

/** What a stage holds, instruction by instruction: its parent's instructions first. */
export function lineage(stages: Stage[], stage: Stage): Instruction[] {
  const parent = parentStage(stages, stage)
  return [...(parent ? lineage(stages, parent) : []), ...stage.instructions]
}

/** The environment in force before `upTo` (exclusive) in a stage's lineage, or at its end. */
export function envAt(instructions: Instruction[], upTo = instructions.length): Record<string, string> {
  const env: Record<string, string> = {}
  for (const ins of instructions.slice(0, upTo)) if (ins.keyword === 'ENV') Object.assign(env, envPairs(ins.args))
  return env
}

/** The working directory in force before `upTo` in a stage's lineage (the builder's default is /). */
export function workdirAt(instructions: Instruction[], upTo = instructions.length): string {
  let dir = '/'
  for (const ins of instructions.slice(0, upTo)) if (ins.keyword === 'WORKDIR') dir = path.posix.resolve(dir, ins.args.trim())
  return dir
}

/** A RUN's command as the shell sees it. */
export function command(ins: Instruction): string {
  return ins.exec ? ins.exec.join(' ') : ins.args
}

export interface CopiedPath {
  /** The stage named by --from, or undefined for the build context. */
  from?: Stage
  /** Context copies: the source as a repository path ('' for the whole context). --from copies: an absolute path in that stage. */
  source: string
  /** Absolute path in the image it lands at: a directory's contents, or the file. */
  target: string
}

/** Every COPY/ADD of a stage's lineage, one entry per source, resolved the way the builder resolves them. */
export function copies(stages: Stage[], stage: Stage): CopiedPath[] {
  const all = lineage(stages, stage)
  const out: CopiedPath[] = []
  all.forEach((ins, at) => {
    if (ins.keyword !== 'COPY' && ins.keyword !== 'ADD') return
    const parts = ins.exec ?? words(ins.args)
    const dest = parts.at(-1) ?? ''
    const sources = parts.slice(0, -1)
    const from = ins.flags.from === undefined ? undefined : stages.find((s) => s.name === ins.flags.from || String(s.index) === ins.flags.from)
    const destAbs = path.posix.resolve(workdirAt(all, at), dest)
    const intoDir = dest.endsWith('/') || sources.length > 1
    for (const src of sources) {
      const source = from ? path.posix.resolve(workdirAt(lineage(stages, from)), src) : path.posix.normalize(src).replace(/^\.\/?$/, '').replace(/^\.\//, '')
      // A source with an extension is taken for a file (package.json), one without for a directory (bin, ui/dist):
      // a directory's contents land in the destination, a file lands under it when the destination is a directory.
      const isFile = path.posix.extname(src) !== ''
      out.push({ from, source, target: intoDir && isFile ? path.posix.join(destAbs, path.posix.basename(src)) : destAbs })
    }
  })
  return out
}

function under(file: string, dir: string): string | undefined {
  if (dir === '' || dir === '/') return file.replace(/^\//, '')
  if (file === dir) return ''
  return file.startsWith(dir + '/') ? file.slice(dir.length + 1) : undefined
}

/** A file of the build context, or one a stage made (the dashboard build's output) at an absolute path. */
export type Origin = { repoPath: string } | { madeIn: Stage; at: string }

/** Where a file ends up in a stage's image, following COPY --from through earlier stages; the last copy that brings it wins. */
export function locate(stages: Stage[], stage: Stage, origin: Origin): string | undefined {
  let found: string | undefined
  if ('madeIn' in origin) {
    for (let s: Stage | undefined = stage; s; s = parentStage(stages, s)) if (s === origin.madeIn) found = origin.at
  }
  for (const c of copies(stages, stage)) {
    const inSource = c.from ? locate(stages, c.from, origin) : 'repoPath' in origin ? origin.repoPath : undefined
    if (inSource === undefined) continue
    const rest = under(inSource, c.source)
    if (rest !== undefined) found = rest === '' ? c.target : path.posix.join(c.target, rest)
  }
  return found
}
