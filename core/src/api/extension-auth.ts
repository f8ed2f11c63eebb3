import { createHmac, randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import { z } from 'zod';
import { HUBSPOT_SIGNATURE_MAX_AGE_MS, verifyHubSpotRequest } from '@coex/connectors';
import type { Database } from '../db/schema.js';
import { secretEquals, sha256Hex, type TokenCipher } from '../crypto.js';

/**
 * Authentication of the in-CRM UIs (docs/extension-api.md, docs/decisions/extension-auth.md).
 *
 * - HubSpot: HubSpot's own request signature v3 with the app's client secret; the tenant comes from
 *   the signed `portalId`.
 * - WooCommerce, Odoo, Zoho: a per-install key issued by CoEx (issueExtensionKey); each request is
 *   an HMAC-SHA256 over method, path, timestamp, nonce and raw body. The key is stored encrypted
 *   (TokenCipher) because verifying an HMAC needs the key itself; its sha256 is kept beside it.
 *
 * Both schemes reject timestamps more than 5 minutes off and remember every accepted nonce (for
 * HubSpot: every accepted signature) in `extension_nonces` until its timestamp leaves the window.
 */

export const EXTENSION_CRMS = ['hubspot', 'woocommerce', 'odoo', 'zoho'] as const;
export type ExtensionCrm = (typeof EXTENSION_CRMS)[number];
/** The CRMs that authenticate with a CoEx-issued key (HubSpot signs with its own secret). */
export type KeyedCrm = Exclude<ExtensionCrm, 'hubspot'>;
export const KEYED_CRMS = ['woocommerce', 'odoo', 'zoho'] as const satisfies readonly KeyedCrm[];

export const EXTENSION_MAX_SKEW_MS = 5 * 60 * 1000;

export const COEX_HEADERS = {
  account: 'X-Coex-Account',
  timestamp: 'X-Coex-Timestamp',
  nonce: 'X-Coex-Nonce',
  signature: 'X-Coex-Signature',
} as const;

/** Why a request was refused; `code` is stable for the UIs, `reason` is for people. */
export type AuthFailure = { ok: false; status: 401 | 403; code: 'missing_credentials' | 'malformed_credentials' | 'expired' | 'bad_signature' | 'replayed' | 'unknown_account' | 'not_configured'; reason: string };

export interface ExtensionCaller {
  crm: ExtensionCrm;
  tenantId: string;
  account: string;
  connectionId: string;
  /** The CRM user, when the CRM itself vouches for it (HubSpot's signed userEmail / userId). */
  verifiedUser: string | null;
}

export type AuthResult = { ok: true; caller: ExtensionCaller } | AuthFailure;

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  // A repeated header is ambiguous (which copy was signed?): refuse it rather than pick one.
  if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined;
  return value;
}

// ---------------------------------------------------------------------------------------------
// The CoEx request signature (WooCommerce plugin, Odoo addon, Zoho widget)
// ---------------------------------------------------------------------------------------------

export interface SignExtensionRequestInput {
  /** The install key exactly as issued ("coex_ext_…"); its UTF-8 bytes are the HMAC key. */
  key: string;
  method: string;
  /** The request target as sent on the wire: path plus query string, e.g. "/ext/v1/zoho/thread?phone=%2B212612345678". */
  pathWithQuery: string;
  /** The raw body bytes ('' for GET). */
  body: string | Buffer;
  /** Milliseconds since the epoch, as a decimal string or number. */
  timestamp: string | number;
  nonce: string;
}

/** hex(HMAC-SHA256(key, METHOD "\n" pathWithQuery "\n" timestamp "\n" nonce "\n" rawBody)). */
export function signExtensionRequest(input: SignExtensionRequestInput): string {
  const head = `${input.method.toUpperCase()}\n${input.pathWithQuery}\n${String(input.timestamp)}\n${input.nonce}\n`;
  const body = typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : input.body;
  return createHmac('sha256', Buffer.from(input.key, 'utf8')).update(head, 'utf8').update(body).digest('hex');
}

const timestampPattern = /^\d{1,16}$/;
const noncePattern = /^[A-Za-z0-9_-]{16,128}$/;
const signaturePattern = /^[0-9a-fA-F]{64}$/;

