// Label and annotation templates: the part of Go's text/template that alert
// rules use, rendered as Prometheus renders it (promtool compares the text).
//
// Supported: text and `{{ … }}` actions with `{{-`/`-}}` trimming and
// `{{/* comments */}}`; pipelines `a | f b`; parenthesised pipelines;
// `$labels.x`, `$value`, `$externalLabels.x`, `$externalURL`, `$` and their dot
// forms `.Labels.x`, `.Value`, `.ExternalLabels.x`, `.ExternalURL`; string and
// number literals; the functions humanize, humanize1024, humanizePercentage,
// humanizeDuration, printf, print, toUpper, toLower, title, index.
// Refused when the rule is loaded, naming the part: control structures (if,
// range, with, define, template, block), variable declarations, and functions
// that would run queries (query, first, …) or that Tidemark does not provide.
// A missing label prints "" (Prometheus sets missingkey=zero); a failure at
// render time prints `<error expanding template: …>` as Prometheus does.
import { formatExp, formatFixed, formatG, formatValue } from './go-format.ts'
import { unquoteGoString } from './go-string.ts'

export interface TemplateData {
  labels: Readonly<Record<string, string>>
  value: number
  externalLabels: Readonly<Record<string, string>>
  externalUrl: string
}

// Go ints (integer literals) are bigint here, so %d can tell them from float64 values.
type Value = number | bigint | string | Readonly<Record<string, string>>

type Arg =
  | { kind: 'var'; name: string; fields: string[] }
  | { kind: 'dot'; fields: string[] }
  | { kind: 'literal'; value: Value }
  | { kind: 'func'; name: string }
  | { kind: 'pipe'; pipeline: Pipeline }

type Command = Arg[]
type Pipeline = Command[]
type Node = string | Pipeline

export interface Template {
  readonly source: string
  /** True when the text needs no rendering: the common plain label value. */
  readonly constant: boolean
  /** Whether the template reads $value (labels must not: they name the alert). */
  readonly usesValue: boolean
  render(data: TemplateData): string
}

export class TemplateError extends Error {}

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue', 'nil'])
const QUERY_FUNCTIONS = new Set(['query', 'first', 'label', 'value', 'sortByLabel', 'strvalue', 'args', 'tmpl', 'safeHtml', 'pathPrefix', 'externalURL'])
const VARIABLES = new Set(['labels', 'value', 'externalLabels', 'externalURL', ''])
const DOT_FIELDS = new Set(['Labels', 'Value', 'ExternalLabels', 'ExternalURL'])

type Fn = (args: Value[]) => string | Value

const FUNCTIONS: Record<string, Fn> = {
  humanize: ([v]) => humanize(toFloat(v)),
  humanize1024: ([v]) => humanize1024(toFloat(v)),
  humanizePercentage: ([v]) => formatG(toFloat(v) * 100, 4) + '%',
  humanizeDuration: ([v]) => humanizeDuration(toFloat(v)),
  printf: (args) => sprintf(String(args[0]), args.slice(1)),
  print: (args) => args.map(show).join(''),
  toUpper: ([v]) => show(v ?? '').toUpperCase(),
  toLower: ([v]) => show(v ?? '').toLowerCase(),
  title: ([v]) => show(v ?? '').replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m: string, before: string, letter: string) => before + letter.toUpperCase()),
  index: ([m, key]) => {
    if (typeof m !== 'object') throw new TemplateError(`index of a ${typeof m}`)
    return m[String(key)] ?? ''
  },
}

const ARITY: Record<string, [min: number, max: number]> = {
  humanize: [1, 1],
  humanize1024: [1, 1],
  humanizePercentage: [1, 1],
  humanizeDuration: [1, 1],
  printf: [1, Infinity],
  print: [0, Infinity],
  toUpper: [1, 1],
  toLower: [1, 1],
  title: [1, 1],
  index: [2, 2],
}

