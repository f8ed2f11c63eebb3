import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { PgBoss } from 'pg-boss';
import express from 'express';
import type { Config } from './config.js';
import { acquireServerLock, migrateToLatest, openDatabase, ping, type DatabaseHandle } from './db/index.js';
import type { Database } from './db/schema.js';
import { TokenCipher } from './crypto.js';
import { checkEncryptionKey } from './key-check.js';
import { createLogger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { InboxWriter } from './webhooks/inbox-writer.js';
import { webhookRouter } from './webhooks/routes.js';
import { InboxProcessor } from './worker/inbox-processor.js';
import { InboxWorker, createBoss } from './worker/queue.js';
import { apiRouter, type ApiOptions } from './api/routes.js';
import { inboxRouter } from './api/inbox-routes.js';
import { adminRouter } from './api/admin-routes.js';
import { consoleRouter } from './console/routes.js';
import { onboardingPageRouter } from './onboarding-page/routes.js';
import { oauthNotConfiguredRouter } from './http/not-configured.js';
import { configurationGaps, NO_SEND_TOKEN_REASON, numbersWithoutSendToken } from './config-report.js';
import { createHttpApp } from './http/app.js';
import { resumeExpiredPauses } from './store/bot.js';
import { GraphClient } from './outbound/graph-client.js';
import { TemplateCatalog } from './outbound/templates.js';
import { DbPacer } from './outbound/pacer.js';
import { SendService } from './outbound/send-service.js';
import { DirectoryBlobStore, type BlobStore } from './outbound/media.js';
import { blobStoreFromEnv } from './outbound/s3-blob-store.js';
import { Jobs, QUEUES } from './jobs.js';
import { AgentOrchestrator } from './agent/orchestrator.js';
import { OfflineFaqResponder } from './agent/offline-responder.js';
import { GeminiAgentProvider } from './agent/gemini-provider.js';
import type { AgentProvider, AgentTools } from './agent/provider.js';
import { agentToolsFor } from './agent/tools.js';
import { GeminiTranscriber } from './transcription/gemini-transcriber.js';
import type { Transcriber } from './transcription/transcriber.js';
import { downloadMessageMedia } from './pipeline/media.js';
import { transcribeVoiceNote } from './pipeline/transcribe.js';
import { CrmOutbox } from './crm/outbox.js';
import { oauthRouter } from './crm/oauth-routes.js';
import { hubSpotInboxRouter } from './crm/hubspot-inbox-routes.js';
import { persistentConnectorFactory } from './crm/token-store.js';
import { onboardNumber, requestSync } from './outbound/onboarding.js';
import { extensionRouter } from './api/extension-routes.js';
import { CampaignRunner, createCampaignSender, optOutHook, type OptOutListener } from './campaigns/index.js';
import { campaignRouter } from './api/campaign-routes.js';
import { connectionSegmentSource } from './campaigns/segment-factory.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

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

/** One CoEx process: database, job queue, inbox worker and HTTP server, wired together. */
export class Runtime {
  server: Server | undefined;
  private timers: NodeJS.Timeout[] = [];
  /** How often every active CRM connection's outbox is looked at (transcripts, bot states, retries). */
  crmSweepMs = 10_000;
  private campaignsStarted = false;

  private constructor(
    readonly config: Config,
    readonly logger: Logger,
    readonly handle: DatabaseHandle,
    readonly boss: PgBoss,
    readonly inboxWorker: InboxWorker,
    readonly processor: InboxProcessor,
    readonly metrics: Metrics,
    readonly cipher: TokenCipher,
    readonly app: express.Express | undefined,
    readonly graph: GraphClient,
    readonly sender: SendService,
    readonly jobs: Jobs,
    readonly blobs: BlobStore,
    readonly agent: AgentOrchestrator,
    private readonly transcriberFor: (tenantId: string) => { transcriber: Transcriber } | { transcriber: null; reason: string },
    readonly crm: CrmOutbox,
    readonly campaigns: CampaignRunner,
    private readonly serverLock: { release(): Promise<void> } | undefined,
  ) {}

  get db(): Kysely<Database> {
    return this.handle.db;
  }

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
      const metrics = createMetrics();
      const boss = createBoss(handle, logger);
      await boss.start();
      const processor = new InboxProcessor(handle.db, logger, config.COEX_DEFAULT_TENANT, {
        processed: (outcome, count = 1) => metrics.inboxProcessed.inc({ outcome }, count),
        unknown: (n) => metrics.unknownEvents.inc(n),
        setAside: (kind) => metrics.inboxSetAside.inc({ kind }),
      });
      const inboxWorker = new InboxWorker(processor, handle.connectionString, logger, {
        concurrency: opts.inboxConcurrency ?? config.INBOX_CONCURRENCY,
        ...(opts.sweepIntervalMs !== undefined ? { pollIntervalMs: opts.sweepIntervalMs } : {}),
      });
      const cipher = config.COEX_ENCRYPTION_KEY
        ? TokenCipher.fromKey(config.COEX_ENCRYPTION_KEY)
        : ephemeral
          ? TokenCipher.fromKey(randomBytes(32).toString('base64'))
          : TokenCipher.fromKeyFile(join(config.DATA_DIR, 'encryption.key'));
      // A throwaway key (an ephemeral test runtime) is never recorded: the next runtime would not share it.
      if (config.COEX_ENCRYPTION_KEY || !ephemeral) await checkEncryptionKey(handle.db, cipher);
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

      const jobs = new Jobs(boss, logger);
      await jobs.init();
      /** Queues a run of one connection's CRM outbox inside `trx` (one pending run per connection). */
      const wakeCrm = (connectionId: string, trx: Kysely<Database>) => jobs.enqueue(QUEUES.crm, { connectionId }, { trx, singletonKey: connectionId });
      sender.setRetryScheduler((messageId, delayMs) => jobs.enqueue(QUEUES.sendRetry, { messageId }, { startAfterSeconds: Math.max(1, Math.ceil(delayMs / 1000)) }));
      const blobs: BlobStore =
        config.MEDIA_STORE === 's3'
          ? blobStoreFromEnv(config, config.DATA_DIR)
          : new DirectoryBlobStore(ephemeral ? mkdtempSync(join(tmpdir(), 'coex-media-')) : join(config.DATA_DIR, 'media'));
      const providers = new Map<string, AgentProvider>();
      const offline = new OfflineFaqResponder();
      const providerFor = (tenantId: string): AgentProvider => {
        if (!config.GEMINI_API_KEY) return offline;
        let p = providers.get(tenantId);
        if (!p) {
          p = new GeminiAgentProvider({ apiKey: config.GEMINI_API_KEY, model: config.GEMINI_MODEL, ...(config.GEMINI_BASE_URL ? { baseUrl: config.GEMINI_BASE_URL } : {}) });
          providers.set(tenantId, p);
        }
        return p;
      };
      const toolsFor = (tenantId: string, threadId: string): AgentTools => agentToolsFor(handle.db, cipher, tenantId, threadId);
      const agent = new AgentOrchestrator({
        db: handle.db,
        sender,
        logger,
        providerFor,
        toolsFor,
        enqueueTurn: (turnId, o) => jobs.enqueue(QUEUES.agent, { turnId }, { ...(o.trx ? { trx: o.trx } : {}), ...(o.startAfterSeconds ? { startAfterSeconds: o.startAfterSeconds } : {}) }),
        settings: { transcriptTimeoutSeconds: config.TRANSCRIPT_TIMEOUT_SECONDS },
      });
      let localTranscriber: Transcriber | null = null;
      if (config.WHISPER_MODEL_PATH) {
        const { LocalWhisperTranscriber } = await import('./transcription/local-whisper.js');
        localTranscriber = new LocalWhisperTranscriber({ modelPath: config.WHISPER_MODEL_PATH, language: 'ar' });
      }
      const geminiTranscriber = config.GEMINI_API_KEY
        ? new GeminiTranscriber({ apiKey: config.GEMINI_API_KEY, model: config.GEMINI_MODEL, ...(config.GEMINI_BASE_URL ? { baseUrl: config.GEMINI_BASE_URL } : {}) })
        : null;
      const transcriberFor = (): { transcriber: Transcriber } | { transcriber: null; reason: string } => {
        const t = localTranscriber ?? geminiTranscriber;
        return t ? { transcriber: t } : { transcriber: null, reason: 'no transcription provider configured: set GEMINI_API_KEY, or WHISPER_MODEL_PATH to a ggml Whisper model on disk' };
      };
      // Runs inside the delivery's transaction: reads through `trx` (what the batch wrote is visible there).
      const canSend = async (trx: Kysely<Database>, phoneNumberId: string): Promise<boolean> => {
        if (config.WHATSAPP_ACCESS_TOKEN) return true;
        const row = await trx.selectFrom('whatsapp_numbers').select('access_token_enc').where('phone_number_id', '=', phoneNumberId).executeTakeFirst();
        return Boolean(row?.access_token_enc);
      };
      // Opt-out keywords are recorded in the delivery's transaction, before the agent looks at it.
      // …and written to the tenant's CRMs: the outbox's catch-up finds the opt_out_events row; the
      // job is enqueued in the same transaction, so the CRM write cannot be lost to a crash.
      const onOptOut: OptOutListener = async (trx, e) => {
        logger.info({ action: e.action, tenantId: e.tenantId, phoneNumberId: e.phoneNumberId, source: e.source }, 'marketing consent changed');
        const connections = await trx.selectFrom('crm_connections').select('id').where('tenant_id', '=', e.tenantId).where('status', '=', 'active').execute();
        for (const c of connections) await wakeCrm(c.id, trx);
      };
      processor.onApplied(optOutHook({ onOptOut }));
      // WhatsApp's own consent signals (user_preferences) take the same path to the CRMs; account
      // bans, reinstatements and policy notices are logged where operators look.
      processor.onApplied(async (outcome, trx) => {
        for (const change of outcome.consentChanges) await onOptOut(trx, change);
        for (const n of outcome.accountNotices) {
          const log = { phoneNumberId: n.phoneNumberId, wabaId: n.wabaId, event: n.event, effect: n.effect, detail: n.detail, warning: n.warning };
          if (n.effect === 'resumed_sending') logger.info(log, 'WhatsApp account state changed');
          else logger.warn(log, 'WhatsApp account state changed');
        }
      });
      // New echo creation types show up here before anyone reads a changelog (bounded label length).
      processor.onApplied((outcome) => {
        for (const value of outcome.unknownCreationTypes) metrics.unknownEchoCreationTypes.inc({ value: value.slice(0, 40) });
      });
      const campaigns = new CampaignRunner({ db: handle.db, sender: createCampaignSender(handle.db, graph, logger), logger, concurrency: 4, onOptOut });
      processor.onApplied(async (outcome, trx) => {
        const recentHistory = Date.now() - 14 * 86_400_000;
        for (const m of outcome.live) if (m.mediaId) await jobs.enqueue(QUEUES.media, { messageId: m.messageId }, { trx });
        for (const m of outcome.historyMedia) {
          const row = await trx.selectFrom('messages').select(['provider_timestamp', 'media_state']).where('id', '=', m.messageId).executeTakeFirst();
          if (row && row.media_state === 'pending' && row.provider_timestamp.getTime() >= recentHistory) await jobs.enqueue(QUEUES.media, { messageId: m.messageId }, { trx });
        }
        // CRM archive: wake the outbox of every connection of the tenants this delivery touched.
        const tenants = new Set([...outcome.live, ...outcome.historyMedia].map((m) => m.tenantId));
        if (outcome.messagesInserted > 0 || outcome.pausedThreads.length > 0 || outcome.statusesRecorded > 0) {
          const rows = await trx.selectFrom('crm_connections').select(['id', 'tenant_id']).where('status', '=', 'active').execute();
          for (const c of rows) if (tenants.size === 0 || tenants.has(c.tenant_id)) await wakeCrm(c.id, trx);
        }
        if (config.COEX_AGENT === 'on') {
          const sendable: typeof outcome.live = [];
          const unsendable: typeof outcome.live = [];
          const numberCanSend = new Map<string, boolean>();
          for (const m of outcome.live) {
            if (!numberCanSend.has(m.phoneNumberId)) numberCanSend.set(m.phoneNumberId, await canSend(trx, m.phoneNumberId));
            (numberCanSend.get(m.phoneNumberId) ? sendable : unsendable).push(m);
          }
          await agent.onLiveMessages(sendable, trx);
          await agent.recordNotAnswered(unsendable, NO_SEND_TOKEN_REASON, trx);
        }
      });

      let app: express.Express | undefined;
      if (opts.http !== false) {
        const adminToken = config.COEX_API_TOKEN ?? (ephemeral ? undefined : adminTokenFromFile(config.DATA_DIR, logger));
        const inbox = new InboxWriter(handle.db);
        const routers: express.Router[] = [];
        if (config.WHATSAPP_APP_SECRET) {
          routers.push(
            webhookRouter({
              appSecret: config.WHATSAPP_APP_SECRET,
              verifyToken: config.WHATSAPP_VERIFY_TOKEN,
              maxBodyBytes: config.WEBHOOK_MAX_BODY_BYTES,
              inbox,
              // Workers in other processes hear the NOTIFY sent at commit; this one is told directly.
              onAccepted: async () => inboxWorker.kick(),
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
        const onboardingDeps = { db: handle.db, graph, cipher, logger };
        const onboarding =
          config.META_APP_ID && config.WHATSAPP_APP_SECRET
            ? {
                onboard: (a: { tenantId: string; code: string; wabaId: string; phoneNumberId?: string | undefined }) =>
                  onboardNumber(onboardingDeps, {
                    tenantId: a.tenantId,
                    code: a.code,
                    wabaId: a.wabaId,
                    ...(a.phoneNumberId ? { phoneNumberId: a.phoneNumberId } : {}),
                    appId: config.META_APP_ID!,
                    appSecret: config.WHATSAPP_APP_SECRET!,
                    ...webhookSubscription(config),
                  }),
                appId: config.META_APP_ID,
                configId: config.META_CONFIG_ID,
                graphVersion: config.GRAPH_API_VERSION,
                requestSync: (a: { tenantId: string; phoneNumberId: string; type: 'history' | 'contacts' }) => requestSync(onboardingDeps, a.tenantId, a.phoneNumberId, a.type === 'history' ? 'history' : 'smb_app_state_sync'),
              }
            : undefined;
        // The extension API reads raw bodies for its signatures: mount it before any JSON parser.
        routers.unshift(
          extensionRouter({
            db: handle.db,
            sender,
            logger,
            cipher,
            ...(config.HUBSPOT_CLIENT_SECRET ? { hubspotClientSecret: config.HUBSPOT_CLIENT_SECRET } : {}),
            ...(config.PUBLIC_BASE_URL ? { publicBaseUrl: config.PUBLIC_BASE_URL } : {}),
            templates: new TemplateCatalog({ graph }),
          }),
        );
        // HubSpot inbox replies (custom channel webhook, signature v3 over the raw body): before any JSON parser too.
        routers.unshift(
          hubSpotInboxRouter({
            db: handle.db,
            cipher,
            logger,
            ...(config.HUBSPOT_CLIENT_SECRET ? { clientSecret: config.HUBSPOT_CLIENT_SECRET } : {}),
            ...(config.PUBLIC_BASE_URL ? { publicBaseUrl: config.PUBLIC_BASE_URL } : {}),
            wake: wakeCrm,
          }),
        );
        // Campaign routes take CSV bodies up to 8 MB: before the API's 256 KB JSON parser.
        routers.push(
          campaignRouter({
            db: handle.db,
            adminToken,
            // Segments through the tenant's CRM connection: HubSpot, WooCommerce, Odoo or Zoho.
            segmentSource: connectionSegmentSource(handle.db, cipher),
          }),
        );
        routers.push(inboxRouter({ db: handle.db, adminToken }));
        routers.push(adminRouter({ db: handle.db, adminToken, wakeCrm: (id) => jobs.enqueue(QUEUES.crm, { connectionId: id }, { singletonKey: id }) }));
        routers.push(apiRouter({ db: handle.db, adminToken, sendReply, cipher, ...(onboarding ? { onboarding } : {}) }));
        if (config.PUBLIC_BASE_URL && ((config.HUBSPOT_CLIENT_ID && config.HUBSPOT_CLIENT_SECRET) || (config.ZOHO_CLIENT_ID && config.ZOHO_CLIENT_SECRET))) {
          routers.push(
            oauthRouter({
              db: handle.db,
              cipher,
              logger,
              publicBaseUrl: config.PUBLIC_BASE_URL,
              ...(adminToken ? { adminToken } : {}),
              ...(config.HUBSPOT_CLIENT_ID && config.HUBSPOT_CLIENT_SECRET ? { hubspot: { clientId: config.HUBSPOT_CLIENT_ID, clientSecret: config.HUBSPOT_CLIENT_SECRET, scopes: config.HUBSPOT_OAUTH_SCOPES.split(/\s+/).filter(Boolean), optionalScopes: config.HUBSPOT_OAUTH_OPTIONAL_SCOPES.split(/\s+/).filter(Boolean) } } : {}),
              ...(config.ZOHO_CLIENT_ID && config.ZOHO_CLIENT_SECRET ? { zoho: { clientId: config.ZOHO_CLIENT_ID, clientSecret: config.ZOHO_CLIENT_SECRET } } : {}),
            }),
          );
        }
        const gaps = configurationGaps(config, { adminToken: config.COEX_API_TOKEN ? 'configured' : adminToken ? 'generated' : 'none' });
        for (const g of gaps) logger[g.level]({ missing: g.missing, disables: g.disables }, `not configured: ${g.missing} — disables ${g.disables}`);
        routers.push(onboardingPageRouter({ config }));
        routers.push(oauthNotConfiguredRouter(config));
        routers.push(consoleRouter({ db: handle.db, config, adminToken, gaps, wakeCrm: (id) => jobs.enqueue(QUEUES.crm, { connectionId: id }, { singletonKey: id }) }));
        const readiness = async () => ({ not_configured: gaps, numbers_without_send_token: await numbersWithoutSendToken(handle.db, config) });
        app = createHttpApp({ logger, metrics, ready: () => ping(handle.db), routers, readiness, ...(config.COEX_METRICS_TOKEN ? { metricsToken: config.COEX_METRICS_TOKEN } : {}) });
      }
      const crm = new CrmOutbox({ db: handle.db, cipher, logger, connectorFor: persistentConnectorFactory({ db: handle.db, cipher, logger }), inboxSender: sender });
      const runtime = new Runtime(config, logger, handle, boss, inboxWorker, processor, metrics, cipher, app, graph, sender, jobs, blobs, agent, transcriberFor, crm, campaigns, serverLock);
      if (opts.worker ?? config.COEX_WORKER === 'inline') await runtime.startWorker(opts);
      return runtime;
    } catch (error) {
      await serverLock?.release().catch(() => undefined);
      await handle.close();
      throw error;
    }
  }

  async startWorker(opts: Pick<RuntimeOptions, 'pollingIntervalSeconds' | 'sweepIntervalMs' | 'campaigns'> = {}): Promise<void> {
    await this.inboxWorker.start();
    await this.jobs.work<{ messageId: string }>(QUEUES.media, async (data, ctx) => {
      await downloadMessageMedia(
        {
          db: this.db,
          graph: this.graph,
          blobs: this.blobs,
          logger: this.logger,
          onVoiceStored: (messageId) => this.jobs.enqueue(QUEUES.transcribe, { messageId }),
          onVoiceUnavailable: (messageId) => this.agent.onTranscriptSettled(messageId),
        },
        data.messageId,
        ctx.lastAttempt,
      );
    });
    await this.jobs.work<{ messageId: string }>(QUEUES.transcribe, async (data, ctx) => {
      await transcribeVoiceNote(
        {
          db: this.db,
          blobs: this.blobs,
          logger: this.logger,
          transcriberFor: this.transcriberFor,
          darijaScriptFor: () => this.config.TRANSCRIPT_DARIJA_SCRIPT,
          onSettled: async (messageId) => {
            await this.agent.onTranscriptSettled(messageId);
            await this.wakeCrm();
          },
        },
        data.messageId,
        ctx.lastAttempt,
      );
    }, 1);
    await this.jobs.work<{ turnId: string }>(QUEUES.agent, async (data) => {
      const result = await this.agent.runTurn(data.turnId);
      this.logger.debug({ turnId: data.turnId, result }, 'agent turn');
    });
    await this.jobs.work<{ messageId: string }>(QUEUES.sendRetry, async (data) => {
      await this.sender.resend(data.messageId);
    }, 1);
    await this.jobs.work<{ connectionId: string }>(QUEUES.crm, async (data) => {
      const r = await this.crm.drain(data.connectionId);
      if (r.nextDueSeconds !== null) await this.jobs.enqueue(QUEUES.crm, { connectionId: data.connectionId }, { singletonKey: data.connectionId, startAfterSeconds: Math.max(1, Math.ceil(r.nextDueSeconds)) });
    }, 1);
    const crmSweep = setInterval(() => {
      this.wakeCrm().catch((error: unknown) => this.logger.error({ err: String(error) }, 'CRM sweep failed'));
    }, this.crmSweepMs);
    crmSweep.unref();
    this.timers.push(crmSweep);
    if (opts.campaigns !== false) {
      this.campaigns.start();
      this.campaignsStarted = true;
    }
    const resume = setInterval(() => {
      resumeExpiredPauses(this.db).catch((error: unknown) => this.logger.error({ err: String(error) }, 'auto-resume failed'));
    }, 15_000);
    resume.unref();
    this.timers.push(resume);
  }

  /** Asks every active CRM connection's outbox to look for new work now. */
  async wakeCrm(): Promise<void> {
    const rows = await this.db.selectFrom('crm_connections').select('id').where('status', '=', 'active').execute();
    for (const c of rows) await this.jobs.enqueue(QUEUES.crm, { connectionId: c.id }, { singletonKey: c.id });
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
    if (this.campaignsStarted) await this.campaigns.stop();
    await this.inboxWorker.stop();
    await this.boss.stop({ graceful: true, timeout: 5000 }).catch(() => undefined);
    await this.serverLock?.release().catch(() => undefined);
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

/** Where onboarding may point the app's WhatsApp webhook subscription (fields added when missing). */
export function webhookSubscription(config: Config): { webhookCallbackUrl?: string; webhookVerifyToken?: string } {
  return {
    ...(config.PUBLIC_BASE_URL ? { webhookCallbackUrl: new URL('/webhooks/whatsapp', config.PUBLIC_BASE_URL).toString() } : {}),
    ...(config.WHATSAPP_VERIFY_TOKEN ? { webhookVerifyToken: config.WHATSAPP_VERIFY_TOKEN } : {}),
  };
}