export interface CoexSignedHeaders {
  account: string;
  timestamp: string;
  nonce: string;
  signature: string;
}

/** Pure header checks: presence, shape and the 5-minute window. */
export function parseCoexHeaders(crm: KeyedCrm, headers: Headers, now: number): { ok: true; value: CoexSignedHeaders } | AuthFailure {
  const account = header(headers, COEX_HEADERS.account);
  const timestamp = header(headers, COEX_HEADERS.timestamp);
  const nonce = header(headers, COEX_HEADERS.nonce);
  const signature = header(headers, COEX_HEADERS.signature);
  if (!account || !timestamp || !nonce || !signature) {
    return { ok: false, status: 401, code: 'missing_credentials', reason: `send ${Object.values(COEX_HEADERS).join(', ')} (see docs/extension-api.md)` };
  }
  if (!timestampPattern.test(timestamp)) return { ok: false, status: 401, code: 'malformed_credentials', reason: `${COEX_HEADERS.timestamp} must be milliseconds since the epoch` };
  if (!noncePattern.test(nonce)) return { ok: false, status: 401, code: 'malformed_credentials', reason: `${COEX_HEADERS.nonce} must be 16-128 characters of [A-Za-z0-9_-]` };
  if (!signaturePattern.test(signature)) return { ok: false, status: 401, code: 'malformed_credentials', reason: `${COEX_HEADERS.signature} must be 64 hex characters` };
  if (account.length > 512) return { ok: false, status: 401, code: 'malformed_credentials', reason: `${COEX_HEADERS.account} is too long` };
  if (Math.abs(now - Number(timestamp)) > EXTENSION_MAX_SKEW_MS) {
    return { ok: false, status: 401, code: 'expired', reason: 'request expired: timestamp is more than 5 minutes away from the server clock' };
  }
  return { ok: true, value: { account: normalizeExtensionAccount(crm, account), timestamp, nonce, signature: signature.toLowerCase() } };
}

/**
 * The account spelling stored in crm_connections (same as core/src/crm/registry.ts accountOf):
 * WooCommerce the site URL without trailing slash, Odoo "<base URL>#<database>", Zoho the org id.
 */
