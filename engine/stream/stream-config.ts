// The stream engine's settings: which windows every series gets, how late a
// sample may be, when an idle partition's watermark moves by wall clock, how
// long a partition lease lives, and how big the worker pool may grow. Read and
// validated once at start (TIDEMARK_STREAM_* variables, see docs/stream.md);
// nothing on the hot path looks at them again.
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { EngineErrors } from '../errors.ts'

/** An event-time window, aligned to the epoch: tumbling when hopMs equals sizeMs, sliding (hopping) when it is smaller. */
export interface WindowSpec {
  /** Names the window in results and ids, e.g. "1m" or "5m/1m"; keep it stable, ids depend on it. */
  name: string
  sizeMs: number
  hopMs: number
}

/** One-minute tumbling windows and five-minute windows sliding by a minute. */
export const DEFAULT_WINDOWS: readonly WindowSpec[] = [
  { name: '1m', sizeMs: 60_000, hopMs: 60_000 },
  { name: '5m/1m', sizeMs: 300_000, hopMs: 60_000 },
]

const WindowSpecSchema = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9_./-]{1,32}$' }),
  // A day at most: a sliding window keeps size / hop panes per series.
  sizeMs: Type.Integer({ minimum: 1, maximum: 86_400_000 }),
  hopMs: Type.Integer({ minimum: 1, maximum: 86_400_000 }),
})

export const StreamSettingsSchema = Type.Object({
  windows: Type.Array(WindowSpecSchema, { minItems: 1, maxItems: 16 }),
  /** The watermark trails the largest event time seen by this much; samples older than the watermark are late. */
  allowedLatenessMs: Type.Integer({ minimum: 0, maximum: 3_600_000 }),
  /** A partition with open windows and no new message for this long gets a wall-clock watermark tick. */
  idleTimeoutMs: Type.Integer({ minimum: 100, maximum: 3_600_000 }),
  /** DDSketch relative accuracy of p50/p95/p99. */
  quantileAccuracy: Type.Number({ exclusiveMinimum: 0, maximum: 0.1 }),
  /** A lease not renewed for this long is free; another engine may take the partition. */
  leaseTtlMs: Type.Integer({ minimum: 500, maximum: 60_000 }),
  /** How often leases (and the engine's liveness key) are renewed and free partitions looked for. */
  leaseRenewMs: Type.Integer({ minimum: 100, maximum: 20_000 }),
  /** How often an owned partition writes its replay checkpoint (after the results it covers are durable). */
  checkpointIntervalMs: Type.Integer({ minimum: 50, maximum: 600_000 }),
  /** With no checkpoint yet, a partition starts this far back in the log (by stream time). */
  coldStartLookbackMs: Type.Integer({ minimum: 0, maximum: 7 * 86_400_000 }),
  /**
   * How often a checkpoint carries a snapshot of the evaluators' states (anomaly scorers), which replay cannot
   * rebuild; it rides on the first checkpoint due after this interval, and between snapshots the replay reaches back to the last one. Absent: DEFAULT_SNAPSHOT_INTERVAL_MS.
   */
  snapshotIntervalMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 3_600_000 })),
  /**
   * A partition with tasks in its thread and no answer for this long has lost them (a thread that waits for an
   * open it never got): the generation fails and replays from the checkpoint, instead of the reader, and any stop
   * after it, waiting forever. Absent: DEFAULT_THREAD_SILENCE_MS.
   */
  threadSilenceMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000 })),
  minThreads: Type.Integer({ minimum: 1, maximum: 256 }),
  maxThreads: Type.Integer({ minimum: 1, maximum: 256 }),
  /** Log messages waiting behind one worker (summed over its partitions) past which the pool grows. */
  lagMessages: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
})
export type StreamSettings = Static<typeof StreamSettingsSchema>

export const DEFAULT_SNAPSHOT_INTERVAL_MS = 10_000
/** Far beyond a healthy thread's answer under load (the lightest-first order lets no task wait past ~100 ms behind lighter ones). */
export const DEFAULT_THREAD_SILENCE_MS = 30_000

export const DEFAULT_STREAM_SETTINGS: StreamSettings = {
  windows: DEFAULT_WINDOWS.map((w) => ({ ...w })),
  allowedLatenessMs: 5_000,
  idleTimeoutMs: 5_000,
  quantileAccuracy: 0.01,
  // 3 s TTL renewed every second: a dead engine's partitions are free after 3 s and claimed
  // within one more renew period, well inside the 10 s the issue allows.
  leaseTtlMs: 3_000,
  leaseRenewMs: 1_000,
  checkpointIntervalMs: 1_000,
  coldStartLookbackMs: 10 * 60_000,
  snapshotIntervalMs: 10_000,
  threadSilenceMs: DEFAULT_THREAD_SILENCE_MS,
  // Two: a thread serves its partitions' tasks in turn, and under live data every partition crosses the
  // evaluation grid at once; with one thread a trigger decision waited behind all of their broadcasts (trigger
  // bench p99 143-187 ms with one thread, 99-122 ms with two).
  minThreads: 2,
  maxThreads: 4,
  lagMessages: 1_000,
}

