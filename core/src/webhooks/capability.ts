import express from 'express';
import type { Capability, CapabilityContext } from '../capability.js';
import { InboxProcessor } from '../worker/inbox-processor.js';
import { InboxWorker, IngressLoad } from '../worker/queue.js';
import { InboxWriter } from './inbox-writer.js';
import { webhookDirectHandler, webhookRouter, type WebhookRouteOptions } from './routes.js';

export interface IngestionOptions {
  /** Numbers the inbox worker applies at once (default INBOX_CONCURRENCY). */
  concurrency?: number | undefined;
  /** How often the inbox worker looks for due deliveries without being woken. */
  pollIntervalMs?: number | undefined;
}

export interface Ingestion extends Capability {
  /** Applies the inbox; other capabilities' applied-batch hooks are registered on it by the root. */
  readonly processor: InboxProcessor;
  readonly worker: InboxWorker;
}

/**
 * Ingestion: `POST /webhooks/whatsapp` makes each delivery durable in the inbox (`inbox-writer.ts`),
 * the inbox worker (`../worker/`) applies it. Logs and counts what a batch says for operators.
 */
export function ingestionCapability(ctx: CapabilityContext, opts: IngestionOptions = {}): Ingestion {
  const { config, db, logger, metrics } = ctx;
  const processor = new InboxProcessor(db, logger, config.COEX_DEFAULT_TENANT, {
    processed: (outcome, count = 1) => metrics.inboxProcessed.inc({ outcome }, count),
    unknown: (n) => metrics.unknownEvents.inc(n),
    setAside: (kind) => metrics.inboxSetAside.inc({ kind }),
  });
  const ingress = new IngressLoad();
  const worker = new InboxWorker(processor, ctx.handle.connectionString, logger, {
    ingress,
    concurrency: opts.concurrency ?? config.INBOX_CONCURRENCY,
    ...(opts.pollIntervalMs !== undefined ? { pollIntervalMs: opts.pollIntervalMs } : {}),
  });
  metrics.setPendingSource(() => processor.pendingCount());

  return {
    name: 'ingestion',
    processor,
    worker,
    routes: () => {
      if (config.WHATSAPP_APP_SECRET) {
        const options: WebhookRouteOptions = {
          appSecret: config.WHATSAPP_APP_SECRET,
          verifyToken: config.WHATSAPP_VERIFY_TOKEN,
          maxBodyBytes: config.WEBHOOK_MAX_BODY_BYTES,
          inbox: new InboxWriter(db),
          ingress,
          // Workers in other processes hear the NOTIFY sent at commit; this one is told directly.
          onAccepted: async (partitionKeys) => worker.kick(partitionKeys),
          logger,
          metrics,
        };
        // The signature is checked over the raw bytes. Deliveries come in by the direct handler; the
        // router serves the verification GET and what the direct handler leaves to it.
        return { rawBody: [webhookRouter(options)], direct: [webhookDirectHandler(options)] };
      }
      logger.warn('WHATSAPP_APP_SECRET is not set: POST /webhooks/whatsapp answers 503 until it is');
      const notConfigured = express.Router();
      notConfigured.all('/webhooks/whatsapp', (_req, res) => void res.status(503).json({ error: 'WHATSAPP_APP_SECRET is not configured' }));
      return { rawBody: [notConfigured] };
    },
    onApplied: [
      {
        // Account bans, reinstatements and policy notices are logged where operators look.
        stage: 'observe',
        hook: (outcome) => {
          for (const n of outcome.accountNotices) {
            const log = { phoneNumberId: n.phoneNumberId, wabaId: n.wabaId, event: n.event, effect: n.effect, detail: n.detail, warning: n.warning };
            if (n.effect === 'resumed_sending') logger.info(log, 'WhatsApp account state changed');
            else logger.warn(log, 'WhatsApp account state changed');
          }
        },
      },
      {
        // New echo creation types show up here before anyone reads a changelog (bounded label length).
        stage: 'observe',
        hook: (outcome) => {
          for (const value of outcome.unknownCreationTypes) metrics.unknownEchoCreationTypes.inc({ value: value.slice(0, 40) });
        },
      },
    ],
    startWorker: () => worker.start(),
    stop: () => worker.stop(),
  };
}
