// The query scenario: a dashboard's aggregate over 10,000,000 points through
// the API, beside the same SQL run directly on the same chDB.
//
// 1. Starts the embedded stack (bench/tidemark-stack.ts) and a tenant.
// 2. Loads --points samples of response_time (--series series, tag host) spread
//    evenly over yesterday (UTC), straight into the real schema by storage's
//    own insert path (bench/direct-insert.ts: storage's RowBinary encoder and
//    its INSERT … SELECT FROM file statement, 1,000,000 rows a statement), so
//    the rollup views fill as they do in production. Setup, not timed.
// 3. Takes turns, --requests times after --warmup: one API request
//    (GET /api/v2/analytics/aggregate?metric=response_time over that day at
//    step=60, 1,440 points) from a client in another process; the statements
//    the route ran for such a request (recorded on the store as it issued
//    them), with their parameters, on the same store; and the route's code
//    without HTTP. Taking turns, all three meet the same neighbours.
//
// Also timed, for the detail file only: the same aggregate with
// stats=quantiles, and GET /api/v2/analytics/performance, both at step=60
// (quantiles at a minute step read raw rows: query/aggregate-query.ts).
//
// Run: npm run bench -- query [--points 10000000] [--series 100] [--requests 200] [--warmup 20] </dev/null
// Writes bench/results/query.json {p50Ms, p95Ms, rawP95Ms, ratio}; bench/results/query-detail.json.
import { fork } from 'node:child_process'
import fs from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import type { ClickHouseStore, Sample } from '../engine/index.ts'
import { insertFile, rowBinaryFile } from './direct-insert.ts'
import { wholeNumberFlags } from './flags.ts'
import { int, machineInfo, timingOf, writeResults, type Timing } from './report.ts'
import { startTidemarkStack } from './tidemark-stack.ts'
import type { QueryLoadReply, QueryLoadSpec } from './query-load.ts'
import { aggregate } from '../query/aggregate-query.ts'
import { resolveRange } from '../query/time-range.ts'

const HELP = `npm run bench -- query [--points N] [--series N] [--requests N] [--warmup N]   (</dev/null)

Loads --points samples (default 10,000,000; --series series, default 100) over one day into
chDB by storage's insert path, then times GET /api/v2/analytics/aggregate over that day at
step=60 through the API (--requests, default 200, after --warmup, default 20) and the same
SQL run directly on the same chDB. Writes bench/results/query.json.
`

const LOAD = new URL('./query-load.ts', import.meta.url)
const METRIC = 'response_time'
const ROWS_PER_INSERT = 1_000_000
/** How long to wait for ClickHouse to finish merging the loaded parts before timing. */
const MERGE_WAIT_MS = 120_000
const DAY_MS = 86_400_000

/** `points` samples of METRIC over [dayMs, dayMs + 1 day), `series` hosts in turn, inserted by storage's path. */
async function loadPoints(store: ClickHouseStore, dir: string, tenant: string, dayMs: number, points: number, series: number): Promise<number> {
  const tags = Array.from({ length: series }, (_, i) => ({ host: `h${i}` }))
  const fileOf = (first: number): Promise<{ file: string }> => {
    const samples: Sample[] = []
    for (let i = first; i < Math.min(points, first + ROWS_PER_INSERT); i++) {
      const ts = dayMs + Math.floor((i * DAY_MS) / points)
      samples.push([tenant, METRIC, ts, 20 + ((i * 7919) % 480) + (i % series), tags[i % series] as Record<string, string>, ts])
    }
    return rowBinaryFile(dir, samples)
  }
  const started = performance.now()
  // The next file is made while ClickHouse inserts the one before it.
  let next = fileOf(0)
  for (let first = 0; first < points; first += ROWS_PER_INSERT) {
    const { file } = await next
    const inserted = insertFile(store, file, `query-bench-${first}`)
    if (first + ROWS_PER_INSERT < points) next = fileOf(first + ROWS_PER_INSERT)
    try {
      await inserted
    } finally {
      fs.rmSync(file, { force: true })
    }
    const done = Math.min(points, first + ROWS_PER_INSERT)
    process.stderr.write(`  load ${int(done)} of ${int(points)} points (${int(done / ((performance.now() - started) / 1000))} points/s)\n`)
  }
  return performance.now() - started
}

/**
 * Waits until ClickHouse merges nothing of Tidemark's database (the load left
 * tens of parts; a day of data at rest is merged), printing what is left.
 */
