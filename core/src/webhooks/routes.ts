import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { secretEquals } from '../crypto.js';
import { envelopeSchema } from '../whatsapp/schemas.js';
import { UNPARSED_PARTITION, partitionKeysOf } from '../whatsapp/normalize.js';
import { verifySignature } from './signature.js';
import type { InboxWriter } from './inbox-writer.js';

export interface WebhookRouteOptions {
  appSecret: string;
  verifyToken: string | undefined;
  maxBodyBytes: number;
  inbox: InboxWriter;
  /** Called after the 200 for partitions with new rows (wakes a worker); failures are logged only. */
  onAccepted: (partitionKeys: string[]) => Promise<void>;
  logger: Logger;
  metrics: Metrics;
  /** Told when a delivery request begins and ends (the worker of this process yields to them). */
  ingress?: { begin(): void; end(): void };
}

/**
 * `GET /webhooks/whatsapp` answers Meta's verification handshake; `POST` verifies the signature on the
 * raw bytes, makes the delivery durable in the inbox and only then answers 200. Bad signature → 401,
 * malformed JSON → 400, oversized → 413; none of those is stored or processed.
 */
export function webhookRouter(opts: WebhookRouteOptions): Router {
  const router = express.Router();

  router.get('/webhooks/whatsapp', (req: Request, res: Response) => {
    const mode = req.query['hub.mode'];
    const token = req.query['hub.verify_token'];
    const challenge = req.query['hub.challenge'];
    if (mode === 'subscribe' && typeof token === 'string' && opts.verifyToken && secretEquals(token, opts.verifyToken) && typeof challenge === 'string') {
      res.status(200).type('text/plain').send(challenge);
      return;
    }
    opts.logger.warn({ mode }, 'webhook verification refused');
    res.status(403).type('text/plain').send('Forbidden');
  });

  router.post(
    '/webhooks/whatsapp',
    (_req: Request, res: Response, next: () => void) => {
      const ingress = opts.ingress;
      if (ingress) {
        ingress.begin();
        res.once('close', () => ingress.end());
      }
      next();
    },
    express.raw({ type: () => true, limit: opts.maxBodyBytes }),
    async (req: Request, res: Response) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (!verifySignature(raw, req.get('x-hub-signature-256'), opts.appSecret)) {
        opts.metrics.webhookRequests.inc({ outcome: 'bad_signature' });
        opts.logger.warn({ bytes: raw.length, ip: req.ip }, 'webhook rejected: bad signature');
        res.status(401).json({ error: 'invalid signature' });
        return;
      }
      const text = raw.toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        opts.metrics.webhookRequests.inc({ outcome: 'malformed' });
        opts.logger.warn({ bytes: raw.length }, 'webhook rejected: malformed JSON');
        res.status(400).json({ error: 'malformed JSON' });
        return;
      }
      // Signed by Meta but not an envelope we know: keep it anyway (the worker reports it).
      const envelope = envelopeSchema.safeParse(body);
      const keys = envelope.success ? partitionKeysOf(envelope.data) : [];
      const partitions = keys.length > 0 ? keys : [UNPARSED_PARTITION];
      try {
        const fresh = await opts.inbox.write({ rawBody: text, partitionKeys: partitions });
        opts.metrics.webhookRequests.inc({ outcome: fresh.length > 0 ? 'accepted' : 'duplicate' });
        res.status(200).json({ ok: true });
        if (fresh.length > 0) {
          opts.onAccepted(fresh).catch((error: unknown) => opts.logger.warn({ err: String(error) }, 'could not wake the inbox worker; the sweep will'));
        }
      } catch (error) {
        opts.metrics.webhookRequests.inc({ outcome: 'error' });
        opts.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'webhook not stored');
        // Not durable → not acknowledged: Meta retries.
        res.status(503).json({ error: 'temporarily unavailable' });
      }
    },
  );
  return router;
}
