// Follows GET /api/v2/live. EventSource cannot send an Authorization header
// and the route takes the apiKey only there (a key in the URL would end up in
// logs and shared links), so this reads the stream with fetch and parses the
// SSE lines itself, resuming with Last-Event-ID as EventSource would.
import type { LiveAggregate, LiveTrigger } from '../query/read-contract.ts'

export interface LiveHandlers {
  aggregate(event: LiveAggregate): void
  trigger(event: LiveTrigger): void
  /** Connected, or why not (and that it retries). */
  state(connected: boolean, detail: string): void
}

interface SseEvent {
  event: string
  data: string
  id: string | undefined
  retry: number | undefined
}

/** Splits a growing SSE text into events; returns the events and the unfinished rest. */
export function parseSse(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = []
  const blocks = buffer.replace(/\r\n?/g, '\n').split('\n\n')
  const rest = blocks.pop() ?? ''
  for (const block of blocks) {
    const event: SseEvent = { event: 'message', data: '', id: undefined, retry: undefined }
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'event') event.event = value
      else if (field === 'data') data.push(value)
      else if (field === 'id') event.id = value
      else if (field === 'retry' && /^\d+$/.test(value)) event.retry = Number(value)
    }
    event.data = data.join('\n')
    if (data.length > 0 || event.retry !== undefined) events.push(event)
  }
  return { events, rest }
}

/** Runs until stop(); reconnects after the server's retry delay, from the last event id seen. */
export function followLive(apiKey: string, query: { metrics: string[]; stepS: number }, handlers: LiveHandlers): { stop(): void } {
  const controller = new AbortController()
  let lastEventId: string | undefined
  let retryMs = 2000
  const params = new URLSearchParams({ step: String(query.stepS) })
  for (const metric of query.metrics) params.append('metric', metric)

  const connect = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      try {
        const headers: Record<string, string> = { authorization: `Bearer ${apiKey}`, accept: 'text/event-stream' }
        if (lastEventId) headers['last-event-id'] = lastEventId
        const response = await fetch(`/api/v2/live?${params}`, { headers, signal: controller.signal, cache: 'no-store' })
        if (!response.ok || !response.body) {
          const body = (await response.json().catch(() => undefined)) as { message?: string } | undefined
          handlers.state(false, `Live updates unavailable: ${body?.message ?? `HTTP ${response.status}`} Retrying.`)
        } else {
          handlers.state(true, 'Live')
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
          let buffer = ''
          for (;;) {
            const { value, done } = await reader.read()
            if (done) break
            const parsed = parseSse(buffer + value)
            buffer = parsed.rest
            for (const event of parsed.events) {
              if (event.retry !== undefined) retryMs = event.retry
              if (event.id !== undefined) lastEventId = event.id
              if (event.event === 'aggregate') handlers.aggregate(JSON.parse(event.data) as LiveAggregate)
              else if (event.event === 'trigger') handlers.trigger(JSON.parse(event.data) as LiveTrigger)
            }
          }
          handlers.state(false, 'Live stream ended; reconnecting.')
        }
      } catch (err) {
        if (controller.signal.aborted) return
        handlers.state(false, `Live stream lost (${(err as Error).message}); reconnecting.`)
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs))
    }
  }
  void connect()
  return { stop: () => controller.abort() }
}
