import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { replyBodySchema, toThreadMessage, type ReplyBody } from './reply.js';
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import { z } from 'zod';
import { consentSourceLabel, normalizePhone } from '@coex/connectors';
import { publicUrlOf } from '../http/public-url.js';
import type { Database } from '../db/schema.js';
import type { TokenCipher } from '../crypto.js';
import { getThread, listMessages, listThreads, type ThreadView } from '../store/queries.js';
import { botHistory, setBotState } from '../store/bot.js';
import type { SendService } from '../outbound/send-service.js';
import { NumberNotConnectedError, RecipientUnknownError, SendFailedError } from '../outbound/send-service.js';
import { isWindowOpen, windowClosesAt, WindowClosedError } from '../outbound/window.js';
import { InvalidMessageError } from '../outbound/graph-client.js';
import { GraphApiError } from '../outbound/graph-errors.js';
import type { TemplateCatalog } from '../outbound/templates.js';
import { campaignsForContact, campaignReport, listCampaigns } from '../campaigns/store.js';
import { WHATSAPP_CONSENT_SOURCES } from '../store/consent.js';
import {
  authenticateExtensionRequest,
  COEX_HEADERS,
  EXTENSION_CRMS,
  ExtensionKeyError,
  issueExtensionKey,
  pruneNonces,
  type ExtensionCaller,
  type ExtensionCrm,
} from './extension-auth.js';

/** Consent signals shown with a customer's campaigns, newest first. */
const CONSENT_HISTORY_LIMIT = 10;

/**
 * The extension API (docs/extension-api.md): what the HubSpot card, the WooCommerce meta box, the
 * Odoo chatter panel and the Zoho widget call. Every route is authenticated per CRM
 * (extension-auth.ts) and the tenant comes only from the verified caller, never from the request.
 */

export interface ExtensionRouterOptions {
  db: Kysely<Database>;
  sender: Pick<SendService, 'send'>;
  logger: Logger;
  /** Decrypts the install keys (the runtime's TokenCipher). */
  cipher: TokenCipher;
  /** The HubSpot app's client secret (request signature v3); unset → /ext/v1/hubspot answers 401. */
  hubspotClientSecret?: string | undefined;
  /**
   * The public origin HubSpot calls (https://coex.example.com): HubSpot signs the full URL, which a
   * TLS-terminating proxy may not convey. Default: the request's protocol and Host header.
   */
  publicBaseUrl?: string | undefined;
  /** Browser origins allowed to call /ext/v1/zoho (default: Zoho widget hosts and crm.zoho.*). */
  zohoAllowedOrigins?: RegExp[];
  maxBodyBytes?: number;
  /** Approved templates from Meta (GET /ext/v1/:crm/templates); absent → 501. */
  templates?: TemplateCatalog | undefined;
  now?: () => number;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by the extension authentication: the verified CRM account and its tenant. */
    extensionCaller?: ExtensionCaller;
  }
}

export const DEFAULT_ZOHO_ORIGINS: RegExp[] = [/^https:\/\/([a-z0-9-]+\.)*zappsusercontent\.com$/i, /^https:\/\/crm\.zoho\.[a-z]{2,3}(\.[a-z]{2})?$/i, /^https:\/\/crmplus\.zoho\.[a-z]{2,3}(\.[a-z]{2})?$/i];

const crmParam = z.enum(EXTENSION_CRMS);
const threadQuery = z.object({
  phone: z.string().trim().min(3).max(40),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});
const templatesQuery = z.object({ phone_number_id: z.string().regex(/^\d{1,32}$/).optional() });
const campaignsQuery = z.object({
  phone: z.string().trim().min(3).max(40).optional(),
  limit: z.coerce.number().int().min(1).max(50).default(5),
});
const botBody = z.object({ action: z.enum(['pause', 'resume', 'off']), actor: z.string().trim().min(1).max(200).optional() });
export type ExtensionReplyBody = ReplyBody;
const replyBody = replyBodySchema;
export { toThreadMessage };

