// No Docker engine runs here, so the Dockerfile and docker-compose.yml are
// checked for what they mean rather than by building: the Dockerfile is parsed
// into stages and instructions (test/helpers/dockerfile.ts) and followed the
// way the builder would (where the dashboard is built, which dependencies are
// installed there, what the runtime stage holds); the compose file is parsed
// as YAML, with compose's merge keys and ${VAR} interpolation, and each
// service's wiring is checked against the others and against what Tidemark
// reads. Extra services, variables and keys are allowed: the checks hold for a
// compose file that adds NATS credentials or a NATS config.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { loadConfig } from '../../engine/index.ts'
import { command, copies, envAt, envPairs, lineage, locate, parseDockerfile, workdirAt, words, type Instruction, type Stage } from '../helpers/dockerfile.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8')
const TIER_ROLES = ['ingest', 'engine', 'query']

// ---------------------------------------------------------------- Dockerfile

const stages = parseDockerfile(read('Dockerfile'))
const runtime = stages.at(-1)!
const runtimeSteps = lineage(stages, runtime)
const runtimeDir = workdirAt(runtimeSteps)

const isInstall = (ins: Instruction): boolean => ins.keyword === 'RUN' && /\bnpm (install|i|ci)\b/.test(command(ins))
const omitsDev = (cmd: string): boolean => /--omit[= ]dev\b|--production\b|--only[= ]prod/.test(cmd)
const isPrune = (ins: Instruction): boolean => ins.keyword === 'RUN' && /\bnpm prune\b/.test(command(ins)) && omitsDev(command(ins))
const isUiBuild = (ins: Instruction): boolean => ins.keyword === 'RUN' && /\bnpm run build:ui\b|\bvite build\b/.test(command(ins))

/** Installs dev dependencies: no --omit=dev, and NODE_ENV=production (which omits them) either unset or overridden. */
function installsDev(steps: Instruction[], at: number): boolean {
  const cmd = command(steps[at]!)
  if (omitsDev(cmd)) return false
  return envAt(steps, at).NODE_ENV !== 'production' || /--include[= ]dev\b/.test(cmd)
}

/** The stage whose lineage builds the dashboard, with the step index in that lineage. */
function uiBuild(): { stage: Stage; steps: Instruction[]; at: number } {
  for (const stage of stages) {
    if (!stage.instructions.some(isUiBuild)) continue
    const steps = lineage(stages, stage)
    return { stage, steps, at: steps.findIndex(isUiBuild) }
  }
  throw new Error('no stage runs `npm run build:ui`')
}

/** Relative imports reachable from a module: the sources the entrypoint needs at runtime. */
function importGraph(entry: string): Set<string> {
  const seen = new Set<string>()
  const queue = [entry]
  while (queue.length > 0) {
    const file = queue.pop()!
    if (seen.has(file)) continue
    seen.add(file)
    const text = read(file)
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.\.?\/[^'"]+)['"]/g)) {
      queue.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]!)))
    }
  }
  return seen
}

