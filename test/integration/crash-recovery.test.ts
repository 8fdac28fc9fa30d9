// kill -9 of the embedded process, the worst stop there is: the beacons it
// acknowledged but had not stored yet must all be in ClickHouse after the next
// start, and the nats-server it left behind must not share its store with a
// second one.
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { isAlive } from '../../engine/nats/nats-endpoint.ts'
import { tempDir } from '../helpers/stack.ts'
import { killWithChildren, startTidemarkProcess, TIDEMARK_BIN, type TidemarkProcess } from '../helpers/tidemark-process.ts'

const dataDir = tempDir('crash')
const env = {
  ...process.env,
  TIDEMARK_DATA_DIR: dataDir,
  PORT: '0',
  HOST: '127.0.0.1',
  NATS_URL: '',
  // Storage waits long enough that the kill lands before it writes; JetStream redelivers soon after.
  TIDEMARK_STORAGE_LINGER_MS: '4000',
  TIDEMARK_STORAGE_ACK_WAIT_MS: '8000',
}
const running: TidemarkProcess[] = []
afterAll(() => {
  for (const { child } of running) killWithChildren(child, dataDir)
})

it('loses nothing acknowledged across kill -9, and replaces the orphaned nats-server', async () => {
  const first = await startTidemarkProcess(['start'], env)
  running.push(first)
  const created = spawnSync(process.execPath, [TIDEMARK_BIN, 'tenant', 'create', 'crash'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  expect(created.status, created.stderr).toBe(0)
  const tenant = JSON.parse(created.stdout)

  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      fetch(`${first.url}/api/v2/analytics/metrics`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tenant.ingestToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(Array.from({ length: 10 }, () => ({ visits: i }))),
      })
    )
  )
  expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200))

  // Acknowledged, not yet stored: only JetStream holds them when the kill lands.
  const before = await fetch(`${first.url}/api/v2/analytics/aggregate?metric=visits&step=60`, { headers: { authorization: `Bearer ${tenant.apiKey}` } })
  // Nothing of the metric is stored yet, so the query tier does not know it: 404 TM_QUERY_METRIC_UNKNOWN.
  expect(before.status).toBe(404)
  expect((await before.json()).code).toBe('TM_QUERY_METRIC_UNKNOWN')
  const orphan = Number(fs.readFileSync(path.join(dataDir, 'nats', 'tidemark-nats.pid'), 'utf8'))
  first.child.kill('SIGKILL')
  await once(first.child, 'exit')
  // SIGKILL gives Tidemark no chance to stop its child.
  expect(isAlive(orphan)).toBe(true)

  const second = await startTidemarkProcess(['start'], env)
  running.push(second)
  expect(isAlive(orphan)).toBe(false)
  // Raw rows (a 30 s step), and each rollup (steps of a minute and an hour).
  const stored = async (step: number): Promise<number> => {
    const res = await fetch(`${second.url}/api/v2/analytics/aggregate?metric=visits&step=${step}`, { headers: { authorization: `Bearer ${tenant.apiKey}` } })
    return (await res.json()).total.count
  }
  await expect.poll(() => stored(60), { timeout: 30_000, interval: 250 }).toBe(100)
  // Exactly the 100 acknowledged: checked again once storage holds nothing and JetStream has nothing left for it.
  await expect
    .poll(
      async () => {
        const { storage } = await (await fetch(`${second.url}/api/v2/health`)).json()
        return [storage.lag.undelivered, storage.lag.unacknowledged, storage.held.messages]
      },
      { timeout: 30_000, interval: 250 }
    )
    .toEqual([0, 0, 0])
  expect([await stored(30), await stored(60), await stored(3600)]).toEqual([100, 100, 100])
  second.child.kill('SIGTERM')
  expect((await once(second.child, 'exit'))[0]).toBe(0)
}, 90_000)
