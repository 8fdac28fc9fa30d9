// GET /metrics: the process watches itself in Prometheus' text format
// (prom-client). Components keep plain counters in a `stats` object on their
// hot path; the registry reads them only when scraped, so a scrape costs the
// hot path nothing. No tenant label is ever exported: a scrape reveals load,
// never whose.
import type { FastifyInstance } from 'fastify'
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'

export interface StatsExport<S> {
  /** Metric name prefix, e.g. `tidemark_storage_`. */
  prefix: string
  read: () => S
  /** Fields that only grow, exported as `<prefix><field>_total`, with their help text. */
  counters?: Partial<Record<keyof S & string, string>>
  /** Fields that go up and down, exported as `<prefix><field>`, with their help text. */
  gauges?: Partial<Record<keyof S & string, string>>
}

/** camelCase field -> snake_case metric name part. */
function snake(field: string): string {
  return field.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())
}

export class TidemarkMetrics {
  readonly registry = new Registry()

  constructor(defaultLabels: Record<string, string> = {}) {
    this.registry.setDefaultLabels(defaultLabels)
    // Event-loop delay, heap, GC, CPU: the process-level figures every Node service should show.
    collectDefaultMetrics({ register: this.registry, prefix: 'tidemark_' })
  }

  /** Exports numeric fields of a stats object, read at scrape time. */
  exportStats<S extends object>(spec: StatsExport<S>): void {
    const value = (field: string): number => {
      const v = (spec.read() as Record<string, unknown>)[field]
      return typeof v === 'number' && Number.isFinite(v) ? v : 0
    }
    for (const [field, help] of Object.entries(spec.counters ?? {}) as [string, string][]) {
      new Counter({
        name: `${spec.prefix}${snake(field)}_total`,
        help,
        registers: [this.registry],
        collect() {
          this.reset()
          this.inc(value(field))
        },
      })
    }
    for (const [field, help] of Object.entries(spec.gauges ?? {}) as [string, string][]) {
      new Gauge({
        name: `${spec.prefix}${snake(field)}`,
        help,
        registers: [this.registry],
        collect() {
          this.set(value(field))
        },
      })
    }
  }

  /** A gauge with labels whose values are computed at scrape time (e.g. consumer lag per partition). */
  labelledGauge(name: string, help: string, labelNames: string[], read: () => Promise<Array<{ labels: Record<string, string>; value: number }>>): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset()
        for (const { labels, value } of await read()) this.set(labels, value)
      },
    })
  }
}

export function registerMetricsRoute(app: FastifyInstance, metrics: TidemarkMetrics): void {
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    const text = await metrics.registry.metrics()
    return reply.type(metrics.registry.contentType).send(text)
  })
}
