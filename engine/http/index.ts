// The http room's public door (engine/index.ts re-exports it for the tiers).
// What every HTTP tier shares: one error shape and catalogue, validation, body decoding, bearer
// auth, health, /metrics, server timeouts.
export { HttpErrors, type FieldProblem } from './http-errors.ts'
export { createErrorHandler, notFoundHandler, fieldProblems, type TidemarkHttpError } from './error-handler.ts'
export { describeProblems, withPublicMessage, MAX_FIELDS_SHOWN } from './error-handler.ts'
export { httpServerOptions, REQUEST_TIMEOUT_MS } from './http-server.ts'
export { lazyRequestLoggerFactory } from './request-logger.ts'
export { jsonBodyParser, jsonReader, bodyParsers, nonUtf8Line, strictJsonParser, type BodyReader } from './body-encoding.ts'
export { validatorCompiler } from './validator-compiler.ts'
export { requireRole, requireAdmin, tenantOf, type AuthHook } from './bearer-auth.ts'
export { registerHealthRoute, type HealthCheck } from './health-route.ts'
export { TidemarkMetrics, registerMetricsRoute, type StatsExport } from './metrics-route.ts'
