import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { FakeWooCommerce } from './fakes/woocommerce.js';
import { FakeHubSpot } from './fakes/hubspot.js';
import { startOdooFake, type OdooFake } from './fakes/odoo.js';
import { startZohoFake, type ZohoFake } from './fakes/zoho.js';

/** A local port nothing listens on: connecting to it fails at once with ECONNREFUSED. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe.each(backends())('CRM connect verifies the credentials [%s]', (backend) => {
  let s: TestServer;
  let woo: FakeWooCommerce;
  let hs: FakeHubSpot;
  let odoo: OdooFake;
  let zoho: ZohoFake;
  let deadUrl: string;

  beforeAll(async () => {
    [woo, hs, odoo, zoho] = await Promise.all([FakeWooCommerce.start({ plugin: { siteKey: 'k' } }), FakeHubSpot.start(), startOdooFake(), startZohoFake()]);
    deadUrl = `http://127.0.0.1:${await closedPort()}`;
    s = await startTestServer(backend, { COEX_AGENT: 'off' });
    await s.runtime.db.insertInto('tenants').values([{ id: 'atlas', name: 'Atlas' }, { id: 'riad', name: 'Riad' }]).execute();
  });
  afterAll(async () => {
    await s?.close();
    await Promise.all([woo?.close(), hs?.close(), odoo?.close(), zoho?.close()]);
  });

  const connect = async (tenant: string, credentials: Record<string, unknown>) => {
    const res = await s.api('/api/v1/crm/connections', { method: 'POST', body: JSON.stringify({ tenant_id: tenant, credentials }) });
    return { status: res.status, body: (await res.json()) as { error?: string; code?: string; connection?: { id: string } } };
  };
  const wooCreds = (over: Record<string, unknown> = {}) => ({ crm: 'woocommerce', url: woo.url, consumerKey: woo.consumerKey, consumerSecret: woo.consumerSecret, siteKey: 'k', ...over });
  const zohoCreds = (over: Record<string, unknown> = {}) => ({
    crm: 'zoho', apiDomain: zoho.apiUrl, accountsServer: zoho.accountsUrl, clientId: zoho.clientId, clientSecret: zoho.clientSecret, refreshToken: zoho.issueRefreshToken(),
    orgId: 'org-1', allowedAccountsServers: [zoho.accountsUrl], allowedApiDomains: [zoho.apiUrl], ...over,
  });
  const count = async () => Number((await s.runtime.db.selectFrom('crm_connections').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);

  it('WooCommerce: a wrong secret is refused with 422 and WooCommerce\'s own error; an unreachable shop is 502; good keys connect', async () => {
    const bad = await connect('atlas', wooCreds({ consumerSecret: 'cs_wrong' }));
    expect(bad.status).toBe(422);
    expect(bad.body.code).toBe('credentials_rejected');
    // Over plain HTTP the client signs with OAuth 1.0a: WordPress answers with its authentication error.
    expect(bad.body.error).toContain('woocommerce_rest_authentication_error');
    const down = await connect('atlas', wooCreds({ url: deadUrl }));
    expect(down.status).toBe(502);
    expect(down.body.code).toBe('crm_unreachable');
    expect(await count()).toBe(0);
    expect((await connect('atlas', wooCreds())).status).toBe(201);
  });

  it('Odoo: a wrong API key is 422 (XML-RPC and JSON-2), an unreachable server 502', async () => {
    const base = { crm: 'odoo', url: odoo.url, db: odoo.db, login: odoo.login };
    const xml = await connect('atlas', { ...base, apiKey: 'wrong-key', protocol: 'xmlrpc' });
    expect(xml.status).toBe(422);
    expect(xml.body.error).toMatch(/odoo refused the credentials/);
    expect((await connect('atlas', { ...base, url: deadUrl, apiKey: odoo.apiKey, protocol: 'xmlrpc' })).status).toBe(502);
    expect((await connect('atlas', { ...base, apiKey: odoo.apiKey, protocol: 'xmlrpc' })).status).toBe(201);
  });

  it('Zoho: a refresh token Zoho does not know is 422 with its error; a good one connects', async () => {
    const bad = await connect('atlas', zohoCreds({ refreshToken: '1000.not-a-real-refresh-token' }));
    expect(bad.status).toBe(422);
    expect(bad.body.error).toContain('invalid_code');
    expect((await connect('atlas', zohoCreds({ accountsServer: deadUrl, allowedAccountsServers: [deadUrl] }))).status).toBe(502);
    expect((await connect('atlas', zohoCreds())).status).toBe(201);
  });

  it('HubSpot: an invalid token is 422, a network error 502 (not 409)', async () => {
    const creds = { crm: 'hubspot', portalId: String(hs.portalId), clientSecret: 'x', accessToken: 'test-token', basePath: hs.url };
    const bad = await connect('atlas', { ...creds, accessToken: 'revoked' });
    expect(bad.status).toBe(422);
    expect(bad.body.error).toContain('401');
    const down = await connect('atlas', { ...creds, basePath: deadUrl });
    expect(down.status).toBe(502);
    expect((await connect('atlas', creds)).status).toBe(201);
  });

  it('an unknown tenant is 404 with a clear message and no SQL in it', async () => {
    const r = await connect('nobody', wooCreds({ url: `${woo.url}/other` }));
    expect(r.status).toBe(404);
    expect(r.body.code).toBe('unknown_tenant');
    expect(r.body.error).toContain("no tenant 'nobody'");
    expect(r.body.error).not.toMatch(/constraint|violates|foreign key|insert/i);
  });

  it('two tenants connecting the same account at the same moment: one 201, the other 409', async () => {
    const other = await FakeHubSpot.start({ portalId: 778_001 });
    try {
      const creds = { crm: 'hubspot', portalId: '778001', clientSecret: 'x', accessToken: 'test-token', basePath: other.url };
      // Both pass the ownership check and the verification before either writes: the database decides.
      const [a, b] = await Promise.all([connect('atlas', creds), connect('riad', creds)]);
      expect([a.status, b.status].sort(), JSON.stringify([a.body, b.body])).toEqual([201, 409]);
      const rows = await s.runtime.db.selectFrom('crm_connections').select('tenant_id').where('crm', '=', 'hubspot').where('account', '=', '778001').execute();
      expect(rows).toHaveLength(1);
      const winner = a.status === 201 ? 'atlas' : 'riad';
      const loser = winner === 'atlas' ? 'riad' : 'atlas';
      expect(rows[0]!.tenant_id).toBe(winner);
      // The winner reconnecting is fine; the loser is still refused.
      expect((await connect(winner, creds)).status).toBe(201);
      expect((await connect(loser, creds)).status).toBe(409);
    } finally {
      await other.close();
    }
  });
});
