// The soak scenario: the ingest role alone in its own process (as in `ingest`),
// held for minutes at half the single-beacon rate it peaks at, to see whether
// its memory stays flat. Measures the peak first (closed loop, as `ingest`
// does), then loads at half of it with autocannon's fixed overall rate,
// sampling the ingest process's RSS from /proc every few seconds. RSS is
// compared from the first sample a minute in (the heap first settles from the
// peak measurement's size) to the end. Writes bench/results/soak.json (with the
// RSS series) and bench/results/soak.svg.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startIngestProcess, rssMb } from './ingest-process.ts'
import { runLoad } from './load.ts'
import { int, machineInfo, writeResults } from './report.ts'

const HELP = `npm run bench -- soak [--minutes N] [--connections N] [--rate N] [--peak-seconds N] [--sample-seconds N]

The ingest role alone in its own process (tidemark ingest, its own nats-server),
single-beacon JSON posts at half its peak rate for --minutes (default 10); its
RSS is sampled throughout. Writes bench/results/soak.json and soak.svg.

  --minutes N         minutes at the soak rate (default 10; fractions allowed, e.g. 0.5)
  --connections N     HTTP connections (default 50)
  --rate N            requests a second to hold; default: half the measured peak
  --peak-seconds N    seconds measuring the peak first (default 10)
  --sample-seconds N  seconds between RSS samples (default 5)
`

const BEACON = { page_views: 1, load_time: 420 }
/** RSS may move this much between start and end and still count as flat. */
const FLAT_WITHIN = 0.1

export interface SoakPoint {
  /** Seconds since the soak load started. */
  s: number
  rssMb: number
  /** 2xx a second since the previous point. */
  okPerSec: number
}

function positive(flag: string, value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`--${flag} must be a number above 0 (got "${value}")`)
  return n
}

/** RSS over time as a small standalone SVG line chart. */
export function rssChart(points: SoakPoint[], title: string): string {
  const width = 720
  const height = 300
  const left = 60
  const right = 20
  const top = 40
  const bottom = 40
  const maxS = Math.max(1, ...points.map((p) => p.s))
  const values = points.map((p) => p.rssMb)
  const lo = Math.floor(Math.min(...values, Infinity) * 0.9)
  const hi = Math.ceil(Math.max(...values, 1) * 1.1)
  const x = (s: number): number => left + (s / maxS) * (width - left - right)
  const y = (mb: number): number => top + (1 - (mb - lo) / Math.max(1, hi - lo)) * (height - top - bottom)
  const line = points.map((p) => `${x(p.s).toFixed(1)},${y(p.rssMb).toFixed(1)}`).join(' ')
  const ticks = [lo, (lo + hi) / 2, hi]
    .map((mb) => `<text x="${left - 6}" y="${y(mb) + 4}" text-anchor="end">${Math.round(mb)} MB</text><line x1="${left}" x2="${width - right}" y1="${y(mb)}" y2="${y(mb)}" stroke="#ddd"/>`)
    .join('')
  const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;')
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12" role="img" aria-label="${esc(title)}">` +
    `<title>${esc(title)}</title><rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="${left}" y="22" font-size="14">${esc(title)}</text>${ticks}` +
    `<text x="${left}" y="${height - 12}">0 s</text><text x="${width - right}" y="${height - 12}" text-anchor="end">${Math.round(maxS)} s</text>` +
    `<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${line}"/></svg>\n`
  )
}

