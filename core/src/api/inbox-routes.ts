import express, { type Request, type Response, type Router } from 'express';
import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/schema.js';
import { bearerAuth, requireAdmin } from './auth.js';
import { partitionParts } from '../whatsapp/normalize.js';

/**
 * What the webhook inbox holds, for the operator (admin token only: deliveries mix tenants):
 * - `GET /api/v1/inbox` — pending deliveries (and the rows they are stored as: one per number a
 *   delivery names, one per history lane), the oldest one's age, deliveries waiting for a retry,
 *   items set aside.
 * - `GET /api/v1/inbox/set-aside?limit=&cursor=` — the items that could not be stored, newest first,
 *   with their reason and what was kept of them; `next_cursor` pages back.
 */
export function inboxRouter(opts: { db: Kysely<Database>; adminToken: string | undefined }): Router {
  const router = express.Router();
  const auth = bearerAuth(opts.db, opts.adminToken);
  const adminOnly = (req: Request, res: Response): boolean => requireAdmin(req, res, 'the inbox is visible to the admin token only');

  router.get('/api/v1/inbox', auth, async (req: Request, res: Response) => {
    if (!adminOnly(req, res)) return;
    // A delivery is stored as a row per number it names (and per history lane): rows are counted
    // apart, deliveries once (by their bytes' hash).
    const r = await sql<{ pending: number; pending_rows: number; retrying: number; oldest: Date | null; set_aside: number }>`
      select
        (select count(distinct body_sha256)::int from webhook_inbox where processed_at is null) as pending,
        (select count(*)::int from webhook_inbox where processed_at is null) as pending_rows,
        (select count(distinct body_sha256)::int from webhook_inbox where processed_at is null and attempts > 0) as retrying,
        (select min(received_at) from webhook_inbox where processed_at is null) as oldest,
        (select count(*)::int from webhook_set_aside) as set_aside`.execute(opts.db);
    const row = r.rows[0]!;
    res.json({
      pending: row.pending,
      pending_rows: row.pending_rows,
      retrying: row.retrying,
      oldest_pending_age_seconds: row.oldest ? Math.max(0, Math.round((Date.now() - new Date(row.oldest).getTime()) / 1000)) : null,
      set_aside: row.set_aside,
    });
  });

  const pageQuery = z.object({
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z.string().regex(/^\d{1,19}$/, 'cursor is the next_cursor of the previous page').optional(),
  });
  router.get('/api/v1/inbox/set-aside', auth, async (req: Request, res: Response) => {
    if (!adminOnly(req, res)) return;
    const q = pageQuery.safeParse(req.query);
    if (!q.success) return void res.status(400).json({ error: 'invalid request', issues: q.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
    let query = opts.db
      .selectFrom('webhook_set_aside')
      .innerJoin('webhook_inbox', 'webhook_inbox.id', 'webhook_set_aside.inbox_id')
      .select(['webhook_set_aside.id', 'webhook_set_aside.inbox_id', 'webhook_set_aside.partition_key', 'webhook_set_aside.kind', 'webhook_set_aside.reason', 'webhook_set_aside.payload', 'webhook_set_aside.created_at', 'webhook_inbox.received_at'])
      .orderBy('webhook_set_aside.id', 'desc')
      .limit(q.data.limit + 1);
    if (q.data.cursor) query = query.where('webhook_set_aside.id', '<', q.data.cursor);
    const rows = await query.execute();
    const page = rows.slice(0, q.data.limit);
    res.json({
      items: page.map((r) => ({
        id: r.id,
        inbox_id: r.inbox_id,
        phone_number_id: partitionParts(r.partition_key).number,
        kind: r.kind,
        reason: r.reason,
        payload: r.payload,
        received_at: r.received_at,
        set_aside_at: r.created_at,
      })),
      next_cursor: rows.length > q.data.limit ? page[page.length - 1]!.id : null,
    });
  });
  return router;
}
