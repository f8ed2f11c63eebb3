import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CrmError } from '../types.js';
import { checkZohoOrigin, ZOHO_ACCOUNTS_SERVERS, ZOHO_API_DOMAINS, ZohoOAuth } from './oauth.js';

/** A one-route token endpoint answering a fixed JSON body with HTTP 200, as Zoho does even for errors. */
async function tokenServer(body: unknown) {
  const srv = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return { url, close: () => new Promise((r) => srv.close(r)) };
}

let close: (() => Promise<unknown>) | null = null;
afterEach(async () => {
  await close?.();
  close = null;
});

describe('checkZohoOrigin', () => {
  it('accepts the known data centres and rejects look-alikes, other schemes, paths and credentials', () => {
    expect(checkZohoOrigin('https://accounts.zoho.eu', ZOHO_ACCOUNTS_SERVERS, 'accounts server')).toBe('https://accounts.zoho.eu');
    expect(checkZohoOrigin('https://accounts.zoho.com.au/', ZOHO_ACCOUNTS_SERVERS, 'accounts server')).toBe('https://accounts.zoho.com.au');
    expect(checkZohoOrigin('https://www.zohoapis.sa', ZOHO_API_DOMAINS, 'API domain')).toBe('https://www.zohoapis.sa');
    for (const bad of [
      'https://accounts.zoho.eu.evil.example',
      'http://accounts.zoho.eu',
      'https://evil.example/accounts.zoho.eu',
      'https://accounts.zoho.eu/oauth/v2/token',
      'https://user:pw@accounts.zoho.eu',
      'https://accounts.zoho.eu:8443',
      'not a url',
    ]) {
      expect(() => checkZohoOrigin(bad, ZOHO_ACCOUNTS_SERVERS, 'accounts server')).toThrow();
    }
  });

  it('lists every data centre the brief names, with Canada on zohocloud.ca as Zoho ships it', () => {
    expect(ZOHO_ACCOUNTS_SERVERS).toHaveLength(8);
    expect(ZOHO_ACCOUNTS_SERVERS).toContain('https://accounts.zohocloud.ca');
    expect(ZOHO_API_DOMAINS).toContain('https://www.zohoapis.com.cn');
  });
});

describe('ZohoOAuth', () => {
  it('builds the authorize URL with offline access, consent, scopes and state', () => {
    const url = new URL(new ZohoOAuth({ clientId: '1000.X', clientSecret: 's', redirectUri: 'https://coex.example/cb', scopes: ['A.b', 'C.d'] }).buildAuthorizeUrl({ state: 'xyz' }));
    expect(url.origin).toBe('https://accounts.zoho.com');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      scope: 'A.b,C.d',
      client_id: '1000.X',
      response_type: 'code',
      access_type: 'offline',
      prompt: 'consent',
      redirect_uri: 'https://coex.example/cb',
      state: 'xyz',
    });
  });

  it('reads the older token shape where expires_in is in milliseconds', async () => {
    const s = await tokenServer({ access_token: 'a', api_domain: 'https://www.zohoapis.in', token_type: 'Bearer', expires_in_sec: 3600, expires_in: 3_600_000 });
    close = s.close;
    const oauth = new ZohoOAuth({ clientId: 'c', clientSecret: 's', allowedAccountsServers: [s.url], now: () => 1_000 });
    const t = await oauth.refreshAccessToken({ refreshToken: 'r', accountsServer: s.url });
    expect(t).toMatchObject({ accessToken: 'a', apiDomain: 'https://www.zohoapis.in', expiresAt: 1_000 + 3_600_000, refreshToken: null });
  });

  it('rejects an api_domain that is not Zoho, so the access token is never sent there', async () => {
    const s = await tokenServer({ access_token: 'a', api_domain: 'https://zohoapis.attacker.example', expires_in: 3600 });
    close = s.close;
    const oauth = new ZohoOAuth({ clientId: 'c', clientSecret: 's', allowedAccountsServers: [s.url] });
    await expect(oauth.refreshAccessToken({ refreshToken: 'r', accountsServer: s.url })).rejects.toThrow(/not a known Zoho API domain/);
  });

  it('makes token throttling retryable and other token errors final', async () => {
    const s = await tokenServer({ error: 'Access Denied', error_description: 'You have made too many requests continuously. Please try again after some time.' });
    close = s.close;
    const oauth = new ZohoOAuth({ clientId: 'c', clientSecret: 's', allowedAccountsServers: [s.url] });
    const err = await oauth.refreshAccessToken({ refreshToken: 'r', accountsServer: s.url }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrmError);
    expect(err).toMatchObject({ retryable: true, retryAfterSeconds: 60 });
  });
});