/** .dockerignore patterns (the simple forms this project uses: names, dir/names, trailing *). */
function ignoredByDockerignore(file: string): boolean {
  const patterns = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
  const matches = (p: string): boolean => {
    const re = new RegExp('^' + p.replace(/\/$/, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*') + '(/|$)')
    return re.test(file)
  }
  let ignored = false
  for (const p of patterns) if (p.startsWith('!') ? matches(p.slice(1)) : matches(p)) ignored = !p.startsWith('!')
  return ignored
}

describe('test/helpers/dockerfile.ts reads a Dockerfile as the builder does', () => {
  it('joins continuations, drops comments, keeps flags and exec forms, and follows copies across stages', () => {
    const fixture = parseDockerfile(
      [
        'FROM node:20 AS build',
        'WORKDIR /src',
        'RUN npm install \\',
        '  # a comment inside the instruction',
        '  --include=dev',
        'COPY . .',
        'RUN npm run build:ui',
        'FROM node:20-slim',
        'WORKDIR /app',
        'ENV NODE_ENV=production A="b c"',
        'COPY --from=build /src/ui/dist ./ui/dist',
        'COPY --from=build /src/bin/ ./bin/',
        'HEALTHCHECK --interval=5s CMD ["node", "-e", "1"]',
        'ENTRYPOINT ["node", "bin/x.mjs"]',
      ].join('\n')
    )
    expect(fixture.map((s) => s.name)).toEqual(['build', undefined])
    expect(command(fixture[0]!.instructions[1]!)).toMatch(/^npm install\s+--include=dev$/)
    const [, last] = fixture as [Stage, Stage]
    expect(envAt(last.instructions)).toEqual({ NODE_ENV: 'production', A: 'b c' })
    expect(last.instructions.find((i) => i.keyword === 'HEALTHCHECK')).toMatchObject({ flags: { interval: '5s' }, exec: ['node', '-e', '1'] })
    expect(locate(fixture, last, { repoPath: 'bin/x.mjs' })).toBe('/app/bin/x.mjs')
    expect(locate(fixture, last, { repoPath: 'engine/y.ts' })).toBeUndefined()
    expect(locate(fixture, last, { madeIn: fixture[0]!, at: '/src/ui/dist' })).toBe('/app/ui/dist')
    expect(copies(fixture, last)[0]).toMatchObject({ source: '/src/ui/dist', target: '/app/ui/dist' })
  })
})

describe('Dockerfile', () => {
  it('builds the dashboard in a stage where dev dependencies (vite) were installed', () => {
    const { steps, at } = uiBuild()
    const installs = steps.slice(0, at).map((ins, i) => (isInstall(ins) ? i : -1)).filter((i) => i >= 0)
    expect(installs.length, 'an npm install before the dashboard build').toBeGreaterThan(0)
    const last = installs.at(-1)!
    expect(installsDev(steps, last), `line ${steps[last]!.line}: ${command(steps[last]!)} with NODE_ENV=${envAt(steps, last).NODE_ENV}`).toBe(true)
    expect(steps.slice(last, at).some(isPrune), 'no prune between install and build').toBe(false)
    expect(envAt(steps, last).NODE_ENV, 'NODE_ENV=production before the install that needs dev dependencies').not.toBe('production')
  })

  it('sets NODE_ENV=production for what runs, and only after the build', () => {
    expect(envAt(runtimeSteps).NODE_ENV).toBe('production')
    const { steps, at } = uiBuild()
    const firstProduction = steps.findIndex((ins) => ins.keyword === 'ENV' && envPairs(ins.args).NODE_ENV === 'production')
    expect(firstProduction === -1 || firstProduction > at, `NODE_ENV=production at line ${steps[firstProduction]?.line}, before the build`).toBe(true)
  })

  it('puts the built dashboard where the query tier serves it', () => {
    const { stage, steps } = uiBuild()
    const built = path.posix.join(workdirAt(steps), 'ui/dist')
    expect(locate(stages, runtime, { madeIn: stage, at: built })).toBe(path.posix.join(runtimeDir, 'ui/dist'))
  })

  it('ships production dependencies only: node_modules pruned of dev ones after the build, or installed without them', () => {
    const installedHere = runtimeSteps.filter(isInstall)
    const nodeModules = copies(stages, runtime).filter((c) => c.target === path.posix.join(runtimeDir, 'node_modules'))
    if (installedHere.length > 0) {
      for (const ins of installedHere) expect(omitsDev(command(ins)), command(ins)).toBe(true)
    } else {
      expect(nodeModules.length, 'node_modules copied into the runtime stage').toBeGreaterThan(0)
    }
    for (const copy of nodeModules) {
      expect(copy.from, 'node_modules come from a stage of this Dockerfile, not the build context').toBeDefined()
      const steps = lineage(stages, copy.from!)
      const lastInstall = steps.findLastIndex(isInstall)
      const lastPrune = steps.findLastIndex(isPrune)
      expect(lastPrune > lastInstall || omitsDev(command(steps[lastInstall]!)), `stage ${copy.from!.name}: dev dependencies pruned after the last install`).toBe(true)
      expect(lastPrune > steps.findIndex(isUiBuild), 'pruned after the dashboard build that needs vite').toBe(true)
    }
  })

  it('runs bin/tidemark.mjs, with every source it imports in the image', () => {
    const entrypoint = runtimeSteps.findLast((i) => i.keyword === 'ENTRYPOINT')
    expect(entrypoint?.exec, 'ENTRYPOINT in exec form, so signals reach node').toBeDefined()
    const [node, script] = entrypoint!.exec!
    expect(node).toBe('node')
    expect(path.posix.resolve(runtimeDir, script!)).toBe(path.posix.join(runtimeDir, 'bin/tidemark.mjs'))
    const sources = [...importGraph('bin/tidemark.mjs')]
    expect(sources).toEqual(expect.arrayContaining(['cli/main.ts', 'engine/index.ts', 'ingest/index.ts', 'query/index.ts']))
    for (const file of [...sources, 'package.json']) {
      expect(ignoredByDockerignore(file), `${file} is excluded by .dockerignore`).toBe(false)
      expect(locate(stages, runtime, { repoPath: file }), `${file} in the runtime image`).toBe(path.posix.join(runtimeDir, file))
    }
    const cmd = runtimeSteps.findLast((i) => i.keyword === 'CMD')
    expect(cmd?.exec).toEqual(['start'])
  })

  it('can run its default command: start supervises nats-server, so the runtime installs it', () => {
    expect(runtimeSteps.some((i) => i.keyword === 'RUN' && /apt-get install[^&;]*\bnats-server\b/.test(command(i)))).toBe(true)
  })

  it('runs as an unprivileged user, with a health check on /api/v2/health', () => {
    const user = runtimeSteps.findLast((i) => i.keyword === 'USER')
    expect(user?.args.trim()).toMatch(/^(?!root$|0$)\S+$/)
    const health = runtimeSteps.findLast((i) => i.keyword === 'HEALTHCHECK')
    expect(health?.args).toMatch(/\/api\/v2\/health/)
    expect(health?.args).not.toMatch(/^NONE$/i)
  })

  it('keeps host builds and secrets out of the build context', () => {
    for (const file of ['node_modules/vite/package.json', 'ui/dist/index.html', '.env', 'data/admin-token', '.git/HEAD']) {
      expect(ignoredByDockerignore(file), file).toBe(true)
    }
    for (const file of ['ui/index.html', 'ui/vite.config.ts', 'package-lock.json', 'bin/tidemark.mjs']) expect(ignoredByDockerignore(file), file).toBe(false)
  })
})

// ------------------------------------------------------- docker-compose.yml

type Environment = Record<string, string>
interface Service {
  image?: string
  build?: string | { context?: string; dockerfile?: string; target?: string }
  command?: string | string[]
  environment?: Environment | string[]
  depends_on?: string[] | Record<string, { condition?: string }>
  healthcheck?: { test?: string | string[]; disable?: boolean }
  volumes?: Array<string | { type?: string; source?: string; target?: string }>
  configs?: Array<string | { source: string; target?: string }>
  secrets?: Array<string | { source: string; target?: string }>
  ports?: Array<string | number | { published?: string | number; target?: number }>
}
interface Compose {
  services: Record<string, Service>
  volumes?: Record<string, unknown>
  configs?: Record<string, { file?: string } | null>
  secrets?: Record<string, { file?: string } | null>
}

const composeText = read('docker-compose.yml')
const compose = parse(composeText, { merge: true }) as Compose
const services = compose.services
const readme = read('README.md')

/** A value every ${VAR} in the file is given, long enough for TIDEMARK_ADMIN_TOKEN's 16 characters. */
const composeEnv: Environment = Object.fromEntries(
  [...composeText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => [m[1]!, `compose-test-${m[1]!.toLowerCase()}`])
)

/** Compose's interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}. */
function interpolate(value: string, env: Environment = composeEnv): string {
  return value.replace(/\$\$|\$\{([A-Za-z_]\w*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_]\w*)/g, (all, braced?: string, op?: string, arg = '', bare?: string) => {
    if (all === '$$') return '$'
    const v = env[(braced ?? bare)!]
    const set = v !== undefined && (op?.startsWith(':') ? v !== '' : true)
    if (op === ':-' || op === '-') return set ? v! : arg
    if (op === ':?' || op === '?') {
      if (!set) throw new Error(`${braced}: ${arg}`)
      return v!
    }
    if (op === ':+' || op === '+') return set ? arg : ''
    return v ?? ''
  })
}

function environmentOf(service: Service): Environment {
  const raw = service.environment ?? {}
  const pairs: Array<[string, string]> = Array.isArray(raw)
    ? raw.map((item) => (item.includes('=') ? [item.slice(0, item.indexOf('=')), item.slice(item.indexOf('=') + 1)] : [item, '']))
    : Object.entries(raw).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)])
  return Object.fromEntries(pairs.map(([k, v]) => [k, interpolate(v)]))
}

