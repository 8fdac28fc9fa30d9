// POST /api/v2/query {"sql"}: an analyst's ad-hoc SELECT over their tenant's
// views, read with the tenant's apiKey. The tenant is the credential's; the
// statement cannot name another (query/sql/ says how). Answers JSON rows,
// columnar arrays (?format=columnar) or CSV (?format=csv or Accept: text/csv).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { requireRole, tenantOf, type ClickHouseStore, type TenantRegistry } from '../engine/index.ts'
import { columnarAnswer, csvAnswer, jsonAnswer } from './sql/result-shapes.ts'
import { DEFAULT_MAX_ROWS, MAX_ROWS_LIMIT, runSql } from './sql/sql-console.ts'
import type { SqlLimits } from './sql/sql-statement.ts'

/** Far above any statement a person writes, far below ClickHouse's 256 KiB max_query_size with the views around it. */
export const MAX_SQL_LENGTH = 64 * 1024

export const SqlBodySchema = Type.Object(
  {
    sql: Type.String({ minLength: 1, maxLength: MAX_SQL_LENGTH, description: 'one SELECT over your views' }),
    maxRows: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_ROWS_LIMIT, description: `rows answered at most (default ${DEFAULT_MAX_ROWS})` })),
    overflow: Type.Optional(Type.Union([Type.Literal('truncate'), Type.Literal('error')], { description: '"truncate" or "error"' })),
  },
  { additionalProperties: false }
)

export const SqlQuerySchema = Type.Object(
  { format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('columnar'), Type.Literal('csv')], { description: '"json", "columnar" or "csv"' })) },
  { additionalProperties: false }
)

export interface SqlRouteOptions {
  tenants: TenantRegistry
  store: ClickHouseStore
  /** Tests lower them to reach each limit quickly. */
  sqlLimits?: SqlLimits
}

function wantsCsv(request: FastifyRequest, format: string | undefined): boolean {
  if (format) return format === 'csv'
  const accept = request.headers.accept ?? ''
  return /\btext\/csv\b/i.test(accept)
}

export function registerSqlRoute(app: FastifyInstance, options: SqlRouteOptions): void {
  const authorize = requireRole(options.tenants, 'read')
  app.post(
    '/api/v2/query',
    { schema: { body: SqlBodySchema, querystring: SqlQuerySchema }, onRequest: authorize },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const body = request.body as Static<typeof SqlBodySchema>
      const { format } = request.query as Static<typeof SqlQuerySchema>
      const tenant = tenantOf(request)
      let answer
      try {
        answer = await runSql(options.store, tenant, body.sql, { maxRows: body.maxRows, overflow: body.overflow, limits: options.sqlLimits })
      } catch (err) {
        // Refusals are an audit trail (who tried what); 5xx are logged by the error handler.
        const e = err as { code?: string; statusCode?: number; message?: string; cause?: { message?: string } }
        if (e.statusCode !== undefined && e.statusCode < 500) {
          request.log.info({ tenant, code: e.code, refused: e.message, clickhouse: e.cause?.message?.slice(0, 500) }, 'sql console: statement not run')
        }
        throw err
      }
      if (wantsCsv(request, format)) {
        return reply
          .type('text/csv; charset=utf-8')
          .header('x-tidemark-row-count', String(answer.rowCount))
          .header('x-tidemark-truncated', String(answer.truncated))
          .send(csvAnswer(answer))
      }
      return format === 'columnar' ? columnarAnswer(answer) : jsonAnswer(answer)
    }
  )
}