function badRequest(res: Response, error: z.ZodError): void {
  res.status(400).json({ error: 'invalid request', code: 'invalid_request', issues: error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
}

/** Parses the raw body as JSON (after the signature was checked over exactly these bytes). */
export function parseJsonBody<T>(raw: Buffer, schema: z.ZodType<T>): { ok: true; value: T } | { ok: false; status: 400; body: Record<string, unknown> } {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    return { ok: false, status: 400, body: { error: 'the body must be JSON', code: 'malformed_json' } };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, status: 400, body: { error: 'invalid request', code: 'invalid_request', issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) } };
  return { ok: true, value: parsed.data };
}

/** Who acted, for bot_events and messages.actor: the CRM-verified user first, then what the install says. */
export function actorOf(caller: ExtensionCaller, claimed: string | undefined): string {
  if (caller.verifiedUser) return caller.verifiedUser;
  // For keyed CRMs the body is signed with the install key: the plugin vouches for its logged-in user.
  if (caller.crm !== 'hubspot' && claimed) return claimed;
  return `${caller.crm}:${caller.account}`;
}

/** CORS for the Zoho widget only: it calls from the browser, on Zoho's widget hosts. */
export function zohoCors(allowed: RegExp[]): RequestHandler {
  const allowHeaders = ['Content-Type', ...Object.values(COEX_HEADERS)].join(', ');
  return (req, res, next) => {
    const origin = req.get('origin');
    const permitted = origin !== undefined && allowed.some((r) => r.test(origin));
    res.vary('Origin');
    if (permitted) {
      res.set('Access-Control-Allow-Origin', origin);
      res.set('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
      res.set('Access-Control-Allow-Headers', allowHeaders);
      res.set('Access-Control-Max-Age', '600');
    }
    if (req.method === 'OPTIONS') {
      res.status(permitted ? 204 : 403).end();
      return;
    }
    next();
  };
}

interface LatestMessage {
  id: string;
  direction: 'inbound' | 'outbound';
  origin: string;
  type: string;
  text: string | null;
  timestamp: string;
  status: string | null;
  transcript: string | null;
  transcript_state: string | null;
  media: { mime_type: string | null; state: string | null; voice: boolean } | null;
  /** Received while another handler (Meta's agent, another app) held the thread. */
  standby: boolean;
}

/** The thread's latest `limit` messages, oldest first, in the extension API's shape. */
async function latestMessages(db: Kysely<Database>, thread: ThreadView, limit: number): Promise<LatestMessage[]> {
  const rows = (await listMessages(db, thread.tenant_id, thread.id, limit, { latest: limit })) ?? [];
  return rows.map((m) => ({
    id: m.id,
    direction: m.direction,
    origin: m.origin,
    type: m.type,
    text: m.text,
    timestamp: m.timestamp,
    status: m.status,
    transcript: m.transcript,
    transcript_state: m.transcript_state,
    media: m.media ? { mime_type: m.media.mime_type, state: m.media.state, voice: m.media.voice } : null,
    standby: m.standby,
  }));
}

/** History and contact-sync progress of the thread's number, or (no thread) the tenant's least advanced number. */
async function syncSummary(db: Kysely<Database>, tenantId: string, phoneNumberId: string | null) {
  let q = db
    .selectFrom('whatsapp_numbers')
    .leftJoin('sync_state', 'sync_state.phone_number_id', 'whatsapp_numbers.phone_number_id')
    .select(['sync_state.history_status', 'sync_state.history_progress', 'sync_state.contacts_status'])
    .where('whatsapp_numbers.tenant_id', '=', tenantId);
  if (phoneNumberId) q = q.where('whatsapp_numbers.phone_number_id', '=', phoneNumberId);
  const row = await q.orderBy(sql`coalesce(sync_state.history_progress, 0)`).orderBy('whatsapp_numbers.phone_number_id').limit(1).executeTakeFirst();
  if (!row) return null;
  return {
    history: { status: row.history_status ?? 'not_requested', progress: row.history_progress ?? 0 },
    contacts: { status: row.contacts_status ?? 'not_requested' },
  };
}

const NOT_FOUND = { error: 'thread not found', code: 'not_found' } as const;
const PRUNE_EVERY_MS = 60_000;

export function extensionRouter(opts: ExtensionRouterOptions): Router {
  const now = opts.now ?? Date.now;
  const router = express.Router();
  let lastPrune = 0;

  router.use('/ext/v1/zoho', zohoCors(opts.zohoAllowedOrigins ?? DEFAULT_ZOHO_ORIGINS));

  const authenticate: RequestHandler = async (req: Request, res: Response, next: NextFunction) => {
    const crm = crmParam.safeParse(req.params.crm);
    if (!crm.success) return void res.status(404).json({ error: 'not found' });
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const at = now();
    const result = await authenticateExtensionRequest(
      { db: opts.db, cipher: opts.cipher, logger: opts.logger, hubspotClientSecret: opts.hubspotClientSecret },
      { crm: crm.data, method: req.method, pathWithQuery: req.originalUrl, fullUrl: publicUrlOf(req, opts.publicBaseUrl), headers: req.headers, rawBody, now: at },
    );
    if (!result.ok) {
      // The reason and code only: never the headers, which carry the signature.
      opts.logger.info({ crm: crm.data, path: req.path, code: result.code }, 'extension request refused');
      return void res.status(result.status).json({ error: result.reason, code: result.code });
    }
    req.extensionCaller = result.caller;
    if (at - lastPrune > PRUNE_EVERY_MS) {
      lastPrune = at;
      pruneNonces(opts.db, new Date(at)).catch((error: unknown) => opts.logger.warn({ err: String(error) }, 'pruning extension nonces failed'));
    }
    next();
  };

  router.use('/ext/v1/:crm', express.raw({ type: () => true, limit: opts.maxBodyBytes ?? 64 * 1024 }), authenticate);

  router.get('/ext/v1/:crm/thread', async (req: Request, res: Response) => {
    const caller = req.extensionCaller!;
    const q = threadQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, q.error);
    const e164 = normalizePhone(q.data.phone);
    if (!e164) return void res.status(400).json({ error: `"${q.data.phone}" is not a valid phone number`, code: 'invalid_phone' });
    const [thread] = await listThreads(opts.db, caller.tenantId, { waId: e164.slice(1), limit: 1 });
    if (!thread) {
      res.json({ thread: null, messages: [], sync: await syncSummary(opts.db, caller.tenantId, null) });
      return;
    }
    const [history, messages, sync] = [await botHistory(opts.db, thread.id), await latestMessages(opts.db, thread, q.data.limit), await syncSummary(opts.db, caller.tenantId, thread.phone_number_id)];
    const lastCustomer = thread.last_customer_message_at ? new Date(thread.last_customer_message_at) : null;
    const closesAt = windowClosesAt(lastCustomer);
    res.json({
      thread: {
        id: thread.id,
        contact_name: thread.contact_name,
        wa_id: thread.wa_id,
        phone_number_id: thread.phone_number_id,
        bot: { state: thread.bot.state, paused_until: thread.bot.paused_until, history: history.map((h) => ({ from: h.from, to: h.to, cause: h.cause, actor: h.actor, at: h.at })) },
        control: thread.control,
        window: { open: isWindowOpen(lastCustomer, new Date(now())), closes_at: closesAt?.toISOString() ?? null },
      },
      messages,
      sync,
    });
  });

  router.get('/ext/v1/:crm/templates', async (req: Request, res: Response) => {
    const caller = req.extensionCaller!;
    const q = templatesQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, q.error);
    if (!opts.templates) return void res.status(501).json({ error: 'template listing is not configured on this server', code: 'templates_not_configured' });
    let numbers = opts.db.selectFrom('whatsapp_numbers').select(['phone_number_id', 'waba_id']).where('tenant_id', '=', caller.tenantId);
    if (q.data.phone_number_id) numbers = numbers.where('phone_number_id', '=', q.data.phone_number_id);
    const rows = await numbers.orderBy('phone_number_id').execute();
    // Another tenant's number answers like an unknown one.
    if (rows.length === 0) {
      return void res.status(q.data.phone_number_id ? 404 : 409).json(q.data.phone_number_id ? { error: 'number not found', code: 'not_found' } : { error: 'this account has no WhatsApp number yet', code: 'no_number' });
    }
    const byWaba = new Map<string, string>();
    for (const r of rows) if (r.waba_id && !byWaba.has(r.waba_id)) byWaba.set(r.waba_id, r.phone_number_id);
    if (byWaba.size === 0) return void res.status(409).json({ error: 'the number has no WhatsApp Business Account id yet (onboard it first)', code: 'no_number' });
    try {
      const lists = await Promise.all([...byWaba].map(([waba, tokenOf]) => opts.templates!.list(waba, tokenOf)));
      // Two WABAs may hold the same template name and language: offer it once.
      const unique = new Map(lists.flatMap((l) => l.templates).map((t) => [`${t.name}/${t.language}`, t] as const));
      const templates = [...unique.values()].sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language));
      const oldest = Math.min(...lists.map((l) => l.fetchedAt.getTime()));
      res.json({ templates, stale: lists.some((l) => l.stale), fetched_at: new Date(oldest).toISOString() });
    } catch (error) {
      opts.logger.warn({ tenantId: caller.tenantId, err: error instanceof Error ? error.message : String(error) }, 'listing templates failed');
      res.status(502).json({ error: 'WhatsApp did not return the templates; try again', code: 'templates_unavailable', meta_code: error instanceof GraphApiError ? error.code : null });
    }
  });

  router.get('/ext/v1/:crm/campaigns', async (req: Request, res: Response) => {
    const caller = req.extensionCaller!;
    const q = campaignsQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, q.error);
    const iso = (d: Date | null): string | null => (d ? new Date(d).toISOString() : null);
    const reportJson = (r: NonNullable<Awaited<ReturnType<typeof campaignReport>>>) => ({
      id: r.id,
      name: r.name,
      status: r.status,
      template: r.template,
      created_at: iso(r.created_at),
      started_at: iso(r.started_at),
      completed_at: iso(r.completed_at),
      counts: r.counts,
      failures: r.failures.slice(0, 5),
      skipped_reasons: r.skipped_reasons,
    });
    if (q.data.phone === undefined) {
      const latest = await listCampaigns(opts.db, caller.tenantId, { limit: q.data.limit });
      const reports = [];
      for (const c of latest) {
        const r = await campaignReport(opts.db, caller.tenantId, c.id);
        if (r) reports.push({ ...reportJson(r), recipient: null });
      }
      return void res.json({ campaigns: reports, opt_out: null, consent_history: [] });
    }
    const e164 = normalizePhone(q.data.phone);
    if (!e164) return void res.status(400).json({ error: `"${q.data.phone}" is not a valid phone number`, code: 'invalid_phone' });
    const waId = e164.slice(1);
    const [mine, optOut, history] = [
      await campaignsForContact(opts.db, caller.tenantId, waId, q.data.limit),
      await opts.db
        .selectFrom('opt_outs')
        .select(['source', 'detail', 'created_at', 'signal_at'])
        .where('tenant_id', '=', caller.tenantId)
        .where('wa_id', '=', waId)
        .orderBy(sql`coalesce(signal_at, created_at)`, 'desc')
        .limit(1)
        .executeTakeFirst(),
      await opts.db
        .selectFrom('opt_out_events')
        .select(['action', 'source', 'detail', 'signal_at', 'applied'])
        .where('tenant_id', '=', caller.tenantId)
        .where('wa_id', '=', waId)
        .orderBy('signal_at', 'desc')
        .orderBy('id', 'desc')
        .limit(CONSENT_HISTORY_LIMIT)
        .execute(),
    ];
    // `source_label` / `in_whatsapp` let the CRM UIs say "opted out in WhatsApp" apart from a keyword.
    const consentJson = (c: { source: string; detail: string | null; action: 'opt_out' | 'opt_in' }) => ({
      source: c.source,
      source_label: consentSourceLabel(c),
      in_whatsapp: (WHATSAPP_CONSENT_SOURCES as readonly string[]).includes(c.source),
      detail: c.detail,
    });
    res.json({
      campaigns: mine.map((c) => ({ ...reportJson(c.report), recipient: { ...c.recipient, sent_at: iso(c.recipient.sent_at) } })),
      opt_out: optOut ? { ...consentJson({ ...optOut, action: 'opt_out' }), at: iso(optOut.signal_at ?? optOut.created_at) } : null,
      consent_history: history.map((h) => ({ action: h.action, ...consentJson(h), at: iso(h.signal_at), applied: h.applied })),
    });
  });

  router.post('/ext/v1/:crm/threads/:id/bot', async (req: Request, res: Response) => {
    const caller = req.extensionCaller!;
    const body = parseJsonBody(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), botBody);
    if (!body.ok) return void res.status(body.status).json(body.body);
    // Scoped to the caller's tenant: another tenant's thread id is "not found", like a random one.
    const thread = await getThread(opts.db, caller.tenantId, String(req.params.id));
    if (!thread) return void res.status(404).json(NOT_FOUND);
    const actor = actorOf(caller, body.value.actor);
    const bot = await setBotState(opts.db, thread.id, thread.tenant_id, body.value.action, `crm_${caller.crm}_${body.value.action}`, actor);
    if (!bot) return void res.status(404).json(NOT_FOUND);
    res.json({ bot: { state: bot.state, paused_until: bot.paused_until } });
  });

  router.post('/ext/v1/:crm/threads/:id/messages', async (req: Request, res: Response) => {
    const caller = req.extensionCaller!;
    const body = parseJsonBody(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), replyBody);
    if (!body.ok) return void res.status(body.status).json(body.body);
    const thread = await getThread(opts.db, caller.tenantId, String(req.params.id));
    if (!thread) return void res.status(404).json(NOT_FOUND);
    try {
      const outcome = await opts.sender.send({
        threadId: thread.id,
        tenantId: thread.tenant_id,
        origin: 'api',
        actor: actorOf(caller, body.value.actor),
        message: toThreadMessage(body.value),
        ...(body.value.client_ref ? { clientRef: `${caller.crm}:${body.value.client_ref}` } : {}),
      });
      if (outcome.status !== 'sent') return void res.status(409).json({ error: `send cancelled: ${outcome.reason}`, code: 'cancelled' });
      res.status(outcome.duplicate ? 200 : 201).json({ message: { id: outcome.messageId, wamid: outcome.wamid, status: outcome.messageStatus, duplicate: outcome.duplicate } });
    } catch (error) {
      if (error instanceof WindowClosedError) {
        return void res.status(409).json({ error: error.message, code: 'window_closed', closed_at: error.closedAt?.toISOString() ?? null, hint: 'the 24-hour window is closed: pick an approved template and send { "template": { "name", "language", "body_parameters" } }' });
      }
      if (error instanceof NumberNotConnectedError) return void res.status(409).json({ error: error.message, code: 'number_not_connected', connection_status: error.connectionStatus });
      if (error instanceof RecipientUnknownError) return void res.status(422).json({ error: error.message, code: 'recipient_unknown' });
      if (error instanceof InvalidMessageError) return void res.status(422).json({ error: error.message, code: 'invalid_message' });
      if (error instanceof SendFailedError) return void res.status(502).json({ error: error.message, code: 'send_failed', meta_code: error.code, kind: error.kind, message_id: error.messageId });
      throw error;
    }
  });

  return router;
}

