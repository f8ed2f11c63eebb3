import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type express from 'express';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { PgBoss } from 'pg-boss';
import { adminCapability } from './admin/capability.js';
import { agentCapability, type Agent } from './agent/capability.js';
import type { ApiOptions } from './api/routes.js';
import { extensionCapability } from './api/extension-capability.js';
import { campaignsCapability, type Campaigns } from './campaigns/capability.js';
import { hooksInOrder, routersInOrder, type Capability, type CapabilityContext, type DirectHandler, type WorkerScope } from './capability.js';
import type { Config } from './config.js';
import { configurationGaps, numbersWithoutSendToken } from './config-report.js';
import { crmCapability, type Crm } from './crm/capability.js';
import { TokenCipher } from './crypto.js';
import { acquireServerLock, migrateToLatest, openDatabase, ping, type DatabaseHandle } from './db/index.js';
import type { Database } from './db/schema.js';
import { createHttpApp } from './http/app.js';
import { Jobs } from './jobs.js';
import { checkEncryptionKey } from './key-check.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';
import { outboundCapability, outboundServices } from './outbound/capability.js';
import { transcriptionCapability, type Transcription } from './transcription/capability.js';
import { ingestionCapability, type Ingestion } from './webhooks/capability.js';
import { createBoss } from './worker/queue.js';

export interface RuntimeOptions {
  config: Config;
  logger?: Logger;
  /** Run the inbox worker in this process (default: config.COEX_WORKER === 'inline'). */
  worker?: boolean;
  /** Serve HTTP (false for `coex worker`). */
  http?: boolean;
  /**
   * A throwaway runtime (tests): a random encryption key, media in a temp folder, no admin-token file.
   * Its database is the one config.DATABASE_URL names.
   */
  ephemeral?: boolean;
  /**
   * Hold the embedded database as its one server (`coex serve` / `coex worker`): a second server on
   * the same DATA_DIR is refused. CLI commands leave it false and share the running server's database.
   */
  exclusive?: boolean;
  sendReply?: ApiOptions['sendReply'];
  /** Run the campaign runner with the worker (default true). */
  campaigns?: boolean;
  /** Worker tuning for tests. */
  pollingIntervalSeconds?: number;
  /** How often the inbox worker looks for due deliveries without being woken. */
  sweepIntervalMs?: number;
  /** Numbers the inbox worker applies at once. */
  inboxConcurrency?: number;
}

/** The capabilities the Runtime's getters reach into. */
interface Named {
  ingestion: Ingestion;
  transcription: Transcription;
  crm: Crm;
  campaigns: Campaigns;
  agent: Agent;
}

/**
 * One CoEx process: the shared services (database, job queue, Graph client, send path) and the
 * capabilities composed over them. Each capability declares its routes, queues, applied-batch hooks,
 * workers and timers in its own folder (`<folder>/capability.ts`, see `capability.ts`); this root
 * builds them, passes what one needs from another, and starts and stops them in order.
 */
export class Runtime {
  server: Server | undefined;
  private timers: NodeJS.Timeout[] = [];

  private constructor(
    private readonly ctx: CapabilityContext,
    readonly boss: PgBoss,
    private readonly named: Named,
    /** In composition order: start-up in this order, shutdown in reverse. */
    private readonly capabilities: readonly Capability[],
    readonly app: express.Express | undefined,
    /** Tried on each request before the app (the webhook POST). */
    private readonly direct: readonly DirectHandler[],
    private readonly serverLock: { release(): Promise<void> } | undefined,
  ) {}

  get config() { return this.ctx.config; }
  get logger() { return this.ctx.logger; }
  get handle() { return this.ctx.handle; }
  get db(): Kysely<Database> { return this.ctx.db; }
  get metrics() { return this.ctx.metrics; }
  get cipher() { return this.ctx.cipher; }
  get jobs() { return this.ctx.jobs; }
  get graph() { return this.ctx.graph; }
  get sender() { return this.ctx.sender; }
  get processor() { return this.named.ingestion.processor; }
  get inboxWorker() { return this.named.ingestion.worker; }
  get blobs() { return this.named.transcription.blobs; }
  get agent() { return this.named.agent.orchestrator; }
  get crm() { return this.named.crm.outbox; }
  get campaigns() { return this.named.campaigns.runner; }

