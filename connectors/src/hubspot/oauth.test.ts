import { describe, expect, it } from 'vitest';
import { CrmError } from '../types.js';
import { HubSpotTokenManager, buildHubSpotAuthorizeUrl, refreshHubSpotToken, type HubSpotOAuthConfig, type HubSpotTokens } from './oauth.js';

function stubFetch(responses: (() => Response)[]) {
  const calls: { url: string; body: string }[] = [];
  const impl = async (input: string | URL, init?: RequestInit): Promise<Response> => {
    calls.push({ url: String(input), body: String(init?.body ?? '') });
    // Let concurrent callers pile up while the "network" is busy.
    await new Promise((r) => setTimeout(r, 5));
    const next = responses.shift();
    if (!next) throw new Error('no more stubbed responses');
    return next();
  };
  return { impl, calls };
}

const json = (status: number, body: unknown) => () =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const baseConfig: HubSpotOAuthConfig = {
  clientId: 'cid',
  clientSecret: 'csecret',
  redirectUri: 'https://coex.example/cb',
  scopes: ['crm.objects.contacts.read'],
  apiBase: 'https://api.hubapi.test',
};

describe('buildHubSpotAuthorizeUrl', () => {
  it('requires scopes and state', () => {
    expect(() => buildHubSpotAuthorizeUrl({ ...baseConfig, scopes: [] }, 's')).toThrow(/scope/);
    expect(() => buildHubSpotAuthorizeUrl(baseConfig, '')).toThrow(/state/);
  });
});

describe('refreshToken', () => {
  it('accepts snake_case and camelCase token responses', async () => {
    const snake = stubFetch([json(200, { access_token: 'a1', refresh_token: 'r1', expires_in: 1800, token_type: 'bearer' })]);
    expect(await refreshHubSpotToken({ ...baseConfig, fetch: snake.impl }, 'r0', 1000)).toEqual({ accessToken: 'a1', refreshToken: 'r1', expiresAt: 1000 + 1_800_000 });
    expect(snake.calls[0]!.url).toBe('https://api.hubapi.test/oauth/2026-03/token');
    expect(new URLSearchParams(snake.calls[0]!.body).get('client_secret')).toBe('csecret');

    const camel = stubFetch([json(200, { accessToken: 'a2', refreshToken: 'r2', expiresIn: 60, hubId: 42 })]);
    expect(await refreshHubSpotToken({ ...baseConfig, fetch: camel.impl }, 'r0', 0)).toEqual({ accessToken: 'a2', refreshToken: 'r2', expiresAt: 60_000, hubId: '42' });
  });

  it('rejects a response without tokens', async () => {
    const bad = stubFetch([json(200, { access_token: 'a1' })]);
    await expect(refreshHubSpotToken({ ...baseConfig, fetch: bad.impl }, 'r0')).rejects.toBeInstanceOf(CrmError);
  });
});

describe('HubSpotTokenManager', () => {
  const initial: HubSpotTokens = { accessToken: 'old', refreshToken: 'r0', expiresAt: 100_000, hubId: '7' };

  it('serves the cached token until 60 s before expiry', async () => {
    const stub = stubFetch([]);
    const m = new HubSpotTokenManager({ ...baseConfig, fetch: stub.impl }, initial, { now: () => 39_999 });
    expect(await m.getAccessToken()).toBe('old');
    expect(stub.calls).toHaveLength(0);
  });

  it('refreshes once for concurrent callers and keeps the hub id', async () => {
    const stub = stubFetch([json(200, { access_token: 'new', refresh_token: 'r1', expires_in: 1800 })]);
    const saved: HubSpotTokens[] = [];
    const m = new HubSpotTokenManager({ ...baseConfig, fetch: stub.impl }, initial, { now: () => 40_001, onRefresh: (t) => void saved.push(t) });
    const tokens = await Promise.all(Array.from({ length: 5 }, () => m.getAccessToken()));
    expect(tokens).toEqual(['new', 'new', 'new', 'new', 'new']);
    expect(stub.calls).toHaveLength(1);
    expect(saved).toEqual([{ accessToken: 'new', refreshToken: 'r1', expiresAt: 40_001 + 1_800_000, hubId: '7' }]);
    expect(m.current().refreshToken).toBe('r1');
  });

  it('surfaces a failed refresh and tries again on the next call', async () => {
    const stub = stubFetch([
      json(503, { message: 'try later' }),
      json(200, { access_token: 'new', refresh_token: 'r1', expires_in: 1800 }),
    ]);
    const m = new HubSpotTokenManager({ ...baseConfig, fetch: stub.impl }, initial, { now: () => 100_000 });
    await expect(m.getAccessToken()).rejects.toMatchObject({ retryable: true, status: 503 });
    expect(await m.getAccessToken()).toBe('new');
  });
});
