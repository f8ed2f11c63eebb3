import type { NextFunction, Request, Response } from 'express';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { secretEquals, sha256Hex } from '../crypto.js';
import type { TenantScope } from '../store/queries.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by bearerAuth: null = admin (every tenant), else the caller's tenant. */
    tenantScope?: TenantScope;
  }
}

/** After bearerAuth: true for the admin token; a tenant token is answered 403 with `error`. */
export function requireAdmin(req: Request, res: Response, error: string): boolean {
  if (req.tenantScope === null) return true;
  res.status(403).json({ error });
  return false;
}

/**
 * Bearer auth for /api/v1: the admin token (COEX_API_TOKEN) sees every tenant; a tenant token
 * (stored hashed in api_tokens, made with `coex token create`) sees only its tenant.
 */
export function bearerAuth(db: Kysely<Database>, adminToken: string | undefined) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'missing bearer token' });
      return;
    }
    const token = match[1]!;
    if (adminToken && secretEquals(token, adminToken)) {
      req.tenantScope = null;
      next();
      return;
    }
    // A hash lookup: the stored value is a digest, so timing reveals nothing about the token.
    const row = await db.selectFrom('api_tokens').select('tenant_id').where('token_hash', '=', sha256Hex(token)).executeTakeFirst();
    if (!row) {
      res.status(401).set('WWW-Authenticate', 'Bearer error="invalid_token"').json({ error: 'invalid token' });
      return;
    }
    req.tenantScope = row.tenant_id;
    next();
  };
}
