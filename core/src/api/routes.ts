import express, { type Request, type Response, type Router } from 'express';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/schema.js';
import { bearerAuth } from './auth.js';
import { getAccountState, getSyncState, getThread } from '../store/queries.js';
import { InvalidCursorError, pageMessages, pageThreads } from '../store/paging.js';
import { recentAgentTurns } from '../store/agent-turns.js';
import { botHistory, setBotState } from '../store/bot.js';
import type { ThreadMessage } from '../outbound/send-service.js';
import { NumberNotConnectedError, RecipientUnknownError, SendFailedError } from '../outbound/send-service.js';
import { WindowClosedError } from '../outbound/window.js';
import { InvalidMessageError } from '../outbound/graph-client.js';
import { crmCredentialsSchema } from '../crm/registry.js';
import { connectCrm, CrmConnectError, listCrmConnections } from '../crm/connections.js';
import { issueExtensionKeyHandler } from './extension-routes.js';
import { replyBodySchema, toThreadMessage } from './reply.js';
import { businessProfileSchema } from '../agent/offline-responder.js';
import { getTenantProfile, setTenantProfile } from '../store/tenants.js';
import { liftTemplatesHold } from '../store/account-hold.js';
import type { TokenCipher } from '../crypto.js';
import { EMBEDDED_SIGNUP, embeddedSignupExtras, interpretSessionEvent, REQUIRED_WEBHOOK_FIELDS, sessionEventSchema } from '../outbound/embedded-signup.js';

export interface ApiOptions {
  db: Kysely<Database>;
  cipher?: TokenCipher;
  /** Embedded Signup completion and sync requests (absent when META_APP_ID / WHATSAPP_APP_SECRET are not set). */
  onboarding?: {
    onboard: (args: { tenantId: string; code: string; wabaId: string; phoneNumberId?: string | undefined }) => Promise<unknown>;
    requestSync: (args: { tenantId: string; phoneNumberId: string; type: 'history' | 'contacts' }) => Promise<unknown>;
    /** What an Embedded Signup page needs (GET /api/v1/onboarding/embedded-signup). */
    appId?: string;
    /** Facebook Login for Business configuration id (its products select Embedded Signup v4). */
    configId?: string | undefined;
    graphVersion?: string;
  };
  adminToken: string | undefined;
  /** Sends an agent reply typed in a CRM or the API; absent until the outbound client is configured. */
  sendReply?: (args: { threadId: string; tenantId: string; message: ThreadMessage; actor: string | null; clientRef?: string | undefined }) => Promise<{ id: string; wamid: string; status: string; duplicate: boolean }>;
}

const threadsQuery = z.object({
  phone_number_id: z.string().regex(/^\d+$/).optional(),
  wa_id: z.string().regex(/^\+?[\d\s-]+$/).optional(),
  /** A business-scoped user id (BSUID), for customers known without a phone. */
  user_id: z.string().regex(/^[A-Za-z]{2}\.[A-Za-z0-9.]{1,140}$/).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(500).optional(),
});
const messagesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
  cursor: z.string().max(500).optional(),
});
const botBody = z.object({ action: z.enum(['pause', 'resume', 'off']), actor: z.string().max(200).optional() });
const replyBody = replyBodySchema;