/** Parses a template once; throws TemplateError naming the unsupported part. */
export function compileTemplate(source: string): Template {
  const nodes = parseNodes(source)
  let usesValue = false
  const visit = (pipeline: Pipeline): void => {
    for (const command of pipeline) {
      for (const arg of command) {
        if (arg.kind === 'var' && arg.name === 'value') usesValue = true
        if (arg.kind === 'dot' && arg.fields[0] === 'Value') usesValue = true
        if (arg.kind === 'var' && arg.name === '' && (arg.fields.length === 0 || arg.fields[0] === 'Value')) usesValue = true
        if (arg.kind === 'pipe') visit(arg.pipeline)
      }
    }
  }
  for (const node of nodes) if (typeof node !== 'string') visit(node)
  const constant = nodes.every((n) => typeof n === 'string')
  const text = constant ? nodes.join('') : ''
  return {
    source,
    constant,
    usesValue,
    render(data) {
      if (constant) return text
      try {
        let out = ''
        for (const node of nodes) out += typeof node === 'string' ? node : show(runPipeline(node, data))
        return out
      } catch (err) {
        return `<error expanding template: ${(err as Error).message}>`
      }
    },
  }
}

function parseNodes(source: string): Node[] {
  const nodes: Node[] = []
  let pos = 0
  let text = ''
  while (pos < source.length) {
    const open = source.indexOf('{{', pos)
    if (open < 0) {
      text += source.slice(pos)
      break
    }
    text += source.slice(pos, open)
    let start = open + 2
    if (source.startsWith('- ', start) || source.startsWith('-\t', start) || source.startsWith('-\n', start)) {
      text = text.replace(/[ \t\r\n]+$/, '')
      start += 1
    }
    const close = findClose(source, start)
    if (close < 0) throw new TemplateError(`unclosed action at offset ${open}: "${source.slice(open, open + 20)}"`)
    let end = close
    let trimRight = false
    if (/[ \t\r\n]-$/.test(source.slice(start, close))) {
      end = close - 1
      trimRight = true
    }
    const body = source.slice(start, end).trim()
    if (text !== '') nodes.push(text)
    text = ''
    if (!(body.startsWith('/*') && body.endsWith('*/'))) nodes.push(parsePipeline(body, source))
    pos = close + 2
    if (trimRight) {
      const m = /^[ \t\r\n]*/.exec(source.slice(pos))
      pos += m === null ? 0 : m[0].length
    }
  }
  if (text !== '') nodes.push(text)
  return nodes
}

/** The `}}` closing an action, skipping quoted strings inside it. */
function findClose(source: string, from: number): number {
  let i = from
  while (i < source.length) {
    const c = source[i]
    if (c === '"' || c === '`' || c === "'") {
      const quote = c
      i++
      while (i < source.length && source[i] !== quote) i += source[i] === '\\' && quote !== '`' ? 2 : 1
      i++
      continue
    }
    if (c === '}' && source[i + 1] === '}') return i
    i++
  }
  return -1
}

type Token = { t: '|' } | { t: '(' } | { t: ')' } | { t: 'arg'; arg: Arg } | { t: 'ident'; name: string }

