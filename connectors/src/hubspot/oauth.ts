import { z } from 'zod';
import { requestJson, type FetchLike } from '../http.js';
import { CrmError } from '../types.js';

/**
 * HubSpot OAuth for the marketplace app install. Token calls use the 2026-03 endpoint
 * (`POST /oauth/2026-03/token`, every parameter in the form body): the v1 endpoint the SDK still
 * calls is retired on 2027-02-16. Access tokens live 30 minutes.
 */

export const HUBSPOT_AUTHORIZE_URL = 'https://app.hubspot.com/oauth/authorize';
export const HUBSPOT_API_BASE = 'https://api.hubapi.com';
export const HUBSPOT_TOKEN_PATH = '/oauth/2026-03/token';

export interface HubSpotOAuthConfig {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** Required scopes, e.g. ['crm.objects.contacts.read', 'crm.objects.contacts.write', …]. */
  scopes: string[];
  optionalScopes?: string[];
  /** Defaults to https://app.hubspot.com/oauth/authorize. */
  authorizeUrl?: string;
  /** Defaults to https://api.hubapi.com (tests point it at the fake). */
  apiBase?: string;
  fetch?: FetchLike;
  timeoutMs?: number;
}

export interface HubSpotTokens {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms. */
  expiresAt: number;
  /** The portal the tokens belong to, when HubSpot says so in the token response. */
  hubId?: string;
}

/**
 * HubSpot documents snake_case (access_token, expires_in…); its generated reference also shows
 * camelCase (accessToken, hubId…). Accept both rather than break on whichever the server sends.
 */
const tokenResponseSchema = z
  .looseObject({
    access_token: z.string().min(1).optional(),
    accessToken: z.string().min(1).optional(),
    refresh_token: z.string().min(1).optional(),
    refreshToken: z.string().min(1).optional(),
    expires_in: z.number().int().positive().optional(),
    expiresIn: z.number().int().positive().optional(),
    hub_id: z.union([z.number(), z.string()]).optional(),
    hubId: z.union([z.number(), z.string()]).optional(),
  })
  .transform((r, ctx) => {
    const accessToken = r.access_token ?? r.accessToken;
    const refreshToken = r.refresh_token ?? r.refreshToken;
    const expiresIn = r.expires_in ?? r.expiresIn;
    if (!accessToken || !refreshToken || !expiresIn) {
      ctx.addIssue({ code: 'custom', message: 'token response lacks access_token, refresh_token or expires_in' });
      return z.NEVER;
    }
    const hubId = r.hub_id ?? r.hubId;
    return { accessToken, refreshToken, expiresIn, hubId: hubId === undefined ? undefined : String(hubId) };
  });

/** The URL to send the installing admin to. `state` must be an unguessable value tied to their session. */
export function buildHubSpotAuthorizeUrl(config: HubSpotOAuthConfig, state: string): string {
  if (config.scopes.length === 0) throw new Error('HubSpot OAuth: at least one scope is required');
  if (!state) throw new Error('HubSpot OAuth: state is required (CSRF protection)');
  // HubSpot separates scopes with spaces; encode them as %20 like its own examples do.
  const params: [string, string][] = [
    ['client_id', config.clientId],
    ['redirect_uri', config.redirectUri],
    ['scope', config.scopes.join(' ')],
  ];
  if (config.optionalScopes && config.optionalScopes.length > 0) params.push(['optional_scope', config.optionalScopes.join(' ')]);
  params.push(['state', state]);
  const query = params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  return `${config.authorizeUrl ?? HUBSPOT_AUTHORIZE_URL}?${query}`;
}

async function tokenCall(config: HubSpotOAuthConfig, form: Record<string, string>, now: number): Promise<HubSpotTokens> {
  const url = `${(config.apiBase ?? HUBSPOT_API_BASE).replace(/\/$/, '')}${HUBSPOT_TOKEN_PATH}`;
  const init = {
    method: 'POST',
    body: new URLSearchParams({ ...form, client_id: config.clientId, client_secret: config.clientSecret }),
    schema: tokenResponseSchema,
    ...(config.timeoutMs !== undefined ? { timeoutMs: config.timeoutMs } : {}),
  };
  const res = config.fetch ? await requestJson('hubspot', url, init, config.fetch) : await requestJson('hubspot', url, init);
  if (res.data === null) throw new CrmError('hubspot: token endpoint returned an empty body', 'hubspot', true, res.status);
  const { accessToken, refreshToken, expiresIn, hubId } = res.data;
  return { accessToken, refreshToken, expiresAt: now + expiresIn * 1000, ...(hubId !== undefined ? { hubId } : {}) };
}

/** Exchanges the `code` from the install redirect for tokens. */
export function exchangeHubSpotCode(config: HubSpotOAuthConfig, code: string, now: number = Date.now()): Promise<HubSpotTokens> {
  if (!code) throw new Error('HubSpot OAuth: code is required');
  return tokenCall(config, { grant_type: 'authorization_code', code, redirect_uri: config.redirectUri }, now);
}

/** Gets a new access token. A 400 here (revoked/unknown refresh token) is not retryable: reinstall needed. */
export function refreshHubSpotToken(config: HubSpotOAuthConfig, token: string, now: number = Date.now()): Promise<HubSpotTokens> {
  if (!token) throw new Error('HubSpot OAuth: refresh token is required');
  return tokenCall(config, { grant_type: 'refresh_token', refresh_token: token, redirect_uri: config.redirectUri }, now);
}

export interface HubSpotTokenManagerOptions {
  /** Refresh this long before expiry. Default 60 s. */
  refreshSkewMs?: number;
  now?: () => number;
  /** Persist rotated tokens (encrypted at rest by the caller). Awaited before the new token is used. */
  onRefresh?: (tokens: HubSpotTokens) => void | Promise<void>;
}

/**
 * Hands out a valid access token, refreshing it 60 s before expiry. Single-flight: concurrent
 * callers during a refresh share one token call (HubSpot may rotate the refresh token, and two
 * parallel refreshes would race on which one is kept).
 */
export class HubSpotTokenManager {
  private tokens: HubSpotTokens;
  private inFlight: Promise<HubSpotTokens> | null = null;
  private readonly skew: number;
  private readonly now: () => number;

  constructor(
    private readonly config: HubSpotOAuthConfig,
    initial: HubSpotTokens,
    private readonly options: HubSpotTokenManagerOptions = {},
  ) {
    this.tokens = initial;
    this.skew = options.refreshSkewMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  current(): HubSpotTokens {
    return this.tokens;
  }

  async getAccessToken(): Promise<string> {
    if (this.now() < this.tokens.expiresAt - this.skew) return this.tokens.accessToken;
    return (await this.refresh()).accessToken;
  }

  /** Forces a refresh (e.g. after a 401 EXPIRED_AUTHENTICATION), joining one already running. */
  refresh(): Promise<HubSpotTokens> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = (async () => {
      try {
        const next = await refreshHubSpotToken(this.config, this.tokens.refreshToken, this.now());
        const hubId = next.hubId ?? this.tokens.hubId;
        const merged: HubSpotTokens = hubId !== undefined ? { ...next, hubId } : next;
        await this.options.onRefresh?.(merged);
        this.tokens = merged;
        return merged;
      } finally {
        this.inFlight = null;
      }
    })();
    return this.inFlight;
  }
}
