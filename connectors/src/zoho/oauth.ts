import { z } from 'zod';
import { requestJson, type FetchLike } from '../http.js';
import { CrmError } from '../types.js';

/**
 * Zoho multi-DC OAuth. A user signs in on their data centre's accounts server; the callback names it
 * (`accounts-server`, `location`), the code is exchanged there, and the token response says which
 * API domain to call. Both URLs come from the outside, so both are checked against Zoho's known
 * hosts: a forged callback must not get our client secret (sent to the accounts server) or an
 * access token (sent to the API domain).
 */

/** Accounts servers per data centre, as Zoho's own SDKs list them (Canada is zohocloud.ca). */
export const ZOHO_ACCOUNTS_SERVERS: readonly string[] = [
  'https://accounts.zoho.com',
  'https://accounts.zoho.eu',
  'https://accounts.zoho.in',
  'https://accounts.zoho.com.au',
  'https://accounts.zoho.jp',
  'https://accounts.zohocloud.ca',
  'https://accounts.zoho.sa',
  'https://accounts.zoho.com.cn',
];

const API_TLDS = ['com', 'eu', 'in', 'com.au', 'jp', 'ca', 'sa', 'com.cn'];
/** CRM API domains: production, sandbox and developer environments of every data centre. */
export const ZOHO_API_DOMAINS: readonly string[] = API_TLDS.flatMap((tld) =>
  ['www', 'sandbox', 'developer'].map((env) => `https://${env}.zohoapis.${tld}`),
);

export const ZOHO_DEFAULT_SCOPES: readonly string[] = [
  'ZohoCRM.modules.contacts.ALL',
  'ZohoCRM.modules.leads.ALL',
  'ZohoCRM.modules.notes.ALL',
  'ZohoSearch.securesearch.READ',
  'ZohoCRM.org.READ',
];

/** Origin of `url` when it is exactly one of `allowed` (scheme + host + port, no path tricks). */
export function checkZohoOrigin(url: string, allowed: readonly string[], what: string): string {
  if (!URL.canParse(url)) throw new Error(`Zoho: ${what} is not a URL`);
  const parsed = new URL(url);
  const origin = parsed.origin;
  const pathOk = parsed.pathname === '/' || parsed.pathname === '';
  if (!pathOk || parsed.username !== '' || parsed.password !== '' || !allowed.includes(origin)) {
    throw new Error(`Zoho: ${what} ${JSON.stringify(origin)} is not a known Zoho ${what}`);
  }
  return origin;
}

const tokenSuccess = z.looseObject({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  api_domain: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().positive().optional(),
  /** Older responses carried seconds here and milliseconds in expires_in. */
  expires_in_sec: z.number().positive().optional(),
});
// Zoho answers token errors with HTTP 200 and { "error": "invalid_code" }.
const tokenError = z.looseObject({ error: z.string(), error_description: z.string().optional() });
const tokenResponse = z.union([tokenSuccess, tokenError]);

export interface ZohoTokenSet {
  accessToken: string;
  /** Only on the authorization-code exchange. */
  refreshToken: string | null;
  apiDomain: string;
  accountsServer: string;
  /** Epoch ms. */
  expiresAt: number;
}

export interface ZohoOAuthConfig {
  clientId: string;
  clientSecret: string;
  /** Redirect URI registered for the client; needed to build the authorize URL and to exchange codes. */
  redirectUri?: string;
  scopes?: readonly string[];
  /** Replaces the known Zoho hosts (tests pointing at a fake). */
  allowedAccountsServers?: readonly string[];
  allowedApiDomains?: readonly string[];
  timeoutMs?: number;
  fetch?: FetchLike;
  now?: () => number;
  /** Called once per HTTP request made (the connector counts API calls with it). */
  onRequest?: () => void;
}

export class ZohoOAuth {
  readonly allowedAccountsServers: readonly string[];
  readonly allowedApiDomains: readonly string[];

  constructor(private readonly config: ZohoOAuthConfig) {
    if (config.clientId === '' || config.clientSecret === '') throw new Error('ZohoOAuth: clientId and clientSecret are required');
    this.allowedAccountsServers = config.allowedAccountsServers ?? ZOHO_ACCOUNTS_SERVERS;
    this.allowedApiDomains = config.allowedApiDomains ?? ZOHO_API_DOMAINS;
  }