const argv = (c: Service['command']): string[] => (c === undefined ? [] : Array.isArray(c) ? c.map(String) : words(c))

function dependsOn(service: Service): Record<string, string> {
  const d = service.depends_on ?? {}
  if (Array.isArray(d)) return Object.fromEntries(d.map((name) => [name, 'service_started']))
  return Object.fromEntries(Object.entries(d).map(([name, v]) => [name, v?.condition ?? 'service_started']))
}

function buildContext(service: Service): { dir: string; dockerfile: string; target?: string } | undefined {
  if (service.build === undefined) return undefined
  const b = typeof service.build === 'string' ? { context: service.build } : service.build
  return { dir: path.join(ROOT, b.context ?? '.'), dockerfile: b.dockerfile ?? 'Dockerfile', target: b.target }
}

/** Services built from this repository's Dockerfile: Tidemark's tiers. */
const tiers = Object.entries(services).filter(([, s]) => {
  const b = buildContext(s)
  return b !== undefined && path.resolve(b.dir, b.dockerfile) === path.join(ROOT, 'Dockerfile')
})
const rolesOf = (s: Service): string[] => argv(s.command).flatMap((word) => (word === 'start' ? TIER_ROLES : [word]))

/** The image's own HEALTHCHECK counts for services built from it (compose inherits it). */
const imageHealthcheck = runtimeSteps.some((i) => i.keyword === 'HEALTHCHECK' && !/^NONE$/i.test(i.args.trim()))
function hasHealthcheck(name: string): boolean {
  const s = services[name]
  if (!s) return false
  if (s.healthcheck?.disable === true) return false
  const test = s.healthcheck?.test
  if (test !== undefined) return !(Array.isArray(test) ? test[0] === 'NONE' : test === 'NONE') && argv(test).length > 0
  return tiers.some(([tier]) => tier === name) && imageHealthcheck
}

