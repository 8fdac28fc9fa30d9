// Each request's logger (request.log), made only when something is logged.
// fastify's default makes a pino child a request (bindings serialized, the
// level applied): about 3 µs of the single-beacon ingest path's CPU (ingest
// bench profile), for a logger the hot path never writes to at its route
// level (warn). This one is a small object that knows its level: below it a
// call does nothing; at or above it the pino child is made then, with the
// very bindings and options fastify gave, and the call goes to it.
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'
import type { Bindings, ChildLoggerOptions } from 'pino'

type LogArguments = Parameters<FastifyBaseLogger['info']>
type LevelValues = Record<'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace', number>

/** Level values as pino numbers them; a logger without `levels` (not pino) makes every call go to the child. */
function levelValue(logger: FastifyBaseLogger, level: string): number {
  if (level === 'silent') return Number.POSITIVE_INFINITY
  const values = (logger as { levels?: { values?: Record<string, number> } }).levels?.values
  return values?.[level] ?? Number.NEGATIVE_INFINITY
}

/** A parent's level values, read once: fastify's parent is the same logger for every request. */
const VALUES_BY_LOGGER = new WeakMap<FastifyBaseLogger, LevelValues>()

function valuesOf(logger: FastifyBaseLogger): LevelValues {
  const values = {
    fatal: levelValue(logger, 'fatal'),
    error: levelValue(logger, 'error'),
    warn: levelValue(logger, 'warn'),
    info: levelValue(logger, 'info'),
    debug: levelValue(logger, 'debug'),
    trace: levelValue(logger, 'trace'),
  }
  VALUES_BY_LOGGER.set(logger, values)
  return values
}

class LazyRequestLogger {
  readonly #parent: FastifyBaseLogger
  readonly #bindings: Bindings
  readonly #options: ChildLoggerOptions
  /** Calls at this level value or above are written; below it they do nothing. */
  readonly #threshold: number
  readonly #values: LevelValues
  #real: FastifyBaseLogger | undefined

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
    this.#threshold = levelValue(parent, options.level ?? parent.level)
    this.#values = VALUES_BY_LOGGER.get(parent) ?? valuesOf(parent)
  }

  #child(): FastifyBaseLogger {
    this.#real ??= this.#parent.child(this.#bindings, this.#options)
    return this.#real
  }

  get level(): string {
    return this.#real?.level ?? this.#options.level ?? this.#parent.level
  }

  set level(level: string) {
    this.#child().level = level
  }

  /** One call at `level`: to the child when it exists or the level is written, else nothing. */
  #write(level: keyof LevelValues, args: LogArguments): void {
    if (this.#real !== undefined || this.#values[level] >= this.#threshold) this.#child()[level](...args)
  }

  fatal(...args: LogArguments): void {
    this.#write('fatal', args)
  }

  error(...args: LogArguments): void {
    this.#write('error', args)
  }

  warn(...args: LogArguments): void {
    this.#write('warn', args)
  }

  info(...args: LogArguments): void {
    this.#write('info', args)
  }

  debug(...args: LogArguments): void {
    this.#write('debug', args)
  }

  trace(...args: LogArguments): void {
    this.#write('trace', args)
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#child().child(bindings, options)
  }
}

/** fastify's `childLoggerFactory` option: request.log made lazily (above). */
export const lazyRequestLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = (logger, bindings, options) =>
  new LazyRequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger
