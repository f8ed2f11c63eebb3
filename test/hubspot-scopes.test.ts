import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../core/src/config.js';
import { backends } from './helpers/backends.js';
import { startTestServer, TEST_ADMIN_TOKEN, type TestServer } from './helpers/runtime.js';

// One source of truth for HubSpot scopes: the app's hubspot-app/src/app/app-hsmeta.json. HubSpot
// refuses an install whose `scope` / `optional_scope` differ from the app's required / optional
// scopes, so the server's defaults (core/src/config.ts) and the install URL it sends admins to must
// carry exactly the same lists (docs/decisions/hubspot-scopes.md says why each scope is there).

const app = z
  .object({ config: z.object({ auth: z.object({ requiredScopes: z.array(z.string()), optionalScopes: z.array(z.string()) }) }) })
  .parse(JSON.parse(readFileSync(new URL('../hubspot-app/src/app/app-hsmeta.json', import.meta.url), 'utf8')));
const { requiredScopes, optionalScopes } = app.config.auth;
const sorted = (list: readonly string[]) => [...list].sort();

describe('HubSpot OAuth scopes', () => {
  it('server defaults are the app-hsmeta.json lists', () => {
    const config = loadConfig({});
    expect(sorted(config.HUBSPOT_OAUTH_SCOPES.split(/\s+/))).toEqual(sorted(requiredScopes));
    expect(sorted(config.HUBSPOT_OAUTH_OPTIONAL_SCOPES.split(/\s+/))).toEqual(sorted(optionalScopes));
  });

  it('declares the inbox channel scopes as optional, and no scope twice', () => {
    expect(optionalScopes).toEqual(expect.arrayContaining(['conversations.custom_channels.read', 'conversations.custom_channels.write']));
    expect(requiredScopes.filter((s) => optionalScopes.includes(s))).toEqual([]);
    expect(requiredScopes).toContain('oauth');
  });
});

describe.each(backends())('HubSpot install URL of a running server (%s)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(backend, { HUBSPOT_CLIENT_ID: 'hs-client-id', HUBSPOT_CLIENT_SECRET: 'hs-client-secret-xyz', PUBLIC_BASE_URL: 'https://crm.example.ma' });
    await server.runtime.db.insertInto('tenants').values({ id: 'shop-a', name: 'Shop A' }).onConflict((oc) => oc.doNothing()).execute();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('asks HubSpot for exactly the app\'s required and optional scopes', async () => {
    const res = await fetch(`${server.url}/oauth/hubspot/install?tenant=shop-a`, { redirect: 'manual', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location') ?? '');
    expect(sorted((location.searchParams.get('scope') ?? '').split(' '))).toEqual(sorted(requiredScopes));
    expect(sorted((location.searchParams.get('optional_scope') ?? '').split(' '))).toEqual(sorted(optionalScopes));
    expect(location.searchParams.get('redirect_uri')).toBe('https://crm.example.ma/oauth/hubspot/callback');
  });
});