export async function soakScenario(argv: string[]): Promise<number> {
  let options
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        minutes: { type: 'string', default: '10' },
        connections: { type: 'string', default: '50' },
        rate: { type: 'string' },
        'peak-seconds': { type: 'string', default: '10' },
        'sample-seconds': { type: 'string', default: '5' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
    if (values.help) {
      process.stdout.write(HELP)
      return 0
    }
    options = {
      minutes: positive('minutes', values.minutes),
      connections: Math.round(positive('connections', values.connections)),
      rate: values.rate === undefined ? undefined : Math.round(positive('rate', values.rate)),
      peakSec: Math.round(positive('peak-seconds', values['peak-seconds'])),
      sampleSec: positive('sample-seconds', values['sample-seconds']),
    }
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`)
    return 2
  }
  const durationSec = Math.max(1, Math.round(options.minutes * 60))
  process.stderr.write('soak: starting nats-server, `tidemark setup` and `tidemark ingest` in its own process...\n')
  const ingest = await startIngestProcess()
  try {
    const load = {
      url: `${ingest.url}/api/v2/analytics/metrics`,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ingest.tenant.ingestToken}` },
      body: JSON.stringify(BEACON),
      connections: options.connections,
      serverPid: ingest.pid,
    }
    let peakPerSec: number | undefined
    let rate = options.rate
    if (rate === undefined) {
      const peak = await runLoad({ ...load, label: 'soak: peak', durationSec: options.peakSec, warmupSec: 2 })
      peakPerSec = Math.round(peak.ok / peak.durationSec)
      rate = Math.max(1, Math.round(peakPerSec / 2))
      process.stderr.write(`  peak ${int(peakPerSec)} req/s (${options.connections} connections): soaking at ${int(rate)} req/s\n`)
    }

    const series: SoakPoint[] = []
    const rssAtStart = rssMb(ingest.pid) ?? 0
    series.push({ s: 0, rssMb: rssAtStart, okPerSec: 0 })
    const started = Date.now()
    let okSince = 0
    let lastAt = started
    let lastLine = started
    const sampler = setInterval(() => {
      const now = Date.now()
      const rss = rssMb(ingest.pid)
      if (rss === undefined) return
      series.push({ s: Math.round((now - started) / 100) / 10, rssMb: rss, okPerSec: Math.round(okSince / ((now - lastAt) / 1000)) })
      okSince = 0
      lastAt = now
      // A line about every 30 s (and the first after one sample), so a 10-minute run says where it is without flooding.
      if (now - lastLine >= 30_000 || series.length === 2) {
        lastLine = now
        const elapsed = Math.round((now - started) / 1000)
        process.stderr.write(
          `  soak ${String(elapsed).padStart(4)}/${durationSec} s  ${int(series.at(-1)?.okPerSec ?? 0).padStart(7)} req/s  ingest RSS ${rss.toFixed(1)} MB (start ${rssAtStart.toFixed(1)})\n`
        )
      }
    }, options.sampleSec * 1000)
    let soak
    try {
      soak = await runLoad({ ...load, label: 'soak', durationSec, warmupSec: 0, overallRate: rate }, (message) => {
        okSince += message.counts.ok
      })
    } finally {
      clearInterval(sampler)
    }
    const rssAtEnd = rssMb(ingest.pid) ?? series.at(-1)?.rssMb ?? 0
    series.push({ s: Math.round((Date.now() - started) / 100) / 10, rssMb: rssAtEnd, okPerSec: 0 })
    // The start is the first sample a settling time in (a minute, or a sixth of a shorter run): at the very start
    // the heap still has the size the peak measurement gave it, and settles to the soak's working size after.
    const settleSec = Math.min(60, durationSec / 6)
    const rssStart = series.find((p) => p.s >= settleSec)?.rssMb ?? rssAtStart
    const changePct = rssStart > 0 ? Math.round(((rssAtEnd - rssStart) / rssStart) * 1000) / 10 : 0
    const flat = Math.abs(changePct) <= FLAT_WITHIN * 100
    // The last two thirds alone: a leak grows there; a heap settling after the peak measurement does not.
    const tail = series.filter((p) => p.s >= durationSec / 3)
    const tailFrom = tail[0]?.rssMb ?? rssStart
    const lastTwoThirds = {
      fromMb: tailFrom,
      toMb: rssAtEnd,
      minMb: Math.min(...tail.map((p) => p.rssMb)),
      maxMb: Math.max(...tail.map((p) => p.rssMb)),
      changePct: tailFrom > 0 ? Math.round(((rssAtEnd - tailFrom) / tailFrom) * 1000) / 10 : 0,
    }
    const achievedPerSec = Math.round(soak.ok / soak.durationSec)
    const problems = [
      ...(soak.non2xx > 0 ? [`${soak.non2xx} non-2xx answers: ${JSON.stringify(soak.statusCodes)}`] : []),
      ...(soak.errors > 0 ? [`${soak.errors} requests got no answer (${soak.timeouts} timeouts)`] : []),
    ]
    const title = `tidemark ingest RSS, ${int(achievedPerSec)} req/s for ${Math.round(durationSec / 6) / 10} min`
    const svgFile = fileURLToPath(new URL('./results/soak.svg', import.meta.url))
    const file = writeResults('soak', {
      scenario: 'soak',
      minutes: durationSec / 60,
      connections: options.connections,
      peakPerSec,
      targetPerSec: rate,
      achievedPerSec,
      rssStartMb: rssStart,
      rssStartAfterSec: settleSec,
      rssEndMb: rssAtEnd,
      rssAtLoadStartMb: rssAtStart,
      rssMinMb: Math.min(...series.map((p) => p.rssMb)),
      rssMaxMb: Math.max(...series.map((p) => p.rssMb)),
      rssChangePct: changePct,
      flat,
      rssLastTwoThirds: lastTwoThirds,
      latencyMs: soak.latencyMs,
      non2xx: soak.non2xx,
      errors: soak.errors,
      cpu: soak.cpu,
      clean: problems.length === 0,
      problems,
      body: BEACON,
      sampleSeconds: options.sampleSec,
      series,
      chart: path.relative(process.cwd(), svgFile),
      machine: machineInfo(),
      finishedAt: new Date().toISOString(),
    })
    fs.writeFileSync(svgFile, rssChart(series, title))
    process.stdout.write(
      `\nsoak     ${int(achievedPerSec)} req/s for ${durationSec} s (target ${int(rate)}${peakPerSec === undefined ? '' : `, half the peak of ${int(peakPerSec)}`}), p50 ${soak.latencyMs.p50} ms, p99 ${soak.latencyMs.p99} ms\n` +
        `RSS      ${rssStart.toFixed(1)} MB ${Math.round(settleSec)} s in, ${rssAtEnd.toFixed(1)} MB at the end (${changePct >= 0 ? '+' : ''}${changePct} %: ${flat ? 'flat' : 'NOT flat'} within ${FLAT_WITHIN * 100} %); ` +
        `${rssAtStart.toFixed(1)} MB when the load began, min ${Math.min(...series.map((p) => p.rssMb)).toFixed(1)}, max ${Math.max(...series.map((p) => p.rssMb)).toFixed(1)} MB; ` +
        `last two thirds ${lastTwoThirds.fromMb.toFixed(1)} → ${rssAtEnd.toFixed(1)} MB (${lastTwoThirds.changePct >= 0 ? '+' : ''}${lastTwoThirds.changePct} %, ${lastTwoThirds.minMb.toFixed(1)}–${lastTwoThirds.maxMb.toFixed(1)})\n` +
        `CPU      ingest process ${soak.cpu.serverProcessPct ?? '?'}%, load generator ${soak.cpu.loadGeneratorPct}% (100 = one core)\n\nresults: ${file}, ${path.relative(process.cwd(), svgFile)}\n`
    )
    if (problems.length > 0) process.stdout.write(`\n!! THIS RUN HAD ERRORS:\n${problems.map((p) => `!!   ${p}\n`).join('')}`)
    return problems.length === 0 ? 0 : 1
  } finally {
    await ingest.stop()
  }
}
