import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { PgBoss } from 'pg-boss';
import express from 'express';
import type { Config } from './config.js';
import { migrateToLatest, openDatabase, ping, type DatabaseHandle } from './db/index.js';
import type { Database } from './db/schema.js';
import { TokenCipher } from './crypto.js';
import { createLogger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { InboxWriter } from './webhooks/inbox-writer.js';
import { webhookRouter } from './webhooks/routes.js';
import { InboxProcessor } from './worker/inbox-processor.js';
import { InboxQueue, createBoss } from './worker/queue.js';
import { apiRouter, type ApiOptions } from './api/routes.js';
import { createHttpApp } from './http/app.js';
import { resumeExpiredPauses } from './store/bot.js';
import { GraphClient } from './outbound/graph-client.js';
import { DbPacer } from './outbound/pacer.js';
import { SendService } from './outbound/send-service.js';

export interface RuntimeOptions {
  config: Config;
  logger?: Logger;
  /** Run the inbox worker in this process (default: config.COEX_WORKER === 'inline'). */
  worker?: boolean;
  /** Serve HTTP (false for `coex worker`). */
  http?: boolean;
  /** PGlite location override, e.g. 'memory://' in tests. */
  pgliteDir?: string;
  sendReply?: ApiOptions['sendReply'];
  /** Worker tuning for tests. */
  pollingIntervalSeconds?: number;
  sweepIntervalMs?: number;
}

/** One CoEx process: database, job queue, inbox worker and HTTP server, wired together. */
export class Runtime {
  server: Server | undefined;
  private timers: NodeJS.Timeout[] = [];

  private constructor(
    readonly config: Config,
    readonly logger: Logger,
    readonly handle: DatabaseHandle,
    readonly boss: PgBoss,
    readonly queue: InboxQueue,
    readonly processor: InboxProcessor,
    readonly metrics: Metrics,
    readonly cipher: TokenCipher,
    readonly app: express.Express | undefined,
    readonly graph: GraphClient,
    readonly sender: SendService,
  ) {}

  get db(): Kysely<Database> {
    return this.handle.db;
  }

  static async create(opts: RuntimeOptions): Promise<Runtime> {
    const { config } = opts;
    const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
    const pgliteDir = opts.pgliteDir ?? join(config.DATA_DIR, 'pglite');
    const handle = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: pgliteDir });
    try {
      await migrateToLatest(handle.db);
      const metrics = createMetrics();
      const boss = createBoss(handle, logger);
      await boss.start();
      const queue = new InboxQueue(boss, logger);
      await queue.init();
      const processor = new InboxProcessor(handle.db, logger, config.COEX_DEFAULT_TENANT, {
        processed: (outcome) => metrics.inboxProcessed.inc({ outcome }),
        unknown: (n) => metrics.unknownEvents.inc(n),
      });
      const cipher = config.COEX_ENCRYPTION_KEY
        ? TokenCipher.fromKey(config.COEX_ENCRYPTION_KEY)
        : pgliteDir.startsWith('memory://')
          ? TokenCipher.fromKey(randomBytes(32).toString('base64'))
          : TokenCipher.fromKeyFile(join(config.DATA_DIR, 'encryption.key'));
      metrics.setPendingSource(() => processor.pendingCount());

      const graph = new GraphClient({
        baseUrl: config.GRAPH_API_BASE_URL,
        version: config.GRAPH_API_VERSION,
        userAgent: 'CoEx/0.1 (+https://github.com/coex)',
        tokenProvider: async (phoneNumberId) => {
          if (phoneNumberId) {
            const row = await handle.db.selectFrom('whatsapp_numbers').select('access_token_enc').where('phone_number_id', '=', phoneNumberId).executeTakeFirst();
            if (row?.access_token_enc) return cipher.decrypt(row.access_token_enc);
          }
          if (config.WHATSAPP_ACCESS_TOKEN) return config.WHATSAPP_ACCESS_TOKEN;
          throw new Error(`no access token for ${phoneNumberId ?? 'this call'}: onboard the number or set WHATSAPP_ACCESS_TOKEN`);
        },
      });
      const sender = new SendService(handle.db, graph, new DbPacer(handle.db), logger);
      const sendReply: ApiOptions['sendReply'] =
        opts.sendReply ??
        (async (args) => {
          const outcome = await sender.send({ threadId: args.threadId, tenantId: args.tenantId, origin: 'api', actor: args.actor, message: args.message, ...(args.clientRef ? { clientRef: args.clientRef } : {}) });
          if (outcome.status !== 'sent') throw new Error(`send cancelled: ${outcome.reason}`);
          return { id: outcome.messageId, wamid: outcome.wamid, status: outcome.messageStatus, duplicate: outcome.duplicate };
        });

      let app: express.Express | undefined;
      if (opts.http !== false) {
        const adminToken = config.COEX_API_TOKEN ?? (pgliteDir.startsWith('memory://') ? undefined : adminTokenFromFile(config.DATA_DIR, logger));
        const inbox = new InboxWriter(handle.db);
        const routers: express.Router[] = [];
        if (config.WHATSAPP_APP_SECRET) {
          routers.push(
            webhookRouter({
              appSecret: config.WHATSAPP_APP_SECRET,
              verifyToken: config.WHATSAPP_VERIFY_TOKEN,
              maxBodyBytes: config.WEBHOOK_MAX_BODY_BYTES,
              inbox,
              onAccepted: async (keys) => {
                for (const key of keys) await queue.wake(key);
              },
              logger,
              metrics,
            }),
          );
        } else {
          logger.warn('WHATSAPP_APP_SECRET is not set: POST /webhooks/whatsapp answers 503 until it is');
          const notConfigured = express.Router();
          notConfigured.all('/webhooks/whatsapp', (_req, res) => void res.status(503).json({ error: 'WHATSAPP_APP_SECRET is not configured' }));
          routers.push(notConfigured);
        }
        routers.push(apiRouter({ db: handle.db, adminToken, sendReply }));
        app = createHttpApp({ logger, metrics, ready: () => ping(handle.db), routers });
      }
      const runtime = new Runtime(config, logger, handle, boss, queue, processor, metrics, cipher, app, graph, sender);
      if (opts.worker ?? config.COEX_WORKER === 'inline') await runtime.startWorker(opts);
      return runtime;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async startWorker(opts: Pick<RuntimeOptions, 'pollingIntervalSeconds' | 'sweepIntervalMs'> = {}): Promise<void> {
    await this.queue.work(this.processor, {
      ...(opts.pollingIntervalSeconds !== undefined ? { pollingIntervalSeconds: opts.pollingIntervalSeconds } : {}),
      ...(opts.sweepIntervalMs !== undefined ? { sweepIntervalMs: opts.sweepIntervalMs } : {}),
    });
    const resume = setInterval(() => {
      resumeExpiredPauses(this.db).catch((error: unknown) => this.logger.error({ err: String(error) }, 'auto-resume failed'));
    }, 15_000);
    resume.unref();
    this.timers.push(resume);
  }

  async listen(port = this.config.PORT, host = this.config.HOST): Promise<string> {
    if (!this.app) throw new Error('this runtime has no HTTP server');
    const app = this.app;
    await new Promise<void>((resolve, reject) => {
      this.server = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve()));
    });
    const address = this.server!.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${actualPort}`;
  }

  /** Waits until every acknowledged delivery has been processed (tests, demo, replay). */
  async waitForInboxDrained(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.processor.pendingCount()) === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`inbox not drained after ${timeoutMs} ms (${await this.processor.pendingCount()} pending)`);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    if (this.server) {
      const server = this.server;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
    }
    await this.queue.stop();
    await this.boss.stop({ graceful: true, timeout: 5000 }).catch(() => undefined);
    await this.handle.close();
  }
}

function adminTokenFromFile(dataDir: string, logger: Logger): string {
  const path = join(dataDir, 'admin-token');
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(path, randomBytes(24).toString('base64url'), { mode: 0o600 });
    logger.info({ path }, 'COEX_API_TOKEN not set: generated an admin API token in this file');
  }
  return readFileSync(path, 'utf8').trim();
}
