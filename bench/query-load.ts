// The client of the query scenario, in its own process (the timings must not
// share the server's event loop). Argument: a JSON spec. For each message
// {requests: n} from the parent it GETs the URL n times, one after another,
// each answer read to its end, and replies with each request's ms; a message
// {requests: 0} ends it. The parent asks for one at a time and runs the raw
// statements in between, so API and raw meet the same neighbours.
import { performance } from 'node:perf_hooks'

export interface QueryLoadSpec {
  url: string
  apiKey: string
}

export interface QueryLoadReply {
  ms: number[]
  problems: string[]
}

const spec = JSON.parse(process.argv[2] ?? '{}') as QueryLoadSpec
const headers = { authorization: `Bearer ${spec.apiKey}` }

async function timed(n: number): Promise<QueryLoadReply> {
  const ms: number[] = []
  const problems = new Set<string>()
  for (let i = 0; i < n; i++) {
    const started = performance.now()
    const response = await fetch(spec.url, { headers })
    await response.arrayBuffer()
    ms.push(performance.now() - started)
    if (response.status !== 200) problems.add(`GET ${new URL(spec.url).pathname} answered ${response.status}`)
  }
  return { ms, problems: [...problems] }
}

process.on('message', (message: { requests: number }) => {
  if (message.requests === 0) {
    process.disconnect()
    return
  }
  timed(message.requests).then(
    (reply) => process.send?.(reply),
    (err: Error) => {
      process.stderr.write(`${err.stack ?? err.message}\n`)
      process.exit(1)
    }
  )
})
