// `tidemark migrate status|up|down [N]`: where the ClickHouse schema stands,
// and moving it to version N (up: the latest by default; down: one below the
// current by default). On chDB the data directory belongs to one process:
// stop Tidemark first. Against a ClickHouse server it runs any time.
import path from 'node:path'
import { openClickHouse } from './clickhouse-store.ts'
import type { Config } from '../config.ts'
import { migrateDown, migrateUp, migrationStatus } from './migrator.ts'

export interface CommandOutput {
  out(text: string): void
  err(text: string): void
}

const processOutput: CommandOutput = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) }

export const MIGRATE_USAGE = `usage: tidemark migrate status [--json]
       tidemark migrate up [N]                 apply pending migrations, up to version N (default: all)
       tidemark migrate down [N] [--drop-data] roll back to version N (default: one below the current);
                                               --drop-data allows a rollback that drops stored rows
`

export async function migrateCommand(config: Config, args: string[], output: CommandOutput = processOutput): Promise<number> {
  const flags = new Set(args.filter((a) => a.startsWith('--')))
  const [action, target, ...extra] = args.filter((a) => !a.startsWith('--'))
  const to = target === undefined ? undefined : Number(target)
  const unknownFlags = [...flags].filter((f) => !['--json', '--drop-data'].includes(f))
  if (!['status', 'up', 'down'].includes(action ?? '') || extra.length > 0 || unknownFlags.length > 0 || (to !== undefined && !(Number.isInteger(to) && to >= 0))) {
    output.err(MIGRATE_USAGE)
    return 2
  }
  const where = config.clickhouseUrl ?? `chDB at ${config.chdbPath ?? path.join(config.dataDir, 'chdb')}`
  let store
  try {
    store = await openClickHouse({
      url: config.clickhouseUrl,
      username: config.clickhouseUser,
      password: config.clickhousePassword,
      chdbPath: config.chdbPath ?? path.join(config.dataDir, 'chdb'),
      database: config.clickhouseDatabase,
    })
  } catch (err) {
    output.err(`${(err as Error).message}\n${config.clickhouseUrl ? '' : 'chDB’s directory belongs to one process: stop Tidemark before migrating.\n'}`)
    return 1
  }
  try {
    if (action === 'status') {
      const status = await migrationStatus(store)
      if (flags.has('--json')) {
        output.out(JSON.stringify(status) + '\n')
        return 0
      }
      output.out(`schema version ${status.version} of ${config.clickhouseDatabase} (${where})\n`)
      for (const m of status.migrations) {
        const state = m.applied ? `applied ${m.at}` : 'pending'
        output.out(`  ${String(m.id).padStart(3)}  ${state.padEnd(33)}  ${m.name}${m.changed ? '  (edited since it was applied)' : ''}\n`)
      }
      for (const u of status.unknown) output.out(`  ${String(u.id).padStart(3)}  applied by a newer release       ${u.name}\n`)
      return 0
    }
    const onMigrated = (m: { id: number; name: string }, direction: 'up' | 'down'): void =>
      output.out(`${direction === 'up' ? 'applied' : 'rolled back'} ${m.id}  ${m.name}\n`)
    const done =
      action === 'up' ? await migrateUp(store, { to, onMigrated }) : await migrateDown(store, { to, onMigrated, allowDataLoss: flags.has('--drop-data') })
    const { version } = await migrationStatus(store)
    output.out(`${done.length === 0 ? 'nothing to do: ' : ''}schema version ${version} of ${config.clickhouseDatabase}\n`)
    return 0
  } catch (err) {
    const e = err as Error & { code?: string }
    output.err(`${e.code ? `${e.code}: ` : ''}${e.message}\n`)
    return 1
  } finally {
    await store.close()
  }
}