  static async create(opts: RuntimeOptions): Promise<Runtime> {
    const { config } = opts;
    const logger = opts.logger ?? createLogger(config.LOG_LEVEL, config.LOG_FORMAT);
    const ephemeral = opts.ephemeral === true;
    const handle = await openDatabase({
      databaseUrl: config.DATABASE_URL,
      embeddedDir: join(config.DATA_DIR, 'postgres'),
      poolSize: config.DATABASE_POOL_SIZE,
      log: (message) => logger.info(message),
    });
    let serverLock: { release(): Promise<void> } | undefined;
    try {
      if (handle.kind === 'embedded' && opts.exclusive) serverLock = await acquireServerLock(handle);
      await migrateToLatest(handle.db);
      const { ctx, boss } = await sharedServices(config, logger, handle, ephemeral);

      // What one capability needs from another is passed here, where it can be seen.
      const ingestion = ingestionCapability(ctx, { concurrency: opts.inboxConcurrency, pollIntervalMs: opts.sweepIntervalMs });
      const outbound = outboundCapability(ctx);
      const crm = crmCapability(ctx);
      const agent = agentCapability(ctx);
      const transcription = await transcriptionCapability(ctx, { onTranscriptSettled: (id) => agent.orchestrator.onTranscriptSettled(id), wakeCrm: () => crm.wakeAll() });
      const campaigns = campaignsCapability(ctx, { run: opts.campaigns !== false, wakeCrm: (tenantId, trx) => crm.wakeTenant(tenantId, trx) });
      // In this order: applied-batch hooks within a stage (media, then CRM, then agent follow-ups),
      // routers within a tier, start-up (shutdown in reverse). A capability nobody else needs is one line here.
      const capabilities: Capability[] = [
        ingestion,
        outbound,
        transcription,
        crm,
        campaigns,
        agent,
        extensionCapability(ctx, { templates: outbound.templates }),
        adminCapability(ctx, { onboarding: outbound.onboarding, wakeCrm: (id) => crm.wake(id), sendReply: opts.sendReply }),
      ];

      await ctx.jobs.init(capabilities.flatMap((c) => c.queues ?? []));
      for (const hook of hooksInOrder(capabilities)) ingestion.processor.onApplied(hook);
      const http = opts.http === false ? undefined : httpApp(ctx, capabilities);
      const runtime = new Runtime(ctx, boss, { ingestion, transcription, crm, campaigns, agent }, capabilities, http?.app, http?.direct ?? [], serverLock);
      if (opts.worker ?? config.COEX_WORKER === 'inline') await runtime.startWorker();
      return runtime;
    } catch (error) {
      await serverLock?.release().catch(() => undefined);
      await handle.close();
      throw error;
    }
  }

  /** Starts every capability's job handlers and timers (the inbox worker first). */
  async startWorker(): Promise<void> {
    const scope: WorkerScope = {
      every: (ms, what, task) => {
        const timer = setInterval(() => {
          task().catch((error: unknown) => this.logger.error({ err: String(error) }, `${what} failed`));
        }, ms);
        timer.unref();
        this.timers.push(timer);
      },
    };
    for (const c of this.capabilities) await c.startWorker?.(scope);
  }

  async listen(port = this.config.PORT, host = this.config.HOST): Promise<string> {
    if (!this.app) throw new Error('this runtime has no HTTP server');
    const app = this.app;
    const direct = this.direct;
    const server = createServer((req, res) => {
      for (const handle of direct) if (handle(req, res)) return;
      app(req, res);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
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

  /**
   * Timers first, then the HTTP server (no new requests), then the capabilities in reverse order
   * (the campaign runner before the inbox worker), then the job queue; the server lock is released
   * and the database closed last.
   */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    if (this.server) {
      const server = this.server;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
    }
    for (const c of [...this.capabilities].reverse()) await c.stop?.();
    await this.boss.stop({ graceful: true, timeout: 5000 }).catch(() => undefined);
    await this.serverLock?.release().catch(() => undefined);
    await this.handle.close();
  }
}

/** The services every capability shares, built once: metrics, job queue, encryption, Graph client, send path. */
async function sharedServices(config: Config, logger: Logger, handle: DatabaseHandle, ephemeral: boolean): Promise<{ ctx: CapabilityContext; boss: PgBoss }> {
  const db = handle.db;
  const metrics = createMetrics();
  const boss = createBoss(handle, logger);
  await boss.start();
  const cipher = config.COEX_ENCRYPTION_KEY
    ? TokenCipher.fromKey(config.COEX_ENCRYPTION_KEY)
    : ephemeral
      ? TokenCipher.fromKey(randomBytes(32).toString('base64'))
      : TokenCipher.fromKeyFile(join(config.DATA_DIR, 'encryption.key'));
  // A throwaway key (an ephemeral test runtime) is never recorded: the next runtime would not share it.
  if (config.COEX_ENCRYPTION_KEY || !ephemeral) await checkEncryptionKey(db, cipher);
  const { graph, sender } = outboundServices(config, db, cipher, logger);
  const jobs = new Jobs(boss, logger);
  return { ctx: { config, logger, handle, db, metrics, cipher, jobs, graph, sender, ephemeral }, boss };
}

/**
 * The HTTP app: every capability's routers in their tiers (`routersInOrder`), /healthz, /readyz and
 * /metrics. What is not configured is logged once here and listed by /readyz and the console.
 */
function httpApp(ctx: CapabilityContext, capabilities: readonly Capability[]): HttpApp {
  const { config, db, logger, metrics } = ctx;
  const adminToken = config.COEX_API_TOKEN ?? (ctx.ephemeral ? undefined : adminTokenFromFile(config.DATA_DIR, logger));
  const gaps = configurationGaps(config, { adminToken: config.COEX_API_TOKEN ? 'configured' : adminToken ? 'generated' : 'none' });
  const tiers = capabilities.map((c) => c.routes?.({ adminToken, gaps }) ?? {});
  const routers = routersInOrder(tiers);
  // After the routes: a capability's own warning (no WHATSAPP_APP_SECRET) comes before the list of gaps.
  for (const g of gaps) logger[g.level]({ missing: g.missing, disables: g.disables }, `not configured: ${g.missing} — disables ${g.disables}`);
  const readiness = async () => ({ not_configured: gaps, numbers_without_send_token: await numbersWithoutSendToken(db, config) });
  const app = createHttpApp({ logger, metrics, ready: () => ping(db), routers, readiness, ...(config.COEX_METRICS_TOKEN ? { metricsToken: config.COEX_METRICS_TOKEN } : {}) });
  return { app, direct: tiers.flatMap((t) => t.direct ?? []) };
}

/** The Express app, and the handlers the server tries on a request before it (`CapabilityRoutes.direct`). */
interface HttpApp {
  app: express.Express;
  direct: DirectHandler[];
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
