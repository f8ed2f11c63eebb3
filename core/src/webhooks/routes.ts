import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Request, type Response, type Router } from 'express';
import proxyAddr from 'proxy-addr';
import { TRUST_PROXY } from '../http/app.js';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { secretEquals } from '../crypto.js';
import { envelopeSchema } from '../whatsapp/schemas.js';
import { UNPARSED_PARTITION, partitionKeysOf } from '../whatsapp/normalize.js';
import { verifySignature } from './signature.js';
import type { InboxWriter } from './inbox-writer.js';

const WEBHOOK_PATH = '/webhooks/whatsapp';

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
  const accept = deliveryAcceptor(opts);

  router.get(WEBHOOK_PATH, (req: Request, res: Response) => {
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
    WEBHOOK_PATH,
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
      const answer = await accept(raw, req.get('x-hub-signature-256'), req.ip);
      res.status(answer.status).json(answer.body);
    },
  );
  return router;
}

/** The answer to a delivery POST: status and JSON body. */
interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * A delivery POST's work, whoever read its bytes (the Express route, or webhookDirectHandler):
 * signature on the raw bytes, JSON, partitions, the inbox; the worker is woken after the answer.
 */
function deliveryAcceptor(opts: WebhookRouteOptions): (raw: Buffer, signature: string | undefined, ip: string | undefined) => Promise<Answer> {
  return async (raw, signature, ip) => {
    if (!verifySignature(raw, signature, opts.appSecret)) {
      opts.metrics.webhookRequests.inc({ outcome: 'bad_signature' });
      opts.logger.warn({ bytes: raw.length, ip }, 'webhook rejected: bad signature');
      return { status: 401, body: { error: 'invalid signature' } };
    }
    const text = raw.toString('utf8');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      opts.metrics.webhookRequests.inc({ outcome: 'malformed' });
      opts.logger.warn({ bytes: raw.length }, 'webhook rejected: malformed JSON');
      return { status: 400, body: { error: 'malformed JSON' } };
    }
    // Signed by Meta but not an envelope we know: keep it anyway (the worker reports it).
    const envelope = envelopeSchema.safeParse(body);
    const keys = envelope.success ? partitionKeysOf(envelope.data) : [];
    const partitions = keys.length > 0 ? keys : [UNPARSED_PARTITION];
    try {
      const fresh = await opts.inbox.write({ rawBody: text, partitionKeys: partitions });
      opts.metrics.webhookRequests.inc({ outcome: fresh.length > 0 ? 'accepted' : 'duplicate' });
      if (fresh.length > 0) {
        // After the answer is on its way.
        setImmediate(() => opts.onAccepted(fresh).catch((error: unknown) => opts.logger.warn({ err: String(error) }, 'could not wake the inbox worker; the sweep will')));
      }
      return { status: 200, body: { ok: true } };
    } catch (error) {
      opts.metrics.webhookRequests.inc({ outcome: 'error' });
      opts.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'webhook not stored');
      // Not durable → not acknowledged: Meta retries.
      return { status: 503, body: { error: 'temporarily unavailable' } };
    }
  };
}

/**
 * `POST /webhooks/whatsapp` on the bare node:http request, before Express: the one endpoint every
 * delivery hits, thousands of times a second. Express's layers (its request and response prototypes,
 * router matching, the raw-body parser, ETags) were ~30–70 µs of CPU of the ~150–190 µs an
 * acknowledgement cost (docs/decisions/webhook-direct-path.md). Takes only what it answers exactly as
 * the route does — a body with a Content-Length within the limit, not encoded — and returns false for
 * everything else, which Express serves (GET, chunked or compressed bodies, oversized ones: 413).
 */
export function webhookDirectHandler(opts: WebhookRouteOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const accept = deliveryAcceptor(opts);
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    const query = url.indexOf('?');
    if ((query === -1 ? url : url.slice(0, query)) !== WEBHOOK_PATH) return false;
    const declared = req.headers['content-length'];
    const length = declared === undefined ? NaN : Number(declared);
    const encoding = req.headers['content-encoding'];
    if (!Number.isSafeInteger(length) || length > opts.maxBodyBytes || (encoding !== undefined && encoding.toLowerCase() !== 'identity')) return false;
    const endTimer = opts.metrics.httpDuration.startTimer();
    const ingress = opts.ingress;
    ingress?.begin();
    res.once('close', () => ingress?.end());
    const raw = Buffer.allocUnsafe(length);
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      // The parser holds the body to its Content-Length; this is only a guard.
      if (received + chunk.length <= length) chunk.copy(raw, received);
      received += chunk.length;
    });
    req.once('end', () => {
      if (received !== length) {
        res.destroy();
        return;
      }
      void accept(raw, typeof req.headers['x-hub-signature-256'] === 'string' ? req.headers['x-hub-signature-256'] : undefined, clientAddress(req)).then(
        (answer) => {
          const json = JSON.stringify(answer.body);
          res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
          res.end(json);
          endTimer({ route: WEBHOOK_PATH, status: String(answer.status) });
        },
        // As the app's error handler answers what a route throws (http/app.ts).
        (error: unknown) => {
          opts.logger.error({ path: WEBHOOK_PATH, err: error instanceof Error ? error.message : String(error) }, 'unhandled error');
          res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify({ error: 'internal error' }));
          endTimer({ route: WEBHOOK_PATH, status: '500' });
        },
      );
    });
    return true;
  };
}

/** The client's address as Express reports it (`req.ip`, with http/app.ts's TRUST_PROXY). */
const trustProxy = proxyAddr.compile(TRUST_PROXY);
const clientAddress = (req: IncomingMessage): string => proxyAddr(req, trustProxy);
