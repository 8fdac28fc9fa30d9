// The ingest load for k6 users, against a Tidemark you run yourself (the
// autocannon scenario in bench/ingest.ts starts its own): each iteration posts
// one request of BATCH beacons to /api/v2/analytics/metrics with a tenant's
// ingest token. k6 1.x runs TypeScript as is:
//
//   TIDEMARK_INGEST_TOKEN=tmi_... k6 run bench/k6/ingest.ts
//   TIDEMARK_URL=http://host:8080 VUS=100 DURATION=1m BATCH=100 TIDEMARK_INGEST_TOKEN=tmi_... k6 run bench/k6/ingest.ts
//
// The `beacons` counter's rate is the figure comparable to beaconsPerSec.
import http from 'k6/http'
import { check, fail } from 'k6'
import { Counter } from 'k6/metrics'
import type { Options } from 'k6/options'

const BASE_URL = __ENV.TIDEMARK_URL || 'http://localhost:8080'
const TOKEN = __ENV.TIDEMARK_INGEST_TOKEN || ''
const BATCH = Number(__ENV.BATCH || 1)

export const options: Options = {
  vus: Number(__ENV.VUS || 50),
  duration: __ENV.DURATION || '30s',
  // A refused beacon is not ingested: any failure makes the run fail, like the autocannon scenario's errors banner.
  thresholds: { http_req_failed: ['rate==0'] },
}

const beacons = new Counter('beacons')

const beacon = { page_views: 1, load_time: 420 }
const body = JSON.stringify(BATCH === 1 ? beacon : Array.from({ length: BATCH }, () => beacon))
const params = { headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } }

export function setup(): void {
  if (!TOKEN) fail('set TIDEMARK_INGEST_TOKEN to a tenant ingestToken (npx tidemark tenant create NAME)')
  if (!Number.isInteger(BATCH) || BATCH < 1 || BATCH > 1000) fail(`BATCH must be 1 to 1000 beacons (got ${__ENV.BATCH})`)
}

export default function (): void {
  const response = http.post(`${BASE_URL}/api/v2/analytics/metrics`, body, params)
  if (check(response, { 'answered 200': (r) => r.status === 200 })) beacons.add(BATCH)
}
