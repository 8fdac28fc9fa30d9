// Tidemark's ClickHouse schema as numbered migrations, applied in order and
// recorded in <db>.schema_migrations (migrator.ts). Rules:
//   - A released migration is never edited: change the schema with a new one.
//     (The migrator keeps a checksum of each `up` and reports an edit.)
//   - Every statement is idempotent (IF NOT EXISTS, IF EXISTS, OR REPLACE):
//     scaled out, several processes may run the same migration at once, and
//     one that failed half-way is simply run again.
//   - Every migration has a `down` that undoes it, in reverse order; one that
//     drops stored data says so (dataLoss), and the CLI asks before running it.
//   - Nothing chDB-only: the same statements run on a ClickHouse server.
import type { Migration } from './migration.ts'
import { releaseSchema } from './migrations/001-release-schema.ts'
import { tenantViews } from './migrations/002-tenant-views.ts'
import { seriesRollups } from './migrations/003-series-rollups.ts'
import { retention } from './migrations/004-retention.ts'
import { triggerEvents } from './migrations/005-trigger-events.ts'
import { trackerTables } from './migrations/007-tracker-tables.ts'

export type { Migration } from './migration.ts'

export const MIGRATIONS: readonly Migration[] = [releaseSchema, tenantViews, seriesRollups, retention, triggerEvents, trackerTables]
