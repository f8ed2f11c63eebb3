import { randomBytes } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { z } from 'zod';
import { buildHubSpotAuthorizeUrl, exchangeHubSpotCode, ZohoOAuth, type HubSpotOAuthConfig, type HubSpotTokens, type ZohoTokenSet } from '@coex/connectors';
import type { Database } from '../db/schema.js';
import { secretEquals, sha256Hex, type TokenCipher } from '../crypto.js';
import { connectCrm } from './connections.js';

/**
 * OAuth installs driven by the CoEx server: HubSpot (marketplace app) and Zoho CRM (multi-DC).
 *
 * `state` is sealed with the TokenCipher (AES-256-GCM: the tag authenticates it, so it is as
 * tamper-proof as an HMAC and also hides the tenant id), expires after 10 minutes, is bound to its
 * provider, and is single use (its nonce is recorded in extension_nonces when the callback consumes
 * it). See docs/decisions/crm-oauth.md.
 */

export const OAUTH_STATE_TTL_MS = 10 * 60_000;

export interface OAuthRouterOptions {
  db: Kysely<Database>;
  cipher: TokenCipher;
  logger: Logger;
  /** Public origin of this server, e.g. https://coex.example.com: the redirect URIs hang off it. */
  publicBaseUrl: string;
  /** COEX_API_TOKEN: may install for any tenant. Tenant API tokens may install for their own tenant. */
  adminToken?: string | undefined;
  hubspot?: {
    clientId: string;
    clientSecret: string;
    scopes: string[];
    optionalScopes?: string[];
    /** API/token endpoint base (tests: the fake). Stored with the connection as basePath. */
    baseUrl?: string;
    authorizeUrl?: string;
  };
  zoho?: {
    clientId: string;
    clientSecret: string;
    scopes?: readonly string[];
    /** Where to send the admin to sign in (any DC works; Zoho forwards to theirs). Default accounts.zoho.com. */
    accountsServer?: string;
    /** Replace Zoho's known hosts (tests). Stored with the connection so its connector accepts them. */
    allowedAccountsServers?: string[];
    allowedApiDomains?: string[];
  };
  now?: () => number;
}

type Provider = 'hubspot' | 'zoho';

const statePayloadSchema = z.object({
  kind: z.literal('coex-oauth-state'),
  provider: z.enum(['hubspot', 'zoho']),
  tenantId: z.string().min(1),
  nonce: z.string().min(16),
  expiresAt: z.number().int(),
  /** Zoho: the org the admin said they install for, and which module gets the notes. */
  orgId: z.string().optional(),
  module: z.enum(['Contacts', 'Leads']).optional(),
});
type StatePayload = z.infer<typeof statePayloadSchema>;

export function sealOAuthState(cipher: TokenCipher, payload: Omit<StatePayload, 'kind'>): string {
  return Buffer.from(cipher.encrypt(JSON.stringify({ kind: 'coex-oauth-state', ...payload })), 'utf8').toString('base64url');
}

export type StateCheck = { ok: true; payload: StatePayload } | { ok: false; reason: 'invalid' | 'expired' | 'wrong provider' };

/** Opens a state (no replay check: that needs the DB, see consumeState). */
export function openOAuthState(cipher: TokenCipher, state: string, provider: Provider, now: number): StateCheck {
  let payload: StatePayload;
  try {
    if (!/^[A-Za-z0-9_-]{1,2048}$/.test(state)) return { ok: false, reason: 'invalid' };
    const sealed = Buffer.from(state, 'base64url').toString('utf8');
    // TokenCipher.decrypt accepts GCM tags shorter than 16 bytes (Node does unless authTagLength is
    // set): a forged state could then carry a 4-byte tag. Only full-length tags are accepted here.
    const tag = sealed.split(':')[2];
    if (tag === undefined || Buffer.from(tag, 'base64').length !== 16) return { ok: false, reason: 'invalid' };
    const parsed = statePayloadSchema.safeParse(JSON.parse(cipher.decrypt(sealed)));
    if (!parsed.success) return { ok: false, reason: 'invalid' };
    payload = parsed.data;
  } catch {
    return { ok: false, reason: 'invalid' };
  }
  if (payload.provider !== provider) return { ok: false, reason: 'wrong provider' };
  if (now >= payload.expiresAt) return { ok: false, reason: 'expired' };
  return { ok: true, payload };
}