/** Checks what the schema cannot: windows that fit the pane grid, a renew period well inside the TTL. */
function crossChecks(s: StreamSettings): string[] {
  const problems: string[] = []
  const names = new Set<string>()
  for (const w of s.windows) {
    if (w.hopMs > w.sizeMs) problems.push(`window ${w.name}: hopMs (${w.hopMs}) must not exceed sizeMs (${w.sizeMs})`)
    else if (w.sizeMs % w.hopMs !== 0) problems.push(`window ${w.name}: sizeMs (${w.sizeMs}) must be a multiple of hopMs (${w.hopMs})`)
    if (names.has(w.name)) problems.push(`window name ${w.name} is used twice`)
    names.add(w.name)
  }
  if (s.leaseRenewMs * 2 > s.leaseTtlMs) problems.push(`leaseRenewMs (${s.leaseRenewMs}) must be at most half of leaseTtlMs (${s.leaseTtlMs})`)
  if (s.minThreads > s.maxThreads) problems.push(`minThreads (${s.minThreads}) must not exceed maxThreads (${s.maxThreads})`)
  return problems
}

/** Validates settings; throws TM_ENGINE_CONFIG_INVALID naming every bad one. */
export function validateStreamSettings(settings: StreamSettings): StreamSettings {
  const problems = [...Value.Errors(StreamSettingsSchema, settings)].map((e) => `stream.${e.path.slice(1) || '(root)'} ${e.message} (got ${JSON.stringify(e.value)})`)
  if (problems.length === 0) problems.push(...crossChecks(settings))
  if (problems.length > 0) throw new EngineErrors.ConfigInvalid(problems.join('; '))
  return settings
}

const DURATION = /^(\d+)(ms|s|m|h)$/
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

function durationMs(text: string): number {
  const m = DURATION.exec(text.trim())
  if (!m) return NaN
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number)
}

/**
 * Parses TIDEMARK_STREAM_WINDOWS: comma-separated `size` (tumbling) or `size/hop`
 * (sliding), durations in ms, s, m or h; e.g. "1m,5m/1m". The text is the window's name.
 */
export function parseWindows(text: string): WindowSpec[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      const [size, hop] = part.split('/')
      const sizeMs = durationMs(size ?? '')
      return { name: part, sizeMs, hopMs: hop === undefined ? sizeMs : durationMs(hop) }
    })
}

function int(value: string | undefined, fallback: number): number {
  return value === undefined || value === '' ? fallback : Number(value)
}

/** Reads the TIDEMARK_STREAM_* variables over the defaults (the names are in docs/stream.md). */
export function loadStreamSettings(env: Record<string, string | undefined> = process.env, overrides: Partial<StreamSettings> = {}): StreamSettings {
  const d = DEFAULT_STREAM_SETTINGS
  return validateStreamSettings({
    windows: env.TIDEMARK_STREAM_WINDOWS ? parseWindows(env.TIDEMARK_STREAM_WINDOWS) : d.windows.map((w) => ({ ...w })),
    allowedLatenessMs: int(env.TIDEMARK_STREAM_ALLOWED_LATENESS_MS, d.allowedLatenessMs),
    idleTimeoutMs: int(env.TIDEMARK_STREAM_IDLE_TIMEOUT_MS, d.idleTimeoutMs),
    quantileAccuracy: env.TIDEMARK_STREAM_QUANTILE_ACCURACY ? Number(env.TIDEMARK_STREAM_QUANTILE_ACCURACY) : d.quantileAccuracy,
    leaseTtlMs: int(env.TIDEMARK_STREAM_LEASE_TTL_MS, d.leaseTtlMs),
    leaseRenewMs: int(env.TIDEMARK_STREAM_LEASE_RENEW_MS, d.leaseRenewMs),
    checkpointIntervalMs: int(env.TIDEMARK_STREAM_CHECKPOINT_MS, d.checkpointIntervalMs),
    coldStartLookbackMs: int(env.TIDEMARK_STREAM_COLD_START_LOOKBACK_MS, d.coldStartLookbackMs),
    snapshotIntervalMs: int(env.TIDEMARK_STREAM_SNAPSHOT_MS, d.snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS),
    threadSilenceMs: int(env.TIDEMARK_STREAM_THREAD_SILENCE_MS, d.threadSilenceMs ?? DEFAULT_THREAD_SILENCE_MS),
    minThreads: int(env.TIDEMARK_STREAM_MIN_THREADS, d.minThreads),
    maxThreads: int(env.TIDEMARK_STREAM_MAX_THREADS, d.maxThreads),
    lagMessages: int(env.TIDEMARK_STREAM_LAG_MESSAGES, d.lagMessages),
    ...overrides,
  })
}

/** The part of the settings a worker's windows depend on: results are a function of the log and of these. */
export interface PipelineSettings {
  windows: WindowSpec[]
  allowedLatenessMs: number
  quantileAccuracy: number
}

export function pipelineSettings(s: StreamSettings): PipelineSettings {
  return { windows: s.windows.map((w) => ({ ...w })), allowedLatenessMs: s.allowedLatenessMs, quantileAccuracy: s.quantileAccuracy }
}