function tokenize(body: string, source: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  const fail = (what: string): never => {
    throw new TemplateError(`${what} in template "${source}"`)
  }
  while (i < body.length) {
    const c = body[i] as string
    if (/\s/.test(c)) {
      i++
    } else if (c === '|' || c === '(' || c === ')') {
      tokens.push(c === '|' ? { t: '|' } : c === '(' ? { t: '(' } : { t: ')' })
      i++
    } else if (c === '"' || c === '`' || c === "'") {
      let j = i + 1
      while (j < body.length && body[j] !== c) j += body[j] === '\\' && c !== '`' ? 2 : 1
      if (j >= body.length) fail(`unterminated string ${body.slice(i)}`)
      const raw = body.slice(i, j + 1)
      if (c === "'") fail(`character constant ${raw} is not supported`)
      tokens.push({ t: 'arg', arg: { kind: 'literal', value: c === '`' ? raw.slice(1, -1) : unquoteGoString(raw) } })
      i = j + 1
    } else if (c === '$' || c === '.') {
      const m = /^(\$[A-Za-z0-9_]*|)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)(\.?)/.exec(body.slice(i)) as RegExpExecArray
      const whole = m[0]
      if (whole === '' || (m[1] === '' && m[2] === '' && m[3] === '.')) {
        tokens.push({ t: 'arg', arg: { kind: 'dot', fields: [] } })
        i += 1
        continue
      }
      const fields = (m[2] as string).split('.').slice(1)
      if (m[1] !== '') {
        const name = (m[1] as string).slice(1)
        if (!VARIABLES.has(name)) fail(`variable $${name} is not defined (Tidemark provides $labels, $value, $externalLabels, $externalURL)`)
        tokens.push({ t: 'arg', arg: { kind: 'var', name, fields } })
      } else {
        if (fields.length > 0 && !DOT_FIELDS.has(fields[0] as string)) fail(`field .${fields[0]} does not exist (use .Labels, .Value, .ExternalLabels or .ExternalURL)`)
        tokens.push({ t: 'arg', arg: { kind: 'dot', fields } })
      }
      i += whole.length
      if (/^\s*:?=/.test(body.slice(i))) fail('variable declarations are not supported')
    } else if (/[-+0-9]/.test(c)) {
      const m = /^[-+]?(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)/.exec(body.slice(i))
      if (m === null) fail(`unexpected "${c}"`)
      const text = (m as RegExpExecArray)[0]
      const isInt = /^[-+]?(?:0x[0-9a-fA-F]+|\d+)$/.test(text)
      tokens.push({ t: 'arg', arg: { kind: 'literal', value: isInt ? BigInt(text.replace(/^\+/, '')) : Number(text) } })
      i += text.length
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(body.slice(i)) as RegExpExecArray
      tokens.push({ t: 'ident', name: m[0] })
      i += m[0].length
    } else {
      fail(`unexpected "${c}"`)
    }
  }
  return tokens
}

function parsePipeline(body: string, source: string): Pipeline {
  const tokens = tokenize(body, source)
  let pos = 0
  const fail = (what: string): never => {
    throw new TemplateError(`${what} in template "${source}"`)
  }
  const pipeline = (): Pipeline => {
    const commands: Pipeline = []
    let command: Command = []
    while (pos < tokens.length) {
      const token = tokens[pos] as Token
      if (token.t === ')') break
      pos++
      if (token.t === '|') {
        if (command.length === 0) fail('missing command before "|"')
        commands.push(command)
        command = []
      } else if (token.t === '(') {
        const inner = pipeline()
        if (tokens[pos]?.t !== ')') fail('unclosed "("')
        pos++
        command.push({ kind: 'pipe', pipeline: inner })
      } else if (token.t === 'arg') {
        command.push(token.arg)
      } else {
        const name = token.name
        if (KEYWORDS.has(name)) fail(`"${name}" is not supported (Tidemark templates have no control structures)`)
        if (QUERY_FUNCTIONS.has(name)) fail(`function "${name}" is not supported (Tidemark templates cannot run queries)`)
        if (!(name in FUNCTIONS)) fail(`function "${name}" is not supported (available: ${Object.keys(FUNCTIONS).join(', ')})`)
        if (command.length > 0) fail(`function "${name}" must come first in its command`)
        command.push({ kind: 'func', name })
      }
    }
    if (command.length === 0) fail(commands.length === 0 ? 'empty action' : 'missing command after "|"')
    commands.push(command)
    return commands
  }
  const result = pipeline()
  if (pos < tokens.length) fail('unexpected ")"')
  // Check arity now, so a wrong call is refused when the rule loads rather than at render.
  const check = (p: Pipeline): void => {
    p.forEach((command, index) => {
      const head = command[0] as Arg
      for (const arg of command) if (arg.kind === 'pipe') check(arg.pipeline)
      if (head.kind !== 'func') {
        if (command.length > 1) fail('a value cannot be called with arguments')
        if (index > 0) fail('a value cannot take a piped argument')
        return
      }
      const [min, max] = ARITY[head.name] as [number, number]
      const count = command.length - 1 + (index > 0 ? 1 : 0)
      if (count < min || count > max) fail(`function "${head.name}" takes ${min === max ? min : `${min} or more`} argument${max === 1 ? '' : 's'}, got ${count}`)
    })
  }
  check(result)
  return result
}

