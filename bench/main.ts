// `npm run bench -- <scenario> [options]`: picks a scenario, reads the flags,
// and exits 0 only for a clean run (no errors, stored samples equal to published ones),
// so a script can tell a measurement from a broken one.
import path from 'node:path'
import { parseArgs } from 'node:util'
import { MAX_BEACONS_PER_REQUEST } from '../engine/index.ts'
import { ingestScenario, type IngestOptions } from './ingest.ts'
import { nabScenario } from './nab/nab-scenario.ts'
import { engineScenario } from './engine.ts'

const HELP = `npm run bench -- <scenario> [options]        (run with </dev/null: chDB reads stdin)

scenarios:
  ingest   POST /api/v2/analytics/metrics (one beacon a request) against a bare
           fastify route answering 204, plus a batched variant: the ingest role
           alone in its own process, then embedded; prints the rates and their
           ratios, writes bench/results/ingest.json
  engine   samples/s through event-time windows per worker thread against decoding
           the same batches alone, then through the pool and from JetStream;
           writes bench/results/engine.json (own flags: --samples --series --threads)
  nab      the anomaly scorer on the Numenta Anomaly Benchmark (own flags: --help)
  ingest-batch  msgpack bodies of 1,000 beacons against raw JetStream publishing of the
           same batches; writes bench/results/ingest-batch.json (own flags: --help)
  e2e      msgpack batches from HTTP to queryable on the embedded stack, beside raw chDB
           inserts of the same rows, with freshness probes; writes bench/results/e2e.json
  query    a day's per-minute aggregate over 10,000,000 points through the API, beside the
           same SQL run directly on the same chDB; writes bench/results/query.json
  soak     the ingest role alone at half its peak single-beacon rate for 10 minutes
           (--minutes N): its RSS over time; writes bench/results/soak.json and .svg
  storage-cost  CPU seconds per million rows stored through storage's encoder and INSERT into
           a fresh chDB at fixed rates, by thread (merges, insert pipeline, Node), per schema
           variant; writes bench/results/storage-cost.json (own flags: --help)
  triggers from the HTTP arrival of the beacon that completes a condition to its
           event on NATS, under background load; writes bench/results/triggers.json

options:
  --duration N      seconds measured per load                   (default 10)
  --warmup N        seconds of unmeasured load before each one  (default 2)
  --connections N   concurrent HTTP connections                 (default 50)
  --batch N         beacons per request in the batched variant, 0 to skip it (default 100)
  --alone-only      ingest: measure the ingest role alone only, not the embedded process too
  --cpu-prof DIR    ingest: write a CPU profile of the ingest-alone process into DIR
  -h, --help        this text

See bench/README.md for what the figures mean.
`

const SCENARIOS: Record<string, (options: IngestOptions) => Promise<boolean>> = { ingest: ingestScenario }

function integer(flag: string, value: string, min: number, max: number): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`--${flag} must be a whole number from ${min} to ${max} (got "${value}")`)
  return n
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'nab') return nabScenario(argv.slice(1)) // its own flags and folder: bench/nab/nab-scenario.ts
  if (argv[0] === 'engine') return engineScenario(argv.slice(1)) // its own flags: bench/engine.ts
  if (argv[0] === 'ingest-batch') return (await import('./ingest-batch.ts')).ingestBatchScenario(argv.slice(1)) // its own flags: bench/ingest-batch.ts
  if (argv[0] === 'e2e') return (await import('./e2e.ts')).e2eScenario(argv.slice(1)) // its own flags: bench/e2e.ts
  if (argv[0] === 'query') return (await import('./query.ts')).queryScenario(argv.slice(1)) // its own flags: bench/query.ts
  if (argv[0] === 'triggers') return (await import('./triggers.ts')).triggersScenario(argv.slice(1)) // its own flags: bench/triggers.ts
  if (argv[0] === 'storage-cost') return (await import('./storage-cost.ts')).storageCostScenario(argv.slice(1)) // its own flags: bench/storage-cost.ts
  if (argv[0] === 'soak') return (await import('./soak.ts')).soakScenario(argv.slice(1)) // its own flags: bench/soak.ts
  let options: IngestOptions
  let scenario: string | undefined
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        duration: { type: 'string', default: '10' },
        warmup: { type: 'string', default: '2' },
        connections: { type: 'string', default: '50' },
        batch: { type: 'string', default: '100' },
        'alone-only': { type: 'boolean', default: false },
        'cpu-prof': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
    if (values.help || positionals.length === 0) {
      process.stdout.write(HELP)
      return values.help ? 0 : 2
    }
    if (positionals.length > 1) throw new RangeError(`one scenario at a time (got ${positionals.join(', ')})`)
    scenario = positionals[0]
    options = {
      durationSec: integer('duration', values.duration, 1, 3600),
      warmupSec: integer('warmup', values.warmup, 0, 600),
      connections: integer('connections', values.connections, 1, 10_000),
      batch: integer('batch', values.batch, 0, MAX_BEACONS_PER_REQUEST),
      aloneOnly: values['alone-only'],
      cpuProfileDir: values['cpu-prof'] === undefined ? undefined : path.resolve(values['cpu-prof']),
    }
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`)
    return 2
  }
  const run = scenario === undefined ? undefined : SCENARIOS[scenario]
  if (!run) {
    process.stderr.write(`unknown scenario "${scenario}"\n\n${HELP}`)
    return 2
  }
  return (await run(options)) ? 0 : 1
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`)
    process.exitCode = 1
  }
)
