import express, { type Request, type Response, type Router } from 'express';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/schema.js';
import { bearerAuth } from './auth.js';
import { getSyncState, getThread, listMessages, listThreads } from '../store/queries.js';
import { botHistory, setBotState } from '../store/bot.js';

export interface ApiOptions {
  db: Kysely<Database>;
  adminToken: string | undefined;
  /** Sends an agent reply typed in a CRM or the API; absent until the outbound client is configured. */
  sendReply?: (args: { threadId: string; tenantId: string; text: string; actor: string | null }) => Promise<{ id: string; wamid: string; status: string }>;
}

const threadsQuery = z.object({
  phone_number_id: z.string().regex(/^\d+$/).optional(),
  wa_id: z.string().regex(/^\+?[\d\s-]+$/).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});
const botBody = z.object({ action: z.enum(['pause', 'resume', 'off']), actor: z.string().max(200).optional() });
const replyBody = z.object({ text: z.string().trim().min(1).max(4096), actor: z.string().max(200).optional() });

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
    const threads = await listThreads(opts.db, req.tenantScope ?? null, { phoneNumberId: q.data.phone_number_id, waId: q.data.wa_id, limit: q.data.limit });
    res.json({
      threads: threads.map((t) => ({
        id: t.id,
        phone_number_id: t.phone_number_id,
        wa_id: t.wa_id,
        contact_name: t.contact_name,
        bot: { state: t.bot.state, paused_until: t.bot.paused_until },
        last_message_at: t.last_message_at,
      })),
    });
  });

  router.get('/api/v1/threads/:id', async (req: Request, res: Response) => {
    const thread = await getThread(opts.db, req.tenantScope ?? null, String(req.params.id));
    if (!thread) return void res.status(404).json({ error: 'thread not found' });
    res.json({ thread, bot_history: await botHistory(opts.db, thread.id) });
  });

  router.get('/api/v1/threads/:id/messages', async (req: Request, res: Response) => {
    const messages = await listMessages(opts.db, req.tenantScope ?? null, String(req.params.id));
    if (!messages) return void res.status(404).json({ error: 'thread not found' });
    res.json({ messages });
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
    const message = await opts.sendReply({ threadId: thread.id, tenantId: thread.tenant_id, text: body.data.text, actor: body.data.actor ?? 'api' });
    res.status(201).json({ message });
  });

  router.get('/api/v1/numbers/:phoneNumberId/sync', async (req: Request, res: Response) => {
    const state = await getSyncState(opts.db, req.tenantScope ?? null, String(req.params.phoneNumberId));
    if (!state) return void res.status(404).json({ error: 'number not found' });
    res.json(state);
  });

  return router;
}