function runPipeline(pipeline: Pipeline, data: TemplateData): Value {
  let previous: Value | undefined
  for (const command of pipeline) {
    const head = command[0] as Arg
    if (head.kind === 'func') {
      const args = command.slice(1).map((a) => evalArg(a, data))
      if (previous !== undefined) args.push(previous)
      previous = (FUNCTIONS[head.name] as Fn)(args)
    } else {
      previous = evalArg(head, data)
    }
  }
  return previous as Value
}

function evalArg(arg: Arg, data: TemplateData): Value {
  switch (arg.kind) {
    case 'literal':
      return arg.value
    case 'pipe':
      return runPipeline(arg.pipeline, data)
    case 'func':
      return (FUNCTIONS[arg.name] as Fn)([])
    case 'var': {
      const root: Value | Readonly<Record<string, unknown>> =
        arg.name === 'labels' ? data.labels : arg.name === 'value' ? data.value : arg.name === 'externalLabels' ? data.externalLabels : arg.name === 'externalURL' ? data.externalUrl : rootData(data)
      return fieldsOf(root, arg.fields)
    }
    case 'dot':
      return fieldsOf(rootData(data), arg.fields)
  }
}

function rootData(data: TemplateData): Readonly<Record<string, unknown>> {
  return { Labels: data.labels, Value: data.value, ExternalLabels: data.externalLabels, ExternalURL: data.externalUrl }
}

function fieldsOf(root: unknown, fields: string[]): Value {
  let v: unknown = root
  for (const field of fields) {
    if (typeof v !== 'object' || v === null) throw new TemplateError(`can't evaluate field ${field} in type ${typeof v === 'number' ? 'float64' : 'string'}`)
    v = (v as Record<string, unknown>)[field] ?? ''
  }
  if (typeof v === 'object' && v !== null && 'Labels' in v) throw new TemplateError('printing the whole template data is not supported')
  return v as Value
}

/** How Go prints a value with {{ }}: floats as %v, maps as map[k:v …] sorted by key. */
function show(v: Value | undefined): string {
  if (v === undefined) return ''
  if (typeof v === 'number') return formatValue(v)
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'string') return v
  return `map[${Object.keys(v).sort().map((k) => `${k}:${v[k]}`).join(' ')}]`
}

function toFloat(v: Value | undefined): number {
  if (typeof v === 'number') return v
  if (typeof v === 'bigint') return Number(v)
  if (typeof v === 'string') {
    const text = v.trim()
    const n = /^[-+]?(inf|infinity)$/i.test(text) ? (text.startsWith('-') ? -Infinity : Infinity) : /^nan$/i.test(text) ? NaN : text === '' ? NaN : Number(text)
    if (Number.isNaN(n) && !/^nan$/i.test(text)) throw new TemplateError(`strconv.ParseFloat: parsing "${v}": invalid syntax`)
    return n
  }
  throw new TemplateError('cannot convert a map to a number')
}