const isNamedVolume = (source: string): boolean => !/^[./~]/.test(source) && !source.includes('/')

function volumeSources(s: Service): Array<{ source: string; target: string; bind: boolean }> {
  return (s.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const [source = '', target = ''] = interpolate(v).split(':')
      return { source, target, bind: !isNamedVolume(source) }
    }
    return { source: interpolate(v.source ?? ''), target: v.target ?? '', bind: v.type === 'bind' }
  })
}

function serviceFor(url: string): { name: string; service: Service; url: URL } {
  const parsed = new URL(url)
  const service = services[parsed.hostname]
  if (!service) throw new Error(`${url} names no service of the compose file`)
  return { name: parsed.hostname, service, url: parsed }
}

describe('docker-compose.yml', () => {
  it('runs ingest, engine and query from this repository\'s image, each its own service', () => {
    for (const [name, s] of Object.entries(services)) expect(s.image ?? s.build, `${name} has an image or a build`).toBeDefined()
    expect(tiers.length).toBeGreaterThanOrEqual(3)
    for (const [name, s] of tiers) {
      const roles = rolesOf(s)
      expect(roles.length, `${name} names its role`).toBeGreaterThan(0)
      for (const role of roles) expect(TIER_ROLES, `${name}: ${role}`).toContain(role)
      const target = buildContext(s)!.target
      if (target) expect(stages.map((st) => st.name)).toContain(target)
    }
    for (const role of TIER_ROLES) expect(tiers.filter(([, s]) => rolesOf(s).includes(role)).length, `a service runs ${role}`).toBeGreaterThan(0)
    // One role a service: scaling one (`--scale engine=3`) must not scale the others.
    for (const role of TIER_ROLES) expect(tiers.some(([, s]) => rolesOf(s).length === 1 && rolesOf(s)[0] === role), `${role} alone`).toBe(true)
  })

  it('points every tier at the compose NATS, with JetStream on', () => {
    for (const [name, s] of tiers) {
      const env = environmentOf(s)
      expect(env.NATS_URL, `${name} NATS_URL`).toBeDefined()
      const nats = serviceFor(env.NATS_URL!)
      expect(nats.url.protocol).toBe('nats:')
      expect(nats.service.image ?? '', `${name}: NATS_URL's host runs NATS`).toMatch(/(^|\/)nats(:|$)/)
      const args = argv(nats.service.command)
      const portFlag = args.findIndex((a) => a === '-p' || a === '--port')
      expect(Number(nats.url.port || 4222)).toBe(portFlag >= 0 ? Number(args[portFlag + 1]) : 4222)
      expect(dependsOn(s)[nats.name], `${name} waits for ${nats.name}`).toBe('service_healthy')
    }
    const natsServices = new Set(tiers.map(([, s]) => serviceFor(environmentOf(s).NATS_URL!).name))
    for (const name of natsServices) {
      const s = services[name]!
      const args = argv(s.command)
      if (args.includes('-js') || args.includes('--jetstream')) continue
      // Else JetStream must come from the config file the server is started with.
      const configAt = args[args.findIndex((a) => a === '-c' || a === '--config') + 1]
      expect(configAt, `${name}: -js or a config file`).toBeDefined()
      const mounted = [
        ...volumeSources(s).filter((v) => v.bind),
        ...(s.configs ?? []).map((c) => (typeof c === 'string' ? { source: compose.configs?.[c]?.file ?? '', target: `/${c}` } : { source: compose.configs?.[c.source]?.file ?? '', target: c.target ?? `/${c.source}` })),
      ].find((v) => v.target === configAt)
      expect(mounted, `${name}: ${configAt} is mounted from the repository`).toBeDefined()
      expect(read(mounted!.source)).toMatch(/\bjetstream\b/i)
    }
  })

  it('points engine and query at the compose ClickHouse server, with its credentials', () => {
    for (const [name, s] of tiers.filter(([, t]) => rolesOf(t).some((r) => r === 'engine' || r === 'query'))) {
      const env = environmentOf(s)
      expect(env.CLICKHOUSE_URL, `${name} CLICKHOUSE_URL (chDB's directory belongs to one process)`).toBeDefined()
      const ch = serviceFor(env.CLICKHOUSE_URL!)
      expect(ch.url.protocol).toMatch(/^https?:$/)
      expect(Number(ch.url.port || 8123)).toBe(8123)
      expect(ch.service.image ?? '').toMatch(/^clickhouse\/clickhouse-server:/)
      expect(dependsOn(s)[ch.name], `${name} waits for ${ch.name}`).toBe('service_healthy')
      const server = environmentOf(ch.service)
      if (server.CLICKHOUSE_USER !== undefined) expect(env.CLICKHOUSE_USER, `${name} user`).toBe(server.CLICKHOUSE_USER)
      if (server.CLICKHOUSE_PASSWORD !== undefined) expect(env.CLICKHOUSE_PASSWORD, `${name} password`).toBe(server.CLICKHOUSE_PASSWORD)
    }
    for (const [name, s] of tiers.filter(([, t]) => rolesOf(t).every((r) => r === 'ingest'))) {
      expect(environmentOf(s).CLICKHOUSE_URL, `${name} needs no ClickHouse`).toBeUndefined()
    }
  })

  it('gives every query process the admin token, required from the environment', () => {
    for (const [name, s] of tiers.filter(([, t]) => rolesOf(t).includes('query'))) {
      const raw = Array.isArray(s.environment) ? s.environment.find((e) => e.startsWith('TIDEMARK_ADMIN_TOKEN=')) : s.environment?.TIDEMARK_ADMIN_TOKEN
      expect(raw, `${name} TIDEMARK_ADMIN_TOKEN`).toBeDefined()
      // Required (:?), not defaulted: a token baked into the file would be the same for every deployment.
      expect(String(raw)).toMatch(/\$\{TIDEMARK_ADMIN_TOKEN:?\?/)
      expect(() => interpolate(String(raw), {}), 'an unset token stops compose').toThrow()
    }
  })

  it('sets only variables Tidemark reads, with values its config accepts', () => {
    for (const [name, s] of tiers) {
      const environment = environmentOf(s)
      for (const variable of Object.keys(environment)) expect(readme, `${name}: ${variable} in the README's configuration table`).toContain(`\`${variable}\``)
      expect(() => loadConfig(environment), name).not.toThrow()
    }
  })

  it('has a health check for every service (the tiers inherit the image\'s)', () => {
    for (const name of Object.keys(services)) expect(hasHealthcheck(name), name).toBe(true)
  })

  it('orders start-up only on services it defines, waiting for health only where there is a check', () => {
    const conditions = ['service_started', 'service_healthy', 'service_completed_successfully']
    for (const [name, s] of Object.entries(services)) {
      for (const [dependency, condition] of Object.entries(dependsOn(s))) {
        expect(Object.keys(services), `${name} depends on ${dependency}`).toContain(dependency)
        expect(conditions).toContain(condition)
        if (condition === 'service_healthy') expect(hasHealthcheck(dependency), `${dependency} has a health check for ${name} to wait on`).toBe(true)
      }
    }
  })

  it('declares the named volumes, configs and secrets it mounts; bind mounts exist in the repository', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of volumeSources(s)) {
        if (v.bind) expect(fs.existsSync(path.resolve(ROOT, v.source)), `${name}: ${v.source}`).toBe(true)
        else expect(Object.keys(compose.volumes ?? {}), `${name}: volume ${v.source}`).toContain(v.source)
      }
      for (const kind of ['configs', 'secrets'] as const) {
        for (const ref of s[kind] ?? []) {
          const key = typeof ref === 'string' ? ref : ref.source
          expect(Object.keys(compose[kind] ?? {}), `${name}: ${kind} ${key}`).toContain(key)
          const file = compose[kind]?.[key]?.file
          if (file) expect(fs.existsSync(path.resolve(ROOT, file)), `${kind} ${key}: ${file}`).toBe(true)
        }
      }
    }
    expect(volumeSources(services.clickhouse ?? {}).length + volumeSources(serviceFor(environmentOf(tiers[0]![1]).NATS_URL!).service).length).toBeGreaterThan(1)
  })

  it('publishes each host port once, to the port the tier listens on', () => {
    const exposed = runtimeSteps.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => words(i.args).map((p) => Number(p.split('/')[0])))
    const published = new Map<string, string>()
    for (const [name, s] of Object.entries(services)) {
      for (const p of s.ports ?? []) {
        const [host, container] = typeof p === 'object' ? [String(p.published ?? ''), Number(p.target)] : (() => {
          const parts = interpolate(String(p)).split(':')
          return [parts.length > 1 ? parts.at(-2)! : '', Number(parts.at(-1)!.split('/')[0])]
        })()
        if (host) {
          expect(published.get(host), `host port ${host} of ${name}`).toBeUndefined()
          published.set(host, name)
        }
        if (tiers.some(([tier]) => tier === name)) {
          expect(container, `${name} publishes the PORT it listens on`).toBe(Number(environmentOf(s).PORT ?? 8080))
          expect(exposed).toContain(container)
        }
      }
    }
  })
})
