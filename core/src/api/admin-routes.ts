import express, { type Request, type Response, type Router } from 'express';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/schema.js';
import { bearerAuth, requireAdmin } from './auth.js';
import { retryDeadLetters } from '../crm/connections.js';
import { AdminError, listNumbers, listTenants, moveNumber, newTenantSchema, tenantIdSchema, upsertTenant } from '../admin/tenants-numbers.js';

export interface AdminRoutesOptions {
  db: Kysely<Database>;
  adminToken: string | undefined;
  /** Wakes a connection's CRM outbox (after its dead letters were queued again). */
  wakeCrm?: (connectionId: string) => Promise<unknown>;
}

function badRequest(res: Response, error: z.ZodError): void {
  res.status(400).json({ error: 'invalid request', issues: error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
}

/**
 * Tenants and numbers: list (a tenant token sees its own), create a tenant and move a number to a
 * tenant (admin token only). The CLI (`coex tenant …`, `coex number …`) runs the same functions.
 */
export function adminRouter(opts: AdminRoutesOptions): Router {
  const router = express.Router();
  const auth = bearerAuth(opts.db, opts.adminToken);
  const json = express.json({ limit: '64kb' });
  const adminOnly = (req: Request, res: Response): boolean => requireAdmin(req, res, 'this needs the admin token (COEX_API_TOKEN)');

  router.get('/api/v1/tenants', auth, async (req: Request, res: Response) => {
    res.json({ tenants: await listTenants(opts.db, req.tenantScope ?? null) });
  });

  router.post('/api/v1/tenants', json, auth, async (req: Request, res: Response) => {
    if (!adminOnly(req, res)) return;
    const body = newTenantSchema.safeParse(req.body);
    if (!body.success) return badRequest(res, body.error);
    const { created } = await upsertTenant(opts.db, body.data);
    const [tenant] = await listTenants(opts.db, body.data.id);
    res.status(created ? 201 : 200).json({ tenant });
  });

  router.get('/api/v1/numbers', auth, async (req: Request, res: Response) => {
    res.json({ numbers: await listNumbers(opts.db, req.tenantScope ?? null) });
  });

  router.put('/api/v1/numbers/:phoneNumberId/tenant', json, auth, async (req: Request, res: Response) => {
    if (!adminOnly(req, res)) return;
    const body = z.object({ tenant_id: tenantIdSchema }).safeParse(req.body);
    if (!body.success) return badRequest(res, body.error);
    try {
      const moved = await moveNumber(opts.db, String(req.params.phoneNumberId), body.data.tenant_id);
      res.json({ moved });
    } catch (error) {
      if (error instanceof AdminError) return void res.status(error.httpStatus).json({ error: error.message });
      throw error;
    }
  });

  router.post('/api/v1/crm/connections/:id/retry', auth, async (req: Request, res: Response) => {
    const r = await retryDeadLetters(opts.db, req.tenantScope ?? null, String(req.params.id));
    if (!r) return void res.status(404).json({ error: 'connection not found' });
    await opts.wakeCrm?.(String(req.params.id));
    res.json({ requeued: r.requeued });
  });

  return router;
}
