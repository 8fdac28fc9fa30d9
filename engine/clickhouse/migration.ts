// One step of Tidemark's ClickHouse schema (migrations.ts lists them; migrator.ts runs them).

export interface Migration {
  /** 1, 2, 3…: the order they run in and the schema version once applied. */
  id: number
  name: string
  /** Idempotent statements (IF NOT EXISTS, OR REPLACE): scaled out, two processes may run one at once. */
  up(db: string): string[]
  /** Undoes up, in reverse order; idempotent too (IF EXISTS). */
  down(db: string): string[]
  /** Its down drops stored rows, not only definitions: `migrate down` asks for --drop-data. */
  dataLoss?: boolean
}