function humanize(v: number): string {
  if (v === 0 || !Number.isFinite(v)) return formatG(v, 4)
  if (Math.abs(v) >= 1) {
    let prefix = ''
    for (const p of ['k', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y']) {
      if (Math.abs(v) < 1000) break
      prefix = p
      v /= 1000
    }
    return formatG(v, 4) + prefix
  }
  let prefix = ''
  for (const p of ['m', 'u', 'n', 'p', 'f', 'a', 'z', 'y']) {
    if (Math.abs(v) >= 1) break
    prefix = p
    v *= 1000
  }
  return formatG(v, 4) + prefix
}

function humanize1024(v: number): string {
  if (Math.abs(v) <= 1 || !Number.isFinite(v)) return formatG(v, 4)
  let prefix = ''
  for (const p of ['ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'Zi', 'Yi']) {
    if (Math.abs(v) < 1024) break
    prefix = p
    v /= 1024
  }
  return formatG(v, 4) + prefix
}

/** Go's int64(v): truncation, and the minimum int64 for what does not fit (amd64). */
function goInt64(v: number): bigint {
  if (!(Math.abs(v) < 2 ** 63)) return -(2n ** 63n)
  return BigInt(Math.trunc(v))
}

function humanizeDuration(v: number): string {
  if (!Number.isFinite(v)) return formatG(v, 4)
  if (v === 0) return formatG(v, 4) + 's'
  if (Math.abs(v) >= 1) {
    let sign = ''
    if (v < 0) {
      sign = '-'
      v = -v
    }
    const duration = goInt64(v)
    const seconds = duration % 60n
    const minutes = (duration / 60n) % 60n
    const hours = (duration / 3600n) % 24n
    const days = duration / 86400n
    if (days !== 0n) return `${sign}${days}d ${hours}h ${minutes}m ${seconds}s`
    if (hours !== 0n) return `${sign}${hours}h ${minutes}m ${seconds}s`
    if (minutes !== 0n) return `${sign}${minutes}m ${seconds}s`
    return `${sign}${formatG(v, 4)}s`
  }
  let prefix = ''
  for (const p of ['m', 'u', 'n', 'p', 'f', 'a', 'z', 'y']) {
    if (Math.abs(v) >= 1) break
    prefix = p
    v *= 1000
  }
  return `${formatG(v, 4)}${prefix}s`
}

/** fmt.Sprintf for the verbs templates use: %s %v %d %f %e %g %q %%, with width, precision, '-' and '0'. */
function sprintf(format: string, args: Value[]): string {
  let next = 0
  const out = format.replace(/%([-+ 0#]*)(\d*)(?:\.(\d*))?([a-zA-Z%])/g, (_whole: string, flags: string, width: string, precision: string | undefined, verb: string) => {
    if (verb === '%') return '%'
    if (next >= args.length) return `%!${verb}(MISSING)`
    const arg = args[next++] as Value
    const prec = precision === undefined ? undefined : precision === '' ? 0 : Number(precision)
    let text: string
    const typeName = goType(arg)
    const bad = (): string => `%!${verb}(${typeName}=${show(arg)})`
    switch (verb) {
      case 'v':
        text = show(arg)
        break
      case 's':
        text = typeof arg === 'string' ? arg : typeof arg === 'number' ? bad() : show(arg)
        if (typeof arg === 'string' && prec !== undefined) text = text.slice(0, prec)
        break
      case 'q':
        text = typeof arg === 'string' ? JSON.stringify(arg) : bad()
        break
      case 'd':
        text = typeof arg === 'bigint' ? arg.toString() : bad()
        break
      case 'f':
      case 'F':
        text = typeof arg === 'number' ? formatFixed(arg, prec ?? 6) : bad()
        break
      case 'e':
        text = typeof arg === 'number' ? formatExp(arg, prec ?? 6) : bad()
        break
      case 'g':
        text = typeof arg === 'number' ? formatG(arg, prec) : bad()
        break
      default:
        text = bad()
    }
    if (typeof arg === 'number' && flags.includes('+') && !text.startsWith('-') && !text.startsWith('+') && 'fFeg'.includes(verb)) text = '+' + text
    const w = width === '' ? 0 : Number(width)
    if (text.length < w) {
      if (flags.includes('-')) text = text.padEnd(w)
      else if (flags.includes('0') && typeof arg === 'number' && Number.isFinite(arg)) {
        const sign = /^[-+]/.test(text) ? (text[0] as string) : ''
        text = sign + text.slice(sign.length).padStart(w - sign.length, '0')
      } else text = text.padStart(w)
    }
    return text
  })
  const extra = args.length - next
  return extra > 0 ? `${out}%!(EXTRA ${args.slice(next).map((a) => `${goType(a)}=${show(a)}`).join(', ')})` : out
}

function goType(v: Value): string {
  return typeof v === 'number' ? 'float64' : typeof v === 'bigint' ? 'int' : typeof v === 'string' ? 'string' : 'map[string]string'
}