export function normalizeExtensionAccount(crm: ExtensionCrm, account: string): string {
  const a = account.trim();
  if (crm === 'woocommerce') return a.replace(/\/+$/, '');
  if (crm === 'odoo') {
    const hash = a.lastIndexOf('#');
    return hash < 0 ? a.replace(/\/+$/, '') : `${a.slice(0, hash).replace(/\/+$/, '')}#${a.slice(hash + 1)}`;
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Install keys
// ---------------------------------------------------------------------------------------------

const issueInput = z.object({
  tenantId: z.string().min(1),
  crm: z.enum(KEYED_CRMS, { message: 'extension keys are issued for woocommerce, odoo or zoho (HubSpot requests are signed with the app secret)' }),
  account: z.string().trim().min(1).max(512),
});

export class ExtensionKeyError extends Error {
  override readonly name = 'ExtensionKeyError';
}

/**
 * Issues (or rotates) the install key of one CRM account and returns it: it is shown once, then
 * only its encrypted form and its sha256 are stored. The previous key stops working at once.
 * Uses the account's existing connection row when the tenant already connected that CRM account;
 * otherwise creates an extension-only row (no CRM credentials, not used by the archive outbox).
 */
export async function issueExtensionKey(
  db: Kysely<Database>,
  input: { tenantId: string; crm: string; account: string; cipher: TokenCipher },
): Promise<{ key: string; connectionId: string; crm: KeyedCrm; account: string; tenantId: string }> {
  const parsed = issueInput.safeParse(input);
  if (!parsed.success) throw new ExtensionKeyError(parsed.error.issues.map((i) => i.message).join('; '));
  const { tenantId, crm } = parsed.data;
  const account = normalizeExtensionAccount(crm, parsed.data.account);
  const key = `coex_ext_${randomBytes(32).toString('base64url')}`;
  const enc = input.cipher.encrypt(key);
  const hash = sha256Hex(key);
  return db.transaction().execute(async (trx) => {
    const tenant = await trx.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst();
    if (!tenant) throw new ExtensionKeyError(`no tenant '${tenantId}' (create it with: coex tenant create ${tenantId})`);
    const existing = await trx.selectFrom('crm_connections').select(['id', 'tenant_id']).where('crm', '=', crm).where('account', '=', account).forUpdate().executeTakeFirst();
    if (existing && existing.tenant_id !== tenantId) throw new ExtensionKeyError(`${crm} account ${account} belongs to another tenant`);
    let connectionId: string;
    if (existing) {
      await trx.updateTable('crm_connections').set({ extension_key_hash: hash, extension_key_enc: enc, updated_at: sql`now()` }).where('id', '=', existing.id).execute();
      connectionId = existing.id;
    } else {
      const row = await trx
        .insertInto('crm_connections')
        .values({ tenant_id: tenantId, crm, account, credentials_enc: '', extension_key_hash: hash, extension_key_enc: enc, status: 'extension_only' })
        .returning('id')
        .executeTakeFirstOrThrow();
      connectionId = row.id;
    }
    return { key, connectionId, crm, account, tenantId };
  });
}

/** Revokes an install key; requests signed with it fail from now on. Returns false if none was set. */
export async function revokeExtensionKey(db: Kysely<Database>, input: { crm: KeyedCrm; account: string }): Promise<boolean> {
  const rows = await db
    .updateTable('crm_connections')
    .set({ extension_key_hash: null, extension_key_enc: null, updated_at: sql`now()` })
    .where('crm', '=', input.crm)
    .where('account', '=', normalizeExtensionAccount(input.crm, input.account))
    .where('extension_key_enc', 'is not', null)
    .returning('id')
    .execute();
  return rows.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Replay protection
// ---------------------------------------------------------------------------------------------

/**
 * Records a nonce; false when it was already seen (a replay). Kept until `expiresAt`, the moment its
 * timestamp leaves the acceptance window, after which the timestamp check alone refuses it.
 */
export async function rememberNonce(db: Kysely<Database>, entry: { crm: ExtensionCrm; account: string; nonce: string; expiresAt: Date }): Promise<boolean> {
  const inserted = await db
    .insertInto('extension_nonces')
    .values({ crm: entry.crm, account: entry.account, nonce: entry.nonce, expires_at: entry.expiresAt })
    .onConflict((oc) => oc.columns(['crm', 'account', 'nonce']).doNothing())
    .returning('nonce')
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function pruneNonces(db: Kysely<Database>, now: Date): Promise<number> {
  const rows = await db.deleteFrom('extension_nonces').where('expires_at', '<', now).returning('nonce').execute();
  return rows.length;
}

// ---------------------------------------------------------------------------------------------
// Verifiers
// ---------------------------------------------------------------------------------------------

export interface ExtensionAuthOptions {
  db: Kysely<Database>;
  cipher: TokenCipher;
  logger: Logger;
  /** The HubSpot app's client secret; without it every /ext/v1/hubspot request is refused. */
  hubspotClientSecret?: string | undefined;
}

export interface IncomingExtensionRequest {
  crm: ExtensionCrm;
  method: string;
  /** Path and query as received (Express req.originalUrl). */
  pathWithQuery: string;
  /** Absolute URL as the caller addressed it (HubSpot signs it). */
  fullUrl: string;
  headers: Headers;
  rawBody: Buffer;
  now: number;
}

const replayed: AuthFailure = { ok: false, status: 401, code: 'replayed', reason: 'request replayed: this nonce was already used' };

export async function authenticateExtensionRequest(opts: ExtensionAuthOptions, req: IncomingExtensionRequest): Promise<AuthResult> {
  return req.crm === 'hubspot' ? authenticateHubSpot(opts, req) : authenticateKeyed(opts, req.crm, req);
}

async function authenticateHubSpot(opts: ExtensionAuthOptions, req: IncomingExtensionRequest): Promise<AuthResult> {
  if (!opts.hubspotClientSecret) return { ok: false, status: 401, code: 'not_configured', reason: 'this server has no HubSpot app client secret configured' };
  const verified = verifyHubSpotRequest({ method: req.method, url: req.fullUrl, headers: req.headers, rawBody: req.rawBody, now: req.now }, opts.hubspotClientSecret);
  if (!verified.ok) {
    const code: AuthFailure['code'] = /missing/.test(verified.reason) ? 'missing_credentials' : /window/.test(verified.reason) ? 'expired' : /malformed|absolute/.test(verified.reason) ? 'malformed_credentials' : verified.status === 403 ? 'unknown_account' : 'bad_signature';
    return { ok: false, status: verified.status, code, reason: code === 'expired' ? `request expired: ${verified.reason}` : verified.reason };
  }
  const portalId = verified.account;
  const connection = await opts.db
    .selectFrom('crm_connections')
    .select(['id', 'tenant_id'])
    .where('crm', '=', 'hubspot')
    .where('account', '=', portalId)
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (!connection) return { ok: false, status: 403, code: 'unknown_account', reason: `HubSpot portal ${portalId} is not connected to this CoEx server` };
  // The signature is the nonce: HubSpot makes a new one for every request it signs.
  const signature = header(req.headers, 'x-hubspot-signature-v3')!;
  const timestamp = Number(header(req.headers, 'x-hubspot-request-timestamp'));
  const fresh = await rememberNonce(opts.db, { crm: 'hubspot', account: portalId, nonce: signature, expiresAt: new Date(timestamp + HUBSPOT_SIGNATURE_MAX_AGE_MS) });
  if (!fresh) return replayed;
  const params = new URL(req.fullUrl).searchParams;
  const email = params.get('userEmail');
  const userId = params.get('userId');
  const verifiedUser = email && email.length <= 200 ? email : userId && /^\d{1,20}$/.test(userId) ? `hubspot-user:${userId}` : null;
  return { ok: true, caller: { crm: 'hubspot', tenantId: connection.tenant_id, account: portalId, connectionId: connection.id, verifiedUser } };
}

async function authenticateKeyed(opts: ExtensionAuthOptions, crm: KeyedCrm, req: IncomingExtensionRequest): Promise<AuthResult> {
  const parsed = parseCoexHeaders(crm, req.headers, req.now);
  if (!parsed.ok) return parsed;
  const h = parsed.value;
  const connection = await opts.db
    .selectFrom('crm_connections')
    .select(['id', 'tenant_id', 'extension_key_enc', 'extension_key_hash'])
    .where('crm', '=', crm)
    .where('account', '=', h.account)
    .where('status', 'in', ['active', 'extension_only'])
    .executeTakeFirst();
  // Unknown account and wrong key answer alike, so the endpoint does not reveal which accounts exist.
  const badSignature: AuthFailure = { ok: false, status: 401, code: 'bad_signature', reason: 'bad signature (or no install key for this account)' };
  if (!connection?.extension_key_enc || !connection.extension_key_hash) return badSignature;
  let key: string;
  try {
    key = opts.cipher.decrypt(connection.extension_key_enc);
  } catch {
    opts.logger.error({ crm, connectionId: connection.id }, 'extension key cannot be decrypted (was COEX_ENCRYPTION_KEY changed?); issue a new key');
    return badSignature;
  }
  if (!secretEquals(sha256Hex(key), connection.extension_key_hash)) {
    opts.logger.error({ crm, connectionId: connection.id }, 'stored extension key does not match its hash; issue a new key');
    return badSignature;
  }
  const expected = signExtensionRequest({ key, method: req.method, pathWithQuery: req.pathWithQuery, body: req.rawBody, timestamp: h.timestamp, nonce: h.nonce });
  if (!secretEquals(expected, h.signature)) return badSignature;
  // Only signed requests reach the nonce table, so nobody can fill it or burn another client's nonces.
  const fresh = await rememberNonce(opts.db, { crm, account: h.account, nonce: h.nonce, expiresAt: new Date(Number(h.timestamp) + EXTENSION_MAX_SKEW_MS) });
  if (!fresh) return replayed;
  return { ok: true, caller: { crm, tenantId: connection.tenant_id, account: h.account, connectionId: connection.id, verifiedUser: null } };
}