function badRequest(res: Response, error: z.ZodError): void {
  res.status(400).json({ error: 'invalid request', issues: error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
}

/** The admin and extension API (see ARCHITECTURE.md, "Public HTTP surface"). */
export function apiRouter(opts: ApiOptions): Router {
  const router = express.Router();
  router.use('/api/v1', express.json({ limit: '256kb' }), bearerAuth(opts.db, opts.adminToken));

  router.get('/api/v1/threads', async (req: Request, res: Response) => {
    const q = threadsQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, q.error);
    let page;
    try {
      page = await pageThreads(opts.db, req.tenantScope ?? null, { phoneNumberId: q.data.phone_number_id, waId: q.data.wa_id, userId: q.data.user_id, limit: q.data.limit, cursor: q.data.cursor });
    } catch (error) {
      if (error instanceof InvalidCursorError) return void res.status(400).json({ error: error.message });
      throw error;
    }
    const threads = page.threads;
    res.json({
      next_cursor: page.next_cursor,
      threads: threads.map((t) => ({
        id: t.id,
        phone_number_id: t.phone_number_id,
        wa_id: t.wa_id,
        user_id: t.user_id,
        contact_name: t.contact_name,
        bot: { state: t.bot.state, paused_until: t.bot.paused_until },
        control: t.control,
        last_message_at: t.last_message_at,
      })),
    });
  });

  router.get('/api/v1/threads/:id', async (req: Request, res: Response) => {
    const thread = await getThread(opts.db, req.tenantScope ?? null, String(req.params.id));
    if (!thread) return void res.status(404).json({ error: 'thread not found' });
    // agent_turns: whether the agent answered each customer message, and why not (skipped, handoff…).
    res.json({ thread, bot_history: await botHistory(opts.db, thread.id), agent_turns: await recentAgentTurns(opts.db, thread.id) });
  });

  router.get('/api/v1/threads/:id/messages', async (req: Request, res: Response) => {
    const q = messagesQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, q.error);
    let page;
    try {
      page = await pageMessages(opts.db, req.tenantScope ?? null, String(req.params.id), { limit: q.data.limit, cursor: q.data.cursor });
    } catch (error) {
      if (error instanceof InvalidCursorError) return void res.status(400).json({ error: error.message });
      throw error;
    }
    if (!page) return void res.status(404).json({ error: 'thread not found' });
    res.json({ messages: page.messages, next_cursor: page.next_cursor });
  });

  router.post('/api/v1/threads/:id/bot', async (req: Request, res: Response) => {
    const body = botBody.safeParse(req.body);
    if (!body.success) return badRequest(res, body.error);
    const thread = await getThread(opts.db, req.tenantScope ?? null, String(req.params.id));
    if (!thread) return void res.status(404).json({ error: 'thread not found' });
    const bot = await setBotState(opts.db, thread.id, thread.tenant_id, body.data.action, `manual_${body.data.action}`, body.data.actor ?? 'api');
    res.json({ bot });
  });

  router.post('/api/v1/threads/:id/messages', async (req: Request, res: Response) => {
    const body = replyBody.safeParse(req.body);
    if (!body.success) return badRequest(res, body.error);
    const thread = await getThread(opts.db, req.tenantScope ?? null, String(req.params.id));
    if (!thread) return void res.status(404).json({ error: 'thread not found' });
    if (!opts.sendReply) return void res.status(503).json({ error: 'sending is not configured on this server (no access token for this number)' });
    const message = toThreadMessage(body.data);
    try {
      const sent = await opts.sendReply({ threadId: thread.id, tenantId: thread.tenant_id, message, actor: body.data.actor ?? 'api', clientRef: body.data.client_ref });
      res.status(sent.duplicate ? 200 : 201).json({ message: sent });
    } catch (error) {
      if (error instanceof WindowClosedError) return void res.status(409).json({ error: error.message, code: 'window_closed', closed_at: error.closedAt?.toISOString() ?? null, hint: 'send an approved template: { "template": { "name", "language" } }' });
      if (error instanceof NumberNotConnectedError) return void res.status(409).json({ error: error.message, code: 'number_not_connected', connection_status: error.connectionStatus });
      if (error instanceof RecipientUnknownError || error instanceof InvalidMessageError) return void res.status(422).json({ error: error.message });
      if (error instanceof SendFailedError) return void res.status(502).json({ error: error.message, code: error.code, kind: error.kind, message_id: error.messageId });
      throw error;
    }
  });

  router.get('/api/v1/numbers/:phoneNumberId/sync', async (req: Request, res: Response) => {
    const state = await getSyncState(opts.db, req.tenantScope ?? null, String(req.params.phoneNumberId));
    if (!state) return void res.status(404).json({ error: 'number not found' });
    res.json(state);
  });

  router.get('/api/v1/numbers/:phoneNumberId/account', async (req: Request, res: Response) => {
    const state = await getAccountState(opts.db, req.tenantScope ?? null, String(req.params.phoneNumberId));
    if (!state) return void res.status(404).json({ error: 'number not found' });
    res.json(state);
  });

  // Meta can end a restriction of business-initiated messaging early without a webhook: lifted by hand.
  router.post('/api/v1/numbers/:phoneNumberId/account/lift-hold', async (req: Request, res: Response) => {
    const body = z.object({ actor: z.string().min(1).max(200).optional() }).strict().safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, body.error);
    const scope = req.tenantScope ?? null;
    const phoneNumberId = String(req.params.phoneNumberId);
    const outcome = await liftTemplatesHold(opts.db, scope, phoneNumberId, body.data.actor ?? 'api');
    if (outcome.kind === 'not_found') return void res.status(404).json({ error: 'number not found' });
    if (outcome.kind === 'nothing_held') return void res.status(409).json({ error: 'nothing is held: Meta restricts no business-initiated messaging of this number', code: 'nothing_held' });
    res.json(await getAccountState(opts.db, scope, phoneNumberId));
  });

  // Embedded Signup v4: what the onboarding page passes to FB.login and which events it forwards.
  router.get('/api/v1/onboarding/embedded-signup', (_req: Request, res: Response) => {
    if (!opts.onboarding) return void res.status(503).json({ error: 'onboarding needs META_APP_ID and WHATSAPP_APP_SECRET' });
    res.json({
      version: EMBEDDED_SIGNUP.version,
      app_id: opts.onboarding.appId ?? null,
      config_id: opts.onboarding.configId ?? null,
      graph_version: opts.onboarding.graphVersion ?? null,
      login_options: { ...EMBEDDED_SIGNUP.loginOptions, extras: embeddedSignupExtras() },
      message_origin: EMBEDDED_SIGNUP.messageOrigin,
      finish_event: 'FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING',
      webhook_fields: REQUIRED_WEBHOOK_FIELDS,
      submit: 'POST /api/v1/onboarding { "code", "session_event": <the WA_EMBEDDED_SIGNUP message event, JSON-parsed> }',
    });
  });

  router.post('/api/v1/onboarding', async (req: Request, res: Response) => {
    const body = z
      .object({
        code: z.string().min(1).optional(),
        waba_id: z.string().regex(/^\d+$/).optional(),
        phone_number_id: z.string().regex(/^\d+$/).optional(),
        /** Embedded Signup v4: the page's session-info message event, as received. */
        session_event: sessionEventSchema.optional(),
        tenant_id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/).optional(),
      })
      .refine((b) => b.waba_id !== undefined || b.session_event !== undefined, { message: 'give waba_id or session_event' })
      .safeParse(req.body);
    if (!body.success) return badRequest(res, body.error);
    let wabaId = body.data.waba_id;
    let phoneNumberId = body.data.phone_number_id;
    if (body.data.session_event) {
      const outcome = interpretSessionEvent(body.data.session_event);
      if (outcome.kind === 'cancelled') return void res.status(422).json({ error: `the business left Embedded Signup${outcome.currentStep ? ` at ${outcome.currentStep}` : ''}`, code: 'signup_cancelled', current_step: outcome.currentStep });
      if (outcome.kind === 'error') return void res.status(422).json({ error: `Embedded Signup reported an error: ${outcome.message}`, code: 'signup_error', error_id: outcome.errorId, session_id: outcome.sessionId });
      if (outcome.kind === 'invalid') return void res.status(400).json({ error: outcome.reason, code: 'invalid_session_event' });
      if (wabaId !== undefined && wabaId !== outcome.wabaId) return void res.status(400).json({ error: 'waba_id differs from the session event', code: 'invalid_session_event' });
      wabaId = outcome.wabaId;
      phoneNumberId = phoneNumberId ?? outcome.phoneNumberId ?? undefined;
    }
    if (!body.data.code) return void res.status(400).json({ error: 'code is required (from FB.login\'s response)' });
    const tenantId = req.tenantScope ?? body.data.tenant_id;
    if (!tenantId) return void res.status(400).json({ error: 'tenant_id is required with the admin token' });
    if (!opts.onboarding) return void res.status(503).json({ error: 'onboarding needs META_APP_ID and WHATSAPP_APP_SECRET' });
    try {
      res.status(201).json(await opts.onboarding.onboard({ tenantId, code: body.data.code, wabaId: wabaId!, phoneNumberId }));
    } catch (error) {
      const steps = (error as { steps?: unknown }).steps;
      // Only a failed onboarding step (Meta's answer) is shown; anything else is an internal error.
      if (!Array.isArray(steps)) throw error;
      res.status(502).json({ error: error instanceof Error ? error.message : String(error), steps });
    }
  });

  router.post('/api/v1/numbers/:phoneNumberId/sync-requests', async (req: Request, res: Response) => {
    const body = z.object({ type: z.enum(['history', 'contacts']) }).safeParse(req.body);
    if (!body.success) return badRequest(res, body.error);
    const state = await getSyncState(opts.db, req.tenantScope ?? null, String(req.params.phoneNumberId));
    if (!state) return void res.status(404).json({ error: 'number not found' });
    if (!opts.onboarding) return void res.status(503).json({ error: 'sync requests need the number onboarded (META_APP_ID, WHATSAPP_APP_SECRET)' });
    const tenant = await opts.db.selectFrom('whatsapp_numbers').select('tenant_id').where('phone_number_id', '=', state.phone_number_id).executeTakeFirstOrThrow();
    const step = await opts.onboarding.requestSync({ tenantId: tenant.tenant_id, phoneNumberId: state.phone_number_id, type: body.data.type });
    res.status((step as { status?: string }).status === 'ok' ? 202 : 502).json({ step });
  });

  if (opts.cipher) router.post('/api/v1/extension-keys', issueExtensionKeyHandler({ db: opts.db, cipher: opts.cipher }));

  router.get('/api/v1/tenants/:id/profile', async (req: Request, res: Response) => {
    const id = String(req.params.id);
    if (req.tenantScope !== null && req.tenantScope !== id) return void res.status(404).json({ error: 'tenant not found' });
    const profile = await getTenantProfile(opts.db, id);
    if (profile === undefined) return void res.status(404).json({ error: 'tenant not found' });
    res.json({ profile });
  });

  router.put('/api/v1/tenants/:id/profile', async (req: Request, res: Response) => {
    const id = String(req.params.id);
    if (req.tenantScope !== null && req.tenantScope !== id) return void res.status(404).json({ error: 'tenant not found' });
    const body = businessProfileSchema.safeParse(req.body);
    if (!body.success) return badRequest(res, body.error);
    await setTenantProfile(opts.db, id, body.data);
    res.json({ profile: body.data });
  });

  router.get('/api/v1/crm/connections', async (req: Request, res: Response) => {
    res.json({ connections: await listCrmConnections(opts.db, req.tenantScope ?? null) });
  });

  router.post('/api/v1/crm/connections', async (req: Request, res: Response) => {
    const body = z.object({ tenant_id: z.string().optional(), credentials: crmCredentialsSchema }).safeParse(req.body);
    if (!body.success) return badRequest(res, body.error);
    const tenantId = req.tenantScope ?? body.data.tenant_id;
    if (!tenantId) return void res.status(400).json({ error: 'tenant_id is required with the admin token' });
    if (!opts.cipher) return void res.status(503).json({ error: 'no encryption key configured' });
    try {
      const connection = await connectCrm(opts.db, opts.cipher, tenantId, body.data.credentials);
      res.status(201).json({ connection });
    } catch (error) {
      if (error instanceof CrmConnectError) return void res.status(error.httpStatus).json({ error: error.message, code: error.code });
      throw error;
    }
  });

  return router;
}