async function settleMerges(store: ClickHouseStore): Promise<void> {
  const started = performance.now()
  for (;;) {
    const [row] = await store.rows<{ merges: string; parts: string }>(
      `SELECT (SELECT count() FROM system.merges WHERE database = {db:String}) AS merges, (SELECT count() FROM system.parts WHERE database = {db:String} AND active AND table = 'series_1m') AS parts`,
      { db: store.database }
    )
    if (Number(row?.merges) === 0 || performance.now() - started > MERGE_WAIT_MS) {
      process.stderr.write(`  merges settled after ${((performance.now() - started) / 1000).toFixed(1)} s: series_1m in ${row?.parts} active parts\n`)
      return
    }
    process.stderr.write(`  waiting for ClickHouse's merges: ${row?.merges} under way, series_1m in ${row?.parts} active parts\n`)
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
}

interface Client {
  /** n requests, one after another, timed by the client process. */
  get(n: number): Promise<QueryLoadReply>
  close(): void
}

function startClient(spec: QueryLoadSpec): Client {
  const child = fork(LOAD, [JSON.stringify(spec)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const waiting: Array<{ resolve: (r: QueryLoadReply) => void; reject: (e: Error) => void }> = []
  child.on('message', (reply: QueryLoadReply) => waiting.shift()?.resolve(reply))
  child.on('exit', (code) => waiting.splice(0).forEach((w) => w.reject(new Error(`the query client exited with code ${code}`))))
  return {
    get: (n) =>
      new Promise((resolve, reject) => {
        waiting.push({ resolve, reject })
        child.send({ requests: n })
      }),
    close: () => void (child.connected && child.send({ requests: 0 })),
  }
}

interface Statement {
  sql: string
  params: Record<string, unknown> | undefined
}

/** Records the statements `store.rows` runs while `work` does, in order. */
async function recordStatements(store: ClickHouseStore, work: () => Promise<void>): Promise<Statement[]> {
  const recorded: Statement[] = []
  const rows = store.rows.bind(store)
  store.rows = <T>(sql: string, params?: Record<string, unknown>): Promise<T[]> => {
    recorded.push({ sql, params })
    return rows<T>(sql, params)
  }
  try {
    await work()
  } finally {
    store.rows = rows
  }
  return recorded
}

export async function queryScenario(argv: string[]): Promise<number> {
  const flags = wholeNumberFlags(
    argv,
    { points: { default: 10_000_000, min: 1 }, series: { default: 100, min: 1 }, requests: { default: 200, min: 4 }, warmup: { default: 20, min: 0 } },
    HELP
  )
  if (typeof flags === 'number') return flags
  const { points, series, requests, warmup } = flags
  const stack = await startTidemarkStack()
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'tidemark-bench-query-'))
  try {
    const { app, tenant } = stack
    const store = app.runtime.store
    if (!store) throw new Error('the stack started without ClickHouse')
    const dayMs = Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS
    process.stderr.write(`  loading ${int(points)} points of ${METRIC} (${series} series) over ${new Date(dayMs).toISOString().slice(0, 10)} by storage's insert path\n`)
    const loadMs = await loadPoints(store, path.join(scratch, 'rows'), tenant.id, dayMs, points, series)

    const range = { from: String(dayMs), to: String(dayMs + DAY_MS), step: '60' }
    const aggregatePath = `/api/v2/analytics/aggregate?${new URLSearchParams({ metric: METRIC, ...range })}`
    const client = (urlPath: string): Client => startClient({ url: `${app.url}${urlPath}`, apiKey: tenant.apiKey })

    // What the route runs for one request, recorded as it runs it; and the answer, checked against the load.
    let answer: { source: string; total: { count: number }; series: { t: number[] } } | undefined
    const statements = await recordStatements(store, async () => {
      const response = await fetch(`${app.url}${aggregatePath}`, { headers: { authorization: `Bearer ${tenant.apiKey}` } })
      if (response.status !== 200) throw new Error(`the aggregate answered ${response.status}: ${await response.text()}`)
      answer = (await response.json()) as typeof answer
    })
    const problems: string[] = []
    if (answer?.total.count !== points) problems.push(`the aggregate counted ${answer?.total.count} points, ${points} were loaded`)
    if (answer?.series.t.length !== 1440) problems.push(`the aggregate has ${answer?.series.t.length} buckets, not 1,440`)
    process.stderr.write(`  the route ran ${statements.length} statements; reads ${answer?.source}\n`)

    await settleMerges(store)
    const runStatements = async (list: readonly Statement[]): Promise<number> => {
      const started = performance.now()
      for (const s of list) await store.rows(s.sql, s.params)
      return performance.now() - started
    }
    const bucketStatement = statements.at(-1) as Statement
    const apiMs: number[] = []
    const rawMs: number[] = []
    const bucketOnlyMs: number[] = []
    const routeCodeMs: number[] = []
    const apiClient = client(aggregatePath)
    // Server side of each timed API request, for the detail only: from Node's 'request' event (headers parsed) until
    // the answer's last byte is handed to the socket. API minus this is the client, the loopback and the wake-ups.
    const serverMs: number[] = []
    let timingServer = false
    const onRequest = (_request: IncomingMessage, response: ServerResponse): void => {
      if (!timingServer) return
      const started = performance.now()
      response.once('finish', () => serverMs.push(performance.now() - started))
    }
    app.app.server.prependListener('request', onRequest)
    process.stderr.write(
      `  ${warmup} + ${requests} × (GET ${aggregatePath.replace(/\?.*/, '')} from another process, then the route's ${statements.length} statement(s) on the same chDB, then the route's code without HTTP), taking turns so both meet the same neighbours\n`
    )
    try {
      problems.push(...(await apiClient.get(warmup)).problems)
      for (let i = 0; i < warmup; i++) await runStatements(statements)
      timingServer = true
      for (let i = 1; i <= requests; i++) {
        const reply = await apiClient.get(1)
        problems.push(...reply.problems)
        apiMs.push(...reply.ms)
        rawMs.push(await runStatements(statements))
        if (statements.length > 1) bucketOnlyMs.push(await runStatements([bucketStatement]))
        // The route's own code (bucket query and shaping, the known-metric check for an empty answer) without HTTP.
        const started = performance.now()
        await aggregate(store, tenant.id, METRIC, resolveRange({ from: range.from, to: range.to, step: 60 }))
        routeCodeMs.push(performance.now() - started)
        if (i % 50 === 0 || i === requests) {
          const [a, r, c] = [timingOf(apiMs), timingOf(rawMs), timingOf(routeCodeMs)]
          process.stderr.write(`  ${String(i).padStart(5)} of ${requests}: API p50 ${a.p50Ms} p95 ${a.p95Ms} ms; raw p50 ${r.p50Ms} p95 ${r.p95Ms} ms; route code p50 ${c.p50Ms} p95 ${c.p95Ms} ms\n`)
        }
      }
    } finally {
      timingServer = false
      app.app.server.off('request', onRequest)
      apiClient.close()
    }
    const api = { timing: timingOf(apiMs) }
    const raw = timingOf(rawMs)

    const DETAIL = Math.min(requests, 20)
    process.stderr.write(`  detail: the aggregate with stats=quantiles and /performance, ${warmup} + ${DETAIL} each\n`)
    const slow = async (urlPath: string): Promise<Timing> => {
      const c = client(urlPath)
      try {
        await c.get(Math.min(warmup, 3))
        const reply = await c.get(DETAIL)
        problems.push(...reply.problems)
        return timingOf(reply.ms)
      } finally {
        c.close()
      }
    }
    const quantiles = { timing: await slow(`/api/v2/analytics/aggregate?${new URLSearchParams({ metric: METRIC, stats: 'quantiles', ...range })}`) }
    const perf = { timing: await slow(`/api/v2/analytics/performance?${new URLSearchParams(range)}`) }

    const ratio = api.timing.p95Ms / raw.p95Ms
    const file = writeResults('query', { p50Ms: api.timing.p50Ms, p95Ms: api.timing.p95Ms, rawP95Ms: raw.p95Ms, ratio })
    writeResults('query-detail', {
      scenario: 'query',
      api: api.timing,
      raw,
      bucketQueryOnly: bucketOnlyMs.length > 0 ? timingOf(bucketOnlyMs) : null,
      routeCodeWithoutHttp: timingOf(routeCodeMs),
      apiServerSide: timingOf(serverMs),
      ratio,
      source: answer?.source,
      statements: statements.map((s) => s.sql),
      aggregateWithQuantiles: quantiles.timing,
      performance: perf.timing,
      points,
      series,
      day: new Date(dayMs).toISOString(),
      loadMs: Math.round(loadMs),
      loadPointsPerSec: points / (loadMs / 1000),
      requests,
      warmup,
      clean: problems.length === 0,
      problems: [...new Set(problems)],
      machine: machineInfo(),
      loadAverage: os.loadavg(),
      finishedAt: new Date().toISOString(),
    })
    const row = (name: string, t: Timing): string =>
      `${name.padEnd(28)} p50 ${t.p50Ms.toFixed(1).padStart(7)} ms  p95 ${t.p95Ms.toFixed(1).padStart(7)} ms  p99 ${t.p99Ms.toFixed(1).padStart(7)} ms\n`
    process.stdout.write(
      `\n${int(points)} points over a day, step=60 (1,440 buckets), read from ${answer?.source}\n` +
        row('API aggregate', api.timing) +
        row(`raw (${statements.length} statements)`, raw) +
        (bucketOnlyMs.length > 0 ? row('raw bucket query alone', timingOf(bucketOnlyMs)) : '') +
        row('route code without HTTP', timingOf(routeCodeMs)) +
        row('API, server side', timingOf(serverMs)) +
        `ratio (API p95 / raw p95)    ${ratio.toFixed(3)}\n` +
        row('API aggregate, quantiles', quantiles.timing) +
        row('API performance', perf.timing) +
        `load (setup)                 ${int(points / (loadMs / 1000))} points/s by storage's insert path\n\nresults: ${file}\n`
    )
    if (problems.length > 0) process.stdout.write(`\n!! THIS RUN HAD ERRORS:\n${problems.map((p) => `!!   ${p}\n`).join('')}`)
    return problems.length === 0 ? 0 : 1
  } finally {
    await stack.stop().catch(() => {})
    fs.rmSync(scratch, { recursive: true, force: true })
  }
}
