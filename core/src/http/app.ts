import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { secretEquals } from '../crypto.js';

/**
 * Which proxies' X-Forwarded-For the app believes: one on this machine (Express's `trust proxy`, and
 * the webhook's direct handler through proxy-addr, the module Express itself uses for it).
 */
export const TRUST_PROXY = 'loopback';

/** Express app shell: request metrics, health endpoints, JSON errors (with 413 for oversize bodies). */
export function createHttpApp(opts: {
  logger: Logger;
  metrics: Metrics;
  ready: () => Promise<void>;
  routers: express.Router[];
  /** Extra facts for /readyz (what is not configured and what that disables); never secrets. */
  readiness?: () => Promise<Record<string, unknown>>;
  /** When set, /metrics requires `Authorization: Bearer <token>` (COEX_METRICS_TOKEN). */
  metricsToken?: string;
}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', TRUST_PROXY);
  app.use((req: Request, res: Response, next: NextFunction) => {
    const end = opts.metrics.httpDuration.startTimer();
    res.on('finish', () => end({ route: (req.route as { path?: string } | undefined)?.path ?? 'unmatched', status: String(res.statusCode) }));
    next();
  });
  app.get('/healthz', (_req, res) => void res.json({ ok: true }));
  app.get('/readyz', async (_req, res) => {
    try {
      await opts.ready();
      res.json({ ready: true, ...(opts.readiness ? await opts.readiness() : {}) });
    } catch (error) {
      res.status(503).json({ ready: false, error: error instanceof Error ? error.message : String(error) });
    }
  });
  app.get('/metrics', async (req, res) => {
    if (opts.metricsToken) {
      const presented = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
      if (!presented || !secretEquals(presented, opts.metricsToken)) {
        res.status(401).set('WWW-Authenticate', 'Bearer realm="metrics"').json({ error: 'metrics need the bearer token set in COEX_METRICS_TOKEN' });
        return;
      }
    }
    res.type(opts.metrics.registry.contentType).send(await opts.metrics.registry.metrics());
  });
  for (const router of opts.routers) app.use(router);
  app.use((_req: Request, res: Response) => void res.status(404).json({ error: 'not found' }));
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = error as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large' || e.status === 413) {
      if (req.path === '/webhooks/whatsapp') opts.metrics.webhookRequests.inc({ outcome: 'too_large' });
      opts.logger.warn({ path: req.path }, 'request body too large');
      res.status(413).json({ error: 'payload too large' });
      return;
    }
    if (e.type === 'entity.parse.failed') {
      res.status(400).json({ error: 'malformed JSON' });
      return;
    }
    opts.logger.error({ path: req.path, err: e.message }, 'unhandled error');
    res.status(500).json({ error: 'internal error' });
  });
  return app;
}
