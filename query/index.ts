// The query tier's public door: a fastify plugin with the read routes, the
// SQL console, retention settings, the tenant admin routes and the dashboard. ingest/ never imports it.
import type { FastifyInstance } from 'fastify'
import type { NatsConnection } from '@nats-io/transport-node'
import { createErrorHandler, type ClickHouseStore, type RuleStore, type SiteRegistry, type TenantQuota, type TenantRegistry } from '../engine/index.ts'
import { registerAggregateRoutes } from './aggregate-route.ts'
import { registerRetentionRoutes } from './retention-route.ts'
import { registerSqlRoute } from './sql-route.ts'
import { registerTenantRoutes } from './tenants-route.ts'
import { registerQuotaRoutes } from './quota-route.ts'
import { registerUsageRoutes } from './usage-route.ts'
import { registerRulesRoutes } from './rules-route.ts'
import { registerUi } from './ui-static.ts'
import { registerPerformanceRoute } from './performance-route.ts'
import { registerCacheRoute } from './cache-route.ts'
import { registerTriggersRoute } from './triggers-route.ts'
import { registerLiveRoute, type LiveOptions } from './live-route.ts'
import { registerChartsRoute } from './charts-route.ts'
import { registerSitesRoutes } from './sites-route.ts'

export { QueryErrors } from './errors.ts'

export interface QueryPluginOptions {
  tenants: TenantRegistry
  store: ClickHouseStore
  adminToken: string
  /** The tracker's sites: /api/v2/sites is served, and a deleted tenant's sites go with it, when given. */
  sites?: SiteRegistry
  /** The rule store (engine/rules/rule-store.ts); the rules API is served when the process opened one. */
  rules?: RuleStore
  /** GET /api/v2/live's heartbeat, tick and per-tenant bound; defaults in live-route.ts (tests shorten them). */
  live?: LiveOptions
  /** NATS, for the quotas in the tenants bucket (the admin quota routes, and the quota beside /api/v2/usage). */
  nc?: NatsConnection
  /** The quota of a tenant with none of its own, as the ingest processes are configured. */
  defaultQuota?: TenantQuota
  /** Where the built dashboard is; default ui/dist. */
  uiDir?: string
}

export async function queryPlugin(app: FastifyInstance, options: QueryPluginOptions): Promise<void> {
  app.setErrorHandler(createErrorHandler())
  registerAggregateRoutes(app, options)
  registerPerformanceRoute(app, options)
  registerCacheRoute(app, options)
  registerTriggersRoute(app, options)
  registerLiveRoute(app, options)
  registerChartsRoute(app, options)
  registerSqlRoute(app, options)
  registerRetentionRoutes(app, options)
  registerTenantRoutes(app, options)
  registerQuotaRoutes(app, options)
  registerUsageRoutes(app, options)
  if (options.sites) registerSitesRoutes(app, { tenants: options.tenants, sites: options.sites })
  if (options.rules) registerRulesRoutes(app, { tenants: options.tenants, rules: options.rules })
  await registerUi(app, options.uiDir)
}
