// A second process holding a RuleStore, for tests that check another process
// sees a change: it prints one JSON line when ready and one per change
// ({tenant, revision, alerts}). NATS_URL and NATS_NKEY say where and as whom.
import { connect, nkeyAuthenticator } from '@nats-io/transport-node'
import fs from 'node:fs'
import { openBucket } from '../../engine/nats/jetstream-setup.ts'
import { RULES_BUCKET, RuleStore } from '../../engine/rules/rule-store.ts'

const seed = new TextEncoder().encode(fs.readFileSync(process.env.NATS_NKEY as string, 'utf8').trim())
const nc = await connect({ servers: process.env.NATS_URL, authenticator: nkeyAuthenticator(seed) })
const store = await RuleStore.open({ kv: await openBucket(nc, RULES_BUCKET), file: process.env.RULES_FILE || undefined })
const write = (line: object) => process.stdout.write(JSON.stringify(line) + '\n')
store.onChange((tenant) => {
  const rules = store.rulesOf(tenant)
  write({ tenant, revision: rules.revision, alerts: rules.groups.flatMap((g) => g.rules.map((r) => r.name)) })
})
write({ ready: true })
process.on('SIGTERM', () => {
  void store.close().then(() => nc.close()).then(() => process.exit(0))
})
