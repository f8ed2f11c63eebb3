import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics, one registry per runtime so tests can run several side by side. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const webhookRequests = new Counter({
    name: 'coex_webhook_requests_total',
    help: 'Webhook POSTs by outcome (accepted, duplicate, bad_signature, malformed, too_large, error)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const inboxProcessed = new Counter({
    name: 'coex_inbox_processed_total',
    help: 'Inbox deliveries processed by outcome (ok, error, dead)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const inboxSetAside = new Counter({
    name: 'coex_inbox_set_aside_total',
    help: 'Webhook items that could not be stored and were set aside (GET /api/v1/inbox/set-aside), by event kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const unknownEvents = new Counter({ name: 'coex_unknown_events_total', help: 'Webhook items kept but not understood', registers: [registry] });
  const unknownEchoCreationTypes = new Counter({
    name: 'coex_echo_creation_type_unknown_total',
    help: 'Echoes whose message_creation_type is not a known value (treated as a person: the agent pauses)',
    labelNames: ['value'] as const,
    registers: [registry],
  });
  let pendingSource: (() => Promise<number>) | null = null;
  const inboxPending = new Gauge({
    name: 'coex_inbox_pending',
    help: 'Deliveries acknowledged but not processed yet',
    registers: [registry],
    async collect() {
      if (pendingSource) this.set(await pendingSource());
    },
  });
  const setPendingSource = (source: () => Promise<number>): void => {
    pendingSource = source;
  };
  const httpDuration = new Histogram({
    name: 'coex_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  return { registry, webhookRequests, inboxProcessed, inboxSetAside, unknownEvents, unknownEchoCreationTypes, inboxPending, httpDuration, setPendingSource };
}

export type Metrics = ReturnType<typeof createMetrics>;