const issueBody = z.object({
  tenant_id: z.string().min(1).max(63).optional(),
  crm: z.string(),
  account: z.string().trim().min(1).max(512),
});

/**
 * POST /api/v1/extension-keys { crm, account, tenant_id? } for apiRouter (behind bearerAuth and
 * express.json): issues the install key of a WooCommerce site / Odoo database / Zoho org and returns
 * it once. A tenant token issues keys for its own tenant only; the admin token names the tenant.
 */
export function issueExtensionKeyHandler(opts: { db: Kysely<Database>; cipher: TokenCipher }): RequestHandler {
  return async (req: Request, res: Response) => {
    const body = issueBody.safeParse(req.body);
    if (!body.success) return badRequest(res, body.error);
    const scope = req.tenantScope;
    if (scope === undefined) return void res.status(401).json({ error: 'not authenticated' });
    const tenantId = scope ?? body.data.tenant_id;
    if (!tenantId) return void res.status(400).json({ error: 'the admin token must name the tenant: { "tenant_id": … }', code: 'invalid_request' });
    if (scope !== null && body.data.tenant_id !== undefined && body.data.tenant_id !== scope) return void res.status(403).json({ error: 'a tenant token can issue keys for its own tenant only' });
    try {
      const issued = await issueExtensionKey(opts.db, { tenantId, crm: body.data.crm, account: body.data.account, cipher: opts.cipher });
      res.status(201).json({ key: issued.key, crm: issued.crm, account: issued.account, tenant_id: issued.tenantId, connection_id: issued.connectionId, note: 'shown once: store it in the CRM extension settings' });
    } catch (error) {
      if (error instanceof ExtensionKeyError) return void res.status(/another tenant/.test(error.message) ? 409 : 400).json({ error: error.message });
      throw error;
    }
  };
}
