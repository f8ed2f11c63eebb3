import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchivedMessage } from '@coex/connectors';
import { openDatabase, migrateToLatest, type DatabaseHandle } from '../core/src/db/index.js';
import { TokenCipher, sha256Hex } from '../core/src/crypto.js';
import { oauthRouter, OAUTH_STATE_TTL_MS } from '../core/src/crm/oauth-routes.js';
import { crmCredentialsSchema } from '../core/src/crm/registry.js';
import { loadConnector, persistentConnectorFactory, saveHubSpotTokens } from '../core/src/crm/token-store.js';
import { backends, createTestDatabase, type TestDatabase } from './helpers/backends.js';
import { waitFor } from './helpers/wait.js';
import { FakeHubSpot } from './fakes/hubspot.js';
import { startZohoFake, type ZohoFake } from './fakes/zoho.js';

const ADMIN = 'admin-token-for-oauth-tests-0123';
const TENANT_TOKEN = 'tenant-a-api-token-0123456789';
const OTHER_TOKEN = 'tenant-b-api-token-0123456789';
const HS_CLIENT = { clientId: 'hs-client-id', clientSecret: 'hs-client-secret-xyz' };

let seq = 0;
function msg(over: Partial<ArchivedMessage> = {}): ArchivedMessage {
  seq++;
  return {
    id: `oauth-msg-${seq}`,
    wamid: `wamid.oauth.${seq}`,
    threadId: 'thread-oauth',
    direction: 'inbound',
    origin: 'customer',
    type: 'text',
    text: `hello ${seq}`,
    timestamp: new Date(Date.parse('2026-03-01T09:00:00Z') + seq * 1000).toISOString(),
    status: null,
    customerPhone: '+212612345678',
    customerName: 'Amina El Idrissi',
    businessPhone: '+212522000000',
    ...over,
  };
}