const installQuery = z.object({
  tenant: z.string().min(1).max(200),
  token: z.string().min(1).optional(),
});
const zohoInstallQuery = installQuery.extend({
  org: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'org must be the Zoho CRM org id (Setup → Company Details)'),
  module: z.enum(['Contacts', 'Leads']).optional(),
});
const hubspotCallbackQuery = z.object({ code: z.string().min(1).max(2048), state: z.string().min(1) });
const zohoCallbackQuery = z.object({
  code: z.string().min(1).max(2048),
  state: z.string().min(1),
  'accounts-server': z.string().min(1).max(300),
  location: z.string().max(10).optional(),
});

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A small self-contained page; never echoes a code, state or token. */
function page(res: Response, status: number, title: string, message: string): void {
  res
    .status(status)
    .set({ 'Cache-Control': 'no-store', 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'", 'Referrer-Policy': 'no-referrer' })
    .type('html')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>CoEx – ${escapeHtml(title)}</title>` +
        `<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}</style></head>` +
        `<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body></html>`,
    );
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function oauthRouter(opts: OAuthRouterOptions): express.Router {
  const router = express.Router();
  const now = opts.now ?? Date.now;
  const base = opts.publicBaseUrl.replace(/\/+$/, '');
  const hubspotRedirect = `${base}/oauth/hubspot/callback`;
  const zohoRedirect = `${base}/oauth/zoho/callback`;

  const hubspotConfig = (h: NonNullable<OAuthRouterOptions['hubspot']>): HubSpotOAuthConfig => ({
    clientId: h.clientId,
    clientSecret: h.clientSecret,
    redirectUri: hubspotRedirect,
    scopes: h.scopes,
    ...(h.optionalScopes ? { optionalScopes: h.optionalScopes } : {}),
    ...(h.authorizeUrl ? { authorizeUrl: h.authorizeUrl } : {}),
    ...(h.baseUrl ? { apiBase: h.baseUrl } : {}),
  });
  const zohoOAuth = opts.zoho
    ? new ZohoOAuth({
        clientId: opts.zoho.clientId,
        clientSecret: opts.zoho.clientSecret,
        redirectUri: zohoRedirect,
        ...(opts.zoho.scopes ? { scopes: opts.zoho.scopes } : {}),
        ...(opts.zoho.allowedAccountsServers ? { allowedAccountsServers: opts.zoho.allowedAccountsServers } : {}),
        ...(opts.zoho.allowedApiDomains ? { allowedApiDomains: opts.zoho.allowedApiDomains } : {}),
        now,
      })
    : null;

  /** The caller's right to install for `tenant`: admin token, or that tenant's own API token. */
  async function authorizeInstall(req: Request, tenantId: string, queryToken: string | undefined): Promise<'ok' | 'unauthenticated' | 'forbidden' | 'unknown tenant'> {
    const header = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    const token = header?.[1] ?? queryToken;
    if (!token) return 'unauthenticated';
    const tenant = await opts.db.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst();
    if (opts.adminToken && secretEquals(token, opts.adminToken)) return tenant ? 'ok' : 'unknown tenant';
    const row = await opts.db.selectFrom('api_tokens').select('tenant_id').where('token_hash', '=', sha256Hex(token)).executeTakeFirst();
    if (!row) return 'unauthenticated';
    return row.tenant_id === tenantId && tenant ? 'ok' : 'forbidden';
  }

  /** Checks the caller may install for the tenant; answers the refusal itself and returns false. */
  async function startInstall(req: Request, res: Response, query: { tenant: string; token?: string | undefined }): Promise<boolean> {
    const auth = await authorizeInstall(req, query.tenant, query.token);
    if (auth === 'ok') return true;
    const [status, message] =
      auth === 'unauthenticated'
        ? [401, 'A valid CoEx API token is required to install (Authorization: Bearer, or the token parameter).']
        : auth === 'forbidden'
          ? [403, 'This API token may not install for that tenant.']
          : [404, 'No such tenant.'];
    page(res, status, 'Install refused', message);
    return false;
  }

  function newState(provider: Provider, tenantId: string, extra: { orgId?: string; module?: 'Contacts' | 'Leads' } = {}): string {
    return sealOAuthState(opts.cipher, { provider, tenantId, nonce: randomBytes(16).toString('base64url'), expiresAt: now() + OAUTH_STATE_TTL_MS, ...extra });
  }

  /** Opens the state and spends its nonce; answers 400 itself when it is bad, expired or replayed. */
  async function consumeState(res: Response, provider: Provider, state: string): Promise<StatePayload | null> {
    const check = openOAuthState(opts.cipher, state, provider, now());
    if (!check.ok) {
      opts.logger.warn({ provider, reason: check.reason }, 'oauth callback with a bad state');
      page(res, 400, 'Install link not valid', check.reason === 'expired' ? 'This install link has expired (10 minutes). Please start the install again.' : 'This install link is not valid. Please start the install again.');
      return null;
    }
    const { payload } = check;
    const inserted = await opts.db
      .insertInto('extension_nonces')
      .values({ crm: `oauth:${provider}`, account: payload.tenantId, nonce: payload.nonce, expires_at: new Date(payload.expiresAt) })
      .onConflict((oc) => oc.columns(['crm', 'account', 'nonce']).doNothing())
      .returning('nonce')
      .executeTakeFirst();
    if (!inserted) {
      opts.logger.warn({ provider, tenantId: payload.tenantId }, 'oauth callback replayed');
      page(res, 400, 'Install link already used', 'This install link was already used. Please start the install again.');
      return null;
    }
    return payload;
  }

  /** error=access_denied (the admin declined) or another authorization error from the provider. */
  function providerError(req: Request, res: Response, provider: Provider, label: string): boolean {
    const error = typeof req.query['error'] === 'string' ? req.query['error'] : null;
    if (error === null) return false;
    opts.logger.info({ provider, error: error.slice(0, 64) }, 'oauth install not authorized');
    if (error === 'access_denied') page(res, 400, 'Install cancelled', `Access was denied in ${label}, so nothing was connected. Start the install again to connect.`);
    else page(res, 400, 'Install failed', `${label} did not authorize the install (${error.slice(0, 64)}). Please try again.`);
    return true;
  }

  async function connect(res: Response, provider: Provider, label: string, tenantId: string, run: () => Promise<{ account: string }>): Promise<void> {
    try {
      const connection = await run();
      opts.logger.info({ provider, tenantId, account: connection.account }, 'crm connected by oauth install');
      page(res, 200, `${label} connected`, `${label} account ${connection.account} is now connected to CoEx. You can close this window.`);
    } catch (error) {
      const message = errorMessage(error);
      opts.logger.error({ provider, tenantId, err: message }, 'crm connection after oauth install failed');
      if (/already connected to another tenant/.test(message)) page(res, 409, 'Already connected', `This ${label} account is already connected to another CoEx tenant.`);
      else page(res, 502, 'Install failed', `${label} was authorized, but setting up the connection failed. Please try again later.`);
    }
  }

  // ── HubSpot ─────────────────────────────────────────────────────────────────────────────

  router.get('/oauth/hubspot/install', async (req, res) => {
    const hubspot = opts.hubspot;
    if (!hubspot) return page(res, 404, 'Not available', 'HubSpot installs are not configured on this server.');
    const query = installQuery.safeParse(req.query);
    if (!query.success) return page(res, 400, 'Install refused', 'The tenant parameter is required.');
    if (!(await startInstall(req, res, query.data))) return;
    res.set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' }).redirect(302, buildHubSpotAuthorizeUrl(hubspotConfig(hubspot), newState('hubspot', query.data.tenant)));
  });

  router.get('/oauth/hubspot/callback', async (req, res) => {
    const hubspot = opts.hubspot;
    if (!hubspot) return page(res, 404, 'Not available', 'HubSpot installs are not configured on this server.');
    if (providerError(req, res, 'hubspot', 'HubSpot')) return;
    const query = hubspotCallbackQuery.safeParse(req.query);
    if (!query.success) return page(res, 400, 'Install link not valid', 'The callback lacks its code or state. Please start the install again.');
    const state = await consumeState(res, 'hubspot', query.data.state);
    if (!state) return;
    let tokens: HubSpotTokens;
    try {
      tokens = await exchangeHubSpotCode(hubspotConfig(hubspot), query.data.code, now());
    } catch (error) {
      opts.logger.error({ provider: 'hubspot', tenantId: state.tenantId, err: errorMessage(error) }, 'hubspot code exchange failed');
      return page(res, 502, 'Install failed', 'HubSpot did not accept the authorization. Please start the install again.');
    }
    if (tokens.hubId === undefined || !/^\d+$/.test(tokens.hubId)) {
      opts.logger.error({ provider: 'hubspot', tenantId: state.tenantId }, 'hubspot token response without a hub id');
      return page(res, 502, 'Install failed', 'HubSpot did not say which account was installed. Please try again.');
    }
    const portalId = tokens.hubId;
    await connect(res, 'hubspot', 'HubSpot', state.tenantId, () =>
      connectCrm(opts.db, opts.cipher, state.tenantId, {
        crm: 'hubspot',
        portalId,
        clientSecret: hubspot.clientSecret,
        oauth: { clientId: hubspot.clientId, refreshToken: tokens.refreshToken, accessToken: tokens.accessToken, expiresAt: tokens.expiresAt, redirectUri: hubspotRedirect },
        ...(hubspot.baseUrl ? { basePath: hubspot.baseUrl } : {}),
      }, { now }),
    );
  });

  // ── Zoho ────────────────────────────────────────────────────────────────────────────────

  router.get('/oauth/zoho/install', async (req, res) => {
    if (!opts.zoho || !zohoOAuth) return page(res, 404, 'Not available', 'Zoho installs are not configured on this server.');
    const query = zohoInstallQuery.safeParse(req.query);
    if (!query.success) return page(res, 400, 'Install refused', 'The tenant and org parameters are required (org: the Zoho CRM org id).');
    if (!(await startInstall(req, res, query.data))) return;
    const state = newState('zoho', query.data.tenant, { orgId: query.data.org, ...(query.data.module ? { module: query.data.module } : {}) });
    const url = zohoOAuth.buildAuthorizeUrl({ state, ...(opts.zoho.accountsServer ? { accountsServer: opts.zoho.accountsServer } : {}) });
    res.set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' }).redirect(302, url);
  });

  router.get('/oauth/zoho/callback', async (req, res) => {
    const zoho = opts.zoho;
    if (!zoho || !zohoOAuth) return page(res, 404, 'Not available', 'Zoho installs are not configured on this server.');
    if (providerError(req, res, 'zoho', 'Zoho')) return;
    const query = zohoCallbackQuery.safeParse(req.query);
    if (!query.success) return page(res, 400, 'Install link not valid', 'The callback lacks its code, state or accounts-server. Please start the install again.');
    const accountsServer = query.data['accounts-server'];
    // Refused before the state is spent or anything is sent: the exchange would carry our client secret.
    if (!zohoOAuth.allowedAccountsServers.includes(safeOrigin(accountsServer))) {
      opts.logger.warn({ provider: 'zoho' }, 'zoho callback names an unknown accounts server');
      return page(res, 400, 'Install link not valid', 'The callback names an accounts server that is not Zoho’s.');
    }
    const state = await consumeState(res, 'zoho', query.data.state);
    if (!state) return;
    if (state.orgId === undefined) return page(res, 400, 'Install link not valid', 'This install link does not name a Zoho org. Please start the install again.');
    let tokens: ZohoTokenSet;
    try {
      tokens = await zohoOAuth.exchangeCode({ code: query.data.code, accountsServer });
    } catch (error) {
      opts.logger.error({ provider: 'zoho', tenantId: state.tenantId, err: errorMessage(error) }, 'zoho code exchange failed');
      return page(res, 502, 'Install failed', 'Zoho did not accept the authorization. Please start the install again.');
    }
    if (tokens.refreshToken === null) return page(res, 502, 'Install failed', 'Zoho returned no refresh token. Please start the install again.');
    const refreshToken = tokens.refreshToken;
    const orgId = state.orgId;
    await connect(res, 'zoho', 'Zoho CRM', state.tenantId, () =>
      connectCrm(opts.db, opts.cipher, state.tenantId, {
        crm: 'zoho',
        apiDomain: tokens.apiDomain,
        accountsServer: tokens.accountsServer,
        clientId: zoho.clientId,
        clientSecret: zoho.clientSecret,
        refreshToken,
        // The access token just issued: the connect-time check and the first writes need no refresh.
        accessToken: tokens.accessToken,
        accessTokenExpiresAt: tokens.expiresAt,
        module: state.module ?? 'Contacts',
        orgId,
        ...(zoho.allowedAccountsServers ? { allowedAccountsServers: zoho.allowedAccountsServers } : {}),
        ...(zoho.allowedApiDomains ? { allowedApiDomains: zoho.allowedApiDomains } : {}),
      }, { now }),
    );
  });

  return router;
}

function safeOrigin(url: string): string {
  if (!URL.canParse(url)) return '';
  const u = new URL(url);
  return u.pathname === '/' && u.username === '' && u.password === '' ? u.origin : '';
}