  /** Where to send the admin: any DC's accounts server works, Zoho redirects to the user's own. */
  buildAuthorizeUrl(params: { state: string; accountsServer?: string; prompt?: 'consent' | 'none' }): string {
    if (!this.config.redirectUri) throw new Error('ZohoOAuth: redirectUri is required to build the authorize URL');
    const accounts = checkZohoOrigin(params.accountsServer ?? 'https://accounts.zoho.com', this.allowedAccountsServers, 'accounts server');
    const url = new URL('/oauth/v2/auth', accounts);
    url.searchParams.set('scope', (this.config.scopes ?? ZOHO_DEFAULT_SCOPES).join(','));
    url.searchParams.set('client_id', this.config.clientId);
    url.searchParams.set('response_type', 'code');
    // offline + consent: a refresh token on every install.
    url.searchParams.set('access_type', 'offline');
    url.searchParams.set('prompt', params.prompt ?? 'consent');
    url.searchParams.set('redirect_uri', this.config.redirectUri);
    url.searchParams.set('state', params.state);
    return url.toString();
  }

  /** Exchanges the callback's code at the callback's `accounts-server` (after checking it is Zoho's). */
  async exchangeCode(params: { code: string; accountsServer: string }): Promise<ZohoTokenSet> {
    if (!this.config.redirectUri) throw new Error('ZohoOAuth: redirectUri is required to exchange a code');
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: this.config.clientId,
      client_secret: this.config.clientSecret,
      redirect_uri: this.config.redirectUri,
      code: params.code,
    });
    const token = await this.tokenCall(params.accountsServer, form, 'code exchange');
    if (token.refreshToken === null) {
      throw new CrmError('zoho: code exchange returned no refresh_token (was access_type=offline used?)', 'zoho', false);
    }
    return token;
  }

  /** A new 1-hour access token from the refresh token. */
  refreshAccessToken(params: { refreshToken: string; accountsServer: string }): Promise<ZohoTokenSet> {
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: this.config.clientId,
      client_secret: this.config.clientSecret,
      refresh_token: params.refreshToken,
    });
    return this.tokenCall(params.accountsServer, form, 'token refresh');
  }

  private async tokenCall(accountsServer: string, form: URLSearchParams, what: string): Promise<ZohoTokenSet> {
    // Checked before anything is sent: the form carries our client secret.
    const accounts = checkZohoOrigin(accountsServer, this.allowedAccountsServers, 'accounts server');
    const url = `${accounts}/oauth/v2/token`;
    const init = {
      method: 'POST',
      body: form,
      schema: tokenResponse,
      ...(this.config.timeoutMs !== undefined ? { timeoutMs: this.config.timeoutMs } : {}),
    };
    this.config.onRequest?.();
    const res = this.config.fetch ? await requestJson('zoho', url, init, this.config.fetch) : await requestJson('zoho', url, init);
    const body = res.data;
    if (body === null) throw new CrmError(`zoho: ${what} returned an empty body`, 'zoho', false, res.status);
    if ('error' in body && typeof body.error === 'string') {
      // Zoho throttles token calls (a few per minute per refresh token) with this error text.
      const throttled = /too many requests/i.test(String(body.error_description ?? ''));
      throw new CrmError(
        `zoho: ${what} failed: ${body.error}${throttled ? ' (throttled)' : ''}`,
        'zoho',
        throttled,
        res.status,
        throttled ? 60 : undefined,
      );
    }
    const ok = tokenSuccess.parse(body);
    const apiDomain = checkZohoOrigin(ok.api_domain, this.allowedApiDomains, 'API domain');
    const seconds = ok.expires_in_sec ?? (ok.expires_in !== undefined ? (ok.expires_in > 86_400 ? ok.expires_in / 1000 : ok.expires_in) : 3600);
    const now = this.config.now?.() ?? Date.now();
    return {
      accessToken: ok.access_token,
      refreshToken: ok.refresh_token ?? null,
      apiDomain,
      accountsServer: accounts,
      expiresAt: now + seconds * 1000,
    };
  }
}