describe.each(backends())('CRM OAuth installs (%s)', (backend) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let server: Server;
  let baseUrl: string;
  let cipher: TokenCipher;
  let hs: FakeHubSpot;
  let zoho: ZohoFake;
  let clock: number;
  let logLines: string[];
  const now = () => clock;

  beforeEach(async () => {
    clock = Date.parse('2026-03-01T10:00:00Z');
    logLines = [];
    database = await createTestDatabase(backend);
    handle = await openDatabase({ databaseUrl: database.databaseUrl });
    await migrateToLatest(handle.db);
    await handle.db.insertInto('tenants').values([{ id: 'tenant-a', name: 'A' }, { id: 'tenant-b', name: 'B' }]).execute();
    await handle.db
      .insertInto('api_tokens')
      .values([
        { token_hash: sha256Hex(TENANT_TOKEN), tenant_id: 'tenant-a', label: 'a' },
        { token_hash: sha256Hex(OTHER_TOKEN), tenant_id: 'tenant-b', label: 'b' },
      ])
      .execute();
    cipher = TokenCipher.fromKey(randomBytes(32).toString('base64'));

    const app = express();
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    hs = await FakeHubSpot.start({ now, oauth: { ...HS_CLIENT, redirectUri: `${baseUrl}/oauth/hubspot/callback` } });
    zoho = await startZohoFake({ redirectUri: `${baseUrl}/oauth/zoho/callback`, location: 'eu' });
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          logLines.push(chunk.toString('utf8'));
          cb();
        },
      }),
    );
    app.use(
      oauthRouter({
        db: handle.db,
        cipher,
        logger,
        publicBaseUrl: baseUrl,
        adminToken: ADMIN,
        now,
        hubspot: { ...HS_CLIENT, scopes: ['crm.objects.contacts.read', 'crm.objects.contacts.write'], optionalScopes: ['crm.objects.deals.read'], baseUrl: hs.url },
        zoho: {
          clientId: zoho.clientId,
          clientSecret: zoho.clientSecret,
          accountsServer: zoho.accountsUrl,
          allowedAccountsServers: [zoho.accountsUrl],
          allowedApiDomains: [zoho.apiUrl],
        },
      }),
    );
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await hs.close();
    await zoho.close();
    await handle.close();
    await database.drop();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${baseUrl}${path}`, { redirect: 'manual', headers });

  /** Starts a HubSpot install as tenant-a and returns the authorize URL it redirects to. */
  async function hubspotInstall(): Promise<URL> {
    const res = await get('/oauth/hubspot/install?tenant=tenant-a', { authorization: `Bearer ${TENANT_TOKEN}` });
    expect(res.status).toBe(302);
    return new URL(res.headers.get('location')!);
  }

  async function connectionRow(crm: string) {
    return handle.db.selectFrom('crm_connections').selectAll().where('crm', '=', crm as 'hubspot').executeTakeFirstOrThrow();
  }

  function secretsLogged(...secrets: string[]): string[] {
    return secrets.filter((s) => logLines.some((line) => line.includes(s)));
  }

  it('HubSpot: install → consent → callback stores an encrypted OAuth connection, archives with it, and persists refreshed tokens', async () => {
    const authorize = await hubspotInstall();
    expect(authorize.origin + authorize.pathname).toBe('https://app.hubspot.com/oauth/authorize');
    expect(authorize.searchParams.get('client_id')).toBe(HS_CLIENT.clientId);
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${baseUrl}/oauth/hubspot/callback`);
    expect(authorize.searchParams.get('scope')).toBe('crm.objects.contacts.read crm.objects.contacts.write');
    expect(authorize.searchParams.get('optional_scope')).toBe('crm.objects.deals.read');
    const state = authorize.searchParams.get('state')!;
    // The tenant travels sealed, not readable.
    expect(state).not.toContain('tenant-a');

    const code = hs.issueAuthCode();
    const cb = await get(`/oauth/hubspot/callback?code=${encodeURIComponent(code)}&state=${state}`);
    expect(cb.status).toBe(200);
    expect(await cb.text()).toContain(`HubSpot account ${hs.portalId} is now connected`);

    const tokenCall = hs.requests.find((r) => r.path === '/oauth/2026-03/token')!;
    expect(tokenCall.method).toBe('POST');
    expect(tokenCall.query).toEqual({});
    expect(tokenCall.body).toMatchObject({ grant_type: 'authorization_code', code, client_id: HS_CLIENT.clientId, redirect_uri: `${baseUrl}/oauth/hubspot/callback` });

    const row = await connectionRow('hubspot');
    expect(row.tenant_id).toBe('tenant-a');
    expect(row.account).toBe(String(hs.portalId));
    const creds = crmCredentialsSchema.parse(JSON.parse(cipher.decrypt(row.credentials_enc)));
    if (creds.crm !== 'hubspot' || !creds.oauth) throw new Error('expected HubSpot OAuth credentials');
    expect(creds.accessToken).toBeUndefined();
    expect(creds.oauth.clientId).toBe(HS_CLIENT.clientId);
    expect(creds.oauth.expiresAt).toBe(clock + 1800 * 1000);
    expect(row.credentials_enc).not.toContain(creds.oauth.refreshToken);
    // ensureProperties ran with the installed token.
    const propertyWrites = hs.requests.filter((r) => r.method === 'POST' && /^\/crm\/v3\/properties\/(communications|notes)$/.test(r.path));
    expect(propertyWrites.map((r) => (r.body as { name: string }).name)).toContain('coex_message_id');
    expect(propertyWrites[0]!.headers.authorization).toBe(`Bearer ${creds.oauth.accessToken}`);

    // An archive through the persistent connector uses the stored OAuth token.
    const factory = persistentConnectorFactory({ db: handle.db, cipher, logger: pino({ level: 'silent' }), now });
    const connector = (await loadConnector(factory, handle.db, row.id))!;
    const first = msg();
    const archived = await connector.archive([first]);
    expect(archived.written[first.id]).toBeTruthy();
    expect(hs.apiRequests().at(-1)!.headers.authorization).toBe(`Bearer ${creds.oauth.accessToken}`);
    expect(hs.requests.filter((r) => r.path === '/oauth/2026-03/token')).toHaveLength(1);

    // 31 minutes later the token has expired: the connector refreshes and the new token is stored.
    clock += 31 * 60_000;
    const second = msg();
    expect((await connector.archive([second])).written[second.id]).toBeTruthy();
    const refreshCall = hs.requests.filter((r) => r.path === '/oauth/2026-03/token').at(-1)!;
    expect(refreshCall.body).toMatchObject({ grant_type: 'refresh_token', refresh_token: creds.oauth.refreshToken });
    const after = await connectionRow('hubspot');
    const refreshed = crmCredentialsSchema.parse(JSON.parse(cipher.decrypt(after.credentials_enc)));
    if (refreshed.crm !== 'hubspot' || !refreshed.oauth) throw new Error('expected HubSpot OAuth credentials');
    expect(refreshed.oauth.accessToken).not.toBe(creds.oauth.accessToken);
    expect(refreshed.oauth.expiresAt).toBe(clock + 1800 * 1000);
    expect(hs.apiRequests().at(-1)!.headers.authorization).toBe(`Bearer ${refreshed.oauth.accessToken}`);

    // Another process starting now reads the refreshed token and needs no refresh of its own.
    const otherProcess = persistentConnectorFactory({ db: handle.db, cipher, logger: pino({ level: 'silent' }), now });
    const third = msg();
    expect((await (await loadConnector(otherProcess, handle.db, row.id))!.archive([third])).written[third.id]).toBeTruthy();
    expect(hs.requests.filter((r) => r.path === '/oauth/2026-03/token')).toHaveLength(2);

    expect(secretsLogged(code, state, creds.oauth.refreshToken, creds.oauth.accessToken!, HS_CLIENT.clientSecret, TENANT_TOKEN)).toEqual([]);
  });

  it('token store: compare-and-swap keeps the newer tokens when two processes refresh', async () => {
    const code = hs.issueAuthCode();
    const state = (await hubspotInstall()).searchParams.get('state')!;
    expect((await get(`/oauth/hubspot/callback?code=${code}&state=${state}`)).status).toBe(200);
    const row = await connectionRow('hubspot');
    const creds = crmCredentialsSchema.parse(JSON.parse(cipher.decrypt(row.credentials_enc)));
    if (creds.crm !== 'hubspot' || !creds.oauth) throw new Error('expected HubSpot OAuth credentials');
    const from = creds.oauth.refreshToken;
    const later = { accessToken: 'at-later', refreshToken: from, expiresAt: clock + 3_600_000 };
    const earlier = { accessToken: 'at-earlier', refreshToken: from, expiresAt: clock + 1_900_000 };

    const results = await Promise.all([saveHubSpotTokens(handle.db, cipher, row.id, from, earlier), saveHubSpotTokens(handle.db, cipher, row.id, from, later)]);
    expect(results.map((r) => r.outcome)).toContain('written');
    const stored = crmCredentialsSchema.parse(JSON.parse(cipher.decrypt((await connectionRow('hubspot')).credentials_enc)));
    if (stored.crm !== 'hubspot' || !stored.oauth) throw new Error('expected HubSpot OAuth credentials');
    expect(stored.oauth.accessToken).toBe('at-later');
    // A stale write arriving afterwards is refused, as is one from another lineage (a reinstall).
    expect((await saveHubSpotTokens(handle.db, cipher, row.id, from, earlier)).outcome).toBe('superseded');
    expect((await saveHubSpotTokens(handle.db, cipher, row.id, 'rt-of-an-old-install', { ...later, refreshToken: 'rt-x', expiresAt: clock + 9_999_999 })).outcome).toBe('superseded');
    expect((await saveHubSpotTokens(handle.db, cipher, '00000000-0000-0000-0000-000000000000', from, later)).outcome).toBe('gone');
  });

  it('Zoho: install → consent on an EU accounts server → callback stores the connection; its connector archives', async () => {
    const res = await get('/oauth/zoho/install?tenant=tenant-a&org=20071234567&module=Contacts', { authorization: `Bearer ${ADMIN}` });
    expect(res.status).toBe(302);
    const authorize = new URL(res.headers.get('location')!);
    expect(authorize.origin).toBe(zoho.accountsUrl);
    expect(authorize.searchParams.get('access_type')).toBe('offline');
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${baseUrl}/oauth/zoho/callback`);

    // The fake's consent screen redirects back with the DC's location and accounts-server.
    const consent = await fetch(authorize, { redirect: 'manual' });
    expect(consent.status).toBe(302);
    const callback = new URL(consent.headers.get('location')!);
    expect(callback.searchParams.get('location')).toBe('eu');
    const cb = await get(callback.pathname + callback.search);
    expect(cb.status).toBe(200);
    expect(await cb.text()).toContain('Zoho CRM account 20071234567 is now connected');

    const exchange = zoho.requests.find((r) => r.server === 'accounts' && r.path === '/oauth/v2/token')!;
    expect(exchange.body).toMatchObject({ grant_type: 'authorization_code', redirect_uri: `${baseUrl}/oauth/zoho/callback` });
    const row = await connectionRow('zoho');
    expect(row.account).toBe('20071234567');
    const creds = crmCredentialsSchema.parse(JSON.parse(cipher.decrypt(row.credentials_enc)));
    if (creds.crm !== 'zoho') throw new Error('expected Zoho credentials');
    expect(creds).toMatchObject({ apiDomain: zoho.apiUrl, accountsServer: zoho.accountsUrl, orgId: '20071234567', module: 'Contacts', clientId: zoho.clientId });
    expect(row.credentials_enc).not.toContain(creds.refreshToken);

    const connector = (await loadConnector(persistentConnectorFactory({ db: handle.db, cipher, logger: pino({ level: 'silent' }) }), handle.db, row.id))!;
    const m = msg();
    expect((await connector.archive([m])).written[m.id]).toBeTruthy();
    expect(zoho.records('Contacts')).toHaveLength(1);
    // The access token the connector minted is persisted (encrypted) so another process can reuse it.
    // (Persisting is asynchronous, and a token minted earlier — the callback's check of the account —
    // may be stored first: wait for the one the connector's last call carried.)
    const lastApiCall = zoho.apiRequests().at(-1)!;
    const persisted = await waitFor(async () => {
      const c = crmCredentialsSchema.parse(JSON.parse(cipher.decrypt((await connectionRow('zoho')).credentials_enc)));
      return c.crm === 'zoho' && c.accessToken !== undefined && lastApiCall.headers.authorization === `Zoho-oauthtoken ${c.accessToken}` ? c : null;
    }, 'the access token of the connector’s last call persisted');
    expect(lastApiCall.headers.authorization).toBe(`Zoho-oauthtoken ${persisted.accessToken}`);
    const tokenCallsBefore = zoho.requests.filter((r) => r.path === '/oauth/v2/token').length;
    const otherProcess = (await loadConnector(persistentConnectorFactory({ db: handle.db, cipher, logger: pino({ level: 'silent' }) }), handle.db, row.id))!;
    const m2 = msg();
    expect((await otherProcess.archive([m2])).written[m2.id]).toBeTruthy();
    expect(zoho.requests.filter((r) => r.path === '/oauth/v2/token')).toHaveLength(tokenCallsBefore);
    expect(secretsLogged(creds.refreshToken, zoho.clientSecret, callback.searchParams.get('code')!, ADMIN)).toEqual([]);
  });

  it('Zoho: a callback naming a foreign accounts server is refused before anything is sent, and the state stays usable', async () => {
    const res = await get('/oauth/zoho/install?tenant=tenant-a&org=42', { authorization: `Bearer ${TENANT_TOKEN}` });
    const authorize = new URL(res.headers.get('location')!);
    const callback = new URL((await fetch(authorize, { redirect: 'manual' })).headers.get('location')!);
    const tokenCalls = () => zoho.requests.filter((r) => r.path === '/oauth/v2/token').length;
    const forged = new URL(callback);
    forged.searchParams.set('accounts-server', 'https://accounts.evil.example');
    const bad = await get(forged.pathname + forged.search);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('not Zoho’s');
    expect(tokenCalls()).toBe(0);
    expect((await get(callback.pathname + callback.search)).status).toBe(200);
    expect(tokenCalls()).toBe(1);
  });

  it('Zoho: install without the org id is refused', async () => {
    const res = await get('/oauth/zoho/install?tenant=tenant-a', { authorization: `Bearer ${TENANT_TOKEN}` });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('org');
  });

  it('refuses tampered, expired, replayed and cross-provider states', async () => {
    const state = (await hubspotInstall()).searchParams.get('state')!;
    const tampered = state.slice(0, 40) + (state[40] === 'A' ? 'B' : 'A') + state.slice(41);
    const r1 = await get(`/oauth/hubspot/callback?code=${hs.issueAuthCode()}&state=${tampered}`);
    expect(r1.status).toBe(400);
    expect(await r1.text()).toContain('not valid');
    expect((await get(`/oauth/hubspot/callback?code=${hs.issueAuthCode()}&state=not-a-state`)).status).toBe(400);

    // A HubSpot state is no good at the Zoho callback.
    const cross = await get(`/oauth/zoho/callback?code=c&state=${state}&accounts-server=${encodeURIComponent(zoho.accountsUrl)}`);
    expect(cross.status).toBe(400);

    // Used once: fine. Replayed (even with a fresh code): refused.
    expect((await get(`/oauth/hubspot/callback?code=${hs.issueAuthCode()}&state=${state}`)).status).toBe(200);
    const replay = await get(`/oauth/hubspot/callback?code=${hs.issueAuthCode()}&state=${state}`);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('already used');

    const old = (await hubspotInstall()).searchParams.get('state')!;
    clock += OAUTH_STATE_TTL_MS + 1;
    const expired = await get(`/oauth/hubspot/callback?code=${hs.issueAuthCode()}&state=${old}`);
    expect(expired.status).toBe(400);
    expect(await expired.text()).toContain('expired');
    // Only the one good callback exchanged a code.
    expect(hs.requests.filter((r) => r.path === '/oauth/2026-03/token')).toHaveLength(1);
  });

  it('denied consent, a failed exchange and unauthorized installs get explanatory pages', async () => {
    const state = (await hubspotInstall()).searchParams.get('state')!;
    const denied = await get(`/oauth/hubspot/callback?error=access_denied&error_description=User+denied&state=${state}`);
    expect(denied.status).toBe(400);
    expect(await denied.text()).toContain('Access was denied in HubSpot');
    const zohoDenied = await get('/oauth/zoho/callback?error=access_denied');
    expect(await zohoDenied.text()).toContain('Access was denied in Zoho');

    // An unknown code: HubSpot answers BAD_AUTH_CODE → 502, nothing stored.
    const failed = await get(`/oauth/hubspot/callback?code=code-never-issued&state=${state}`);
    expect(failed.status).toBe(502);
    expect(await failed.text()).toContain('did not accept');
    expect(await handle.db.selectFrom('crm_connections').select('id').execute()).toEqual([]);

    expect((await get('/oauth/hubspot/install?tenant=tenant-a')).status).toBe(401);
    expect((await get('/oauth/hubspot/install?tenant=tenant-a', { authorization: 'Bearer wrong-token' })).status).toBe(401);
    expect((await get('/oauth/hubspot/install?tenant=tenant-a', { authorization: `Bearer ${OTHER_TOKEN}` })).status).toBe(403);
    expect((await get('/oauth/hubspot/install?tenant=nope', { authorization: `Bearer ${ADMIN}` })).status).toBe(404);
    // The browser-link form (token in the query) works too.
    expect((await get(`/oauth/hubspot/install?tenant=tenant-a&token=${TENANT_TOKEN}`)).status).toBe(302);
    expect(secretsLogged('code-never-issued', state, TENANT_TOKEN, OTHER_TOKEN)).toEqual([]);
  });
});
