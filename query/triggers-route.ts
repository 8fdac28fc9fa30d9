// GET /api/v2/triggers: the tenant's trigger history (alert transitions and
// action ladder steps) from ClickHouse, newest first, filtered by rule, state
// and time, at most `limit` events. JSON, or CSV on Accept: text/csv.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { requireRole, tenantOf, type ClickHouseStore, type TenantRegistry } from '../engine/index.ts'
import { RANGE_QUERY } from './aggregate-route.ts'
import { QueryErrors } from './errors.ts'
import type { TriggersResponse } from './read-contract.ts'
import { acceptsCsv } from './report-csv.ts'
import { csvTable } from './sql/result-shapes.ts'
import { parseInstant } from './time-range.ts'
import { readTriggerEvents, TRIGGER_STATES } from './trigger-events.ts'

export const DEFAULT_TRIGGER_LIMIT = 100
export const MAX_TRIGGER_LIMIT = 1000
/** History reaches back a week unless from says otherwise. */
const DEFAULT_SPAN_MS = 7 * 86_400_000

const statePattern = `^(${TRIGGER_STATES.join('|')})(,(${TRIGGER_STATES.join('|')}))*$`

export const TriggersQuerySchema = Type.Object(
  {
    from: RANGE_QUERY.from,
    to: RANGE_QUERY.to,
    rule: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'an alert name' })),
    state: Type.Optional(Type.String({ pattern: statePattern, maxLength: 64, description: 'pending, firing, resolved, inactive; comma-separated' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TRIGGER_LIMIT, description: `events at most (default ${DEFAULT_TRIGGER_LIMIT})` })),
  },
  { additionalProperties: false }
)

const CSV_COLUMNS = ['at', 'id', 'rule', 'group', 'state', 'change', 'step', 'previousStep', 'action', 'value', 'labels'] as const

export function registerTriggersRoute(app: FastifyInstance, options: { tenants: TenantRegistry; store: ClickHouseStore }): void {
  app.get(
    '/api/v2/triggers',
    { schema: { querystring: TriggersQuerySchema }, onRequest: requireRole(options.tenants, 'read') },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const query = request.query as Static<typeof TriggersQuerySchema>
      const now = Date.now()
      const toMs = Math.min(parseInstant(query.to, 'to', now), now)
      const fromMs = parseInstant(query.from, 'from', toMs - DEFAULT_SPAN_MS)
      if (fromMs >= toMs) throw new QueryErrors.InvalidRange(`from (${new Date(fromMs).toISOString()}) must be before to (${new Date(toMs).toISOString()})`)
      const limit = query.limit ?? DEFAULT_TRIGGER_LIMIT
      const rows = await readTriggerEvents(options.store, tenantOf(request), {
        fromMs,
        toMs,
        rule: query.rule,
        states: query.state ? [...new Set(query.state.split(','))] : undefined,
        limit: limit + 1,
        order: 'newest',
      })
      const events = rows.slice(0, limit).map(({ position: _position, ...event }) => event)
      const answer: TriggersResponse = { from: fromMs, to: toMs, events, truncated: rows.length > limit }
      if (!acceptsCsv(request)) return answer
      return reply
        .type('text/csv; charset=utf-8')
        .header('x-tidemark-truncated', String(answer.truncated))
        .send(csvTable(CSV_COLUMNS, events.map((e) => CSV_COLUMNS.map((c) => (c === 'at' ? new Date(e.at).toISOString() : e[c])))))
    }
  )
}
