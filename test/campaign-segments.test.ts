import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/backends.js';
import { CrmError, OdooJson2Transport, OdooXmlRpcTransport, ZohoOAuth } from '@coex/connectors';
import { OdooSegmentSource, WooCommerceSegmentSource, ZohoSegmentSource } from '../core/src/campaigns/index.js';
import { recipientsFromList } from '../core/src/campaigns/recipients.js';
import { registerCampaignCommands } from '../core/src/campaigns/cli.js';
import { ConfigError } from '../core/src/config.js';
import { TokenCipher } from '../core/src/crypto.js';
import { migrateToLatest, openDatabase } from '../core/src/db/index.js';
import { connectCrm } from '../core/src/crm/connections.js';
import { FakeWooCommerce } from './fakes/woocommerce.js';
import { startOdooFake, type OdooFake } from './fakes/odoo.js';
import { startZohoFake, type ZohoFake } from './fakes/zoho.js';

/** A valid Moroccan mobile for index i (+2126123400xx). */
const mobile = (i: number) => `+2126123${String(i).padStart(5, '0')}`;

describe('WooCommerceSegmentSource', () => {
  let woo: FakeWooCommerce;
  beforeEach(async () => {
    woo = await FakeWooCommerce.start({ behindTlsProxy: true }) // the segment source sends Basic auth: TLS at a proxy;
  });
  afterEach(async () => {
    await woo.close();
  });

  const source = (extra: Partial<ConstructorParameters<typeof WooCommerceSegmentSource>[0]> = {}) =>
    new WooCommerceSegmentSource({ url: woo.url, consumerKey: woo.consumerKey, consumerSecret: woo.consumerSecret, allowPlainHttp: true, productId: 42, ...extra });
  const orderLists = () => woo.requests.filter((r) => r.path === '/wp-json/wc/v3/orders');

  it('lists the buyers of one product across pages of 100, newest order first, deduplicated by phone', async () => {
    // 230 buyers of product 42 (3 pages), 20 orders of another product that must not appear.
    for (let i = 0; i < 230; i++) {
      woo.addOrder({ billing: { first_name: `B${i}`, last_name: 'X', phone: mobile(i), city: `City${i}` }, line_items: [{ product_id: 42, name: 'Argan oil' }], created: Date.UTC(2026, 0, 1) + i * 60_000 });
    }
    for (let i = 0; i < 20; i++) woo.addOrder({ billing: { first_name: `Other${i}`, phone: mobile(500 + i) }, line_items: [{ product_id: 7 }] });
    // Customer 3 ordered again later, with a national-format phone and a new city: one recipient, the latest details.
    woo.addOrder({ billing: { first_name: 'B3', last_name: 'X', phone: '06 12 30 00 03', city: 'Rabat' }, line_items: [{ product_id: 99 }, { product_id: 42 }], created: Date.UTC(2026, 5, 1) });

    const src = source({ variableFields: ['billing.city', 'number'] });
    const members = await src.members();

    expect(members).toHaveLength(230);
    expect(members.every((m) => /^\+2126123\d{5}$/.test(m.phone))).toBe(true);
    expect(members.some((m) => m.name?.startsWith('Other'))).toBe(false);
    const b3 = members.filter((m) => m.phone === mobile(3));
    expect(b3).toHaveLength(1);
    expect(b3[0]).toMatchObject({ name: 'B3 X', variables: ['Rabat', expect.stringMatching(/^\d+$/)] });
    expect(src.lastRun).toEqual({ records: 231, pages: 3, duplicates: 1, truncated: false });

    const lists = orderLists();
    expect(lists.map((r) => r.query.page)).toEqual(['1', '2', '3']);
    expect(lists.every((r) => r.query.product === '42' && r.query.per_page === '100' && r.query.orderby === 'date' && r.query.order === 'desc')).toBe(true);
    expect(lists[0]?.headers.authorization).toBe(`Basic ${Buffer.from(`${woo.consumerKey}:${woo.consumerSecret}`).toString('base64')}`);
  });

  it('filters by status and keeps orders without a usable phone so the import report lists them', async () => {
    woo.addOrder({ billing: { first_name: 'Done', phone: mobile(1) }, status: 'completed', line_items: [{ product_id: 42 }] });
    woo.addOrder({ billing: { first_name: 'Cancelled', phone: mobile(2) }, status: 'cancelled', line_items: [{ product_id: 42 }] });
    woo.addOrder({ billing: { first_name: 'NoPhone', phone: '' }, status: 'completed', line_items: [{ product_id: 42 }] });
    woo.addOrder({ billing: { first_name: 'Junk', phone: '12' }, status: 'processing', line_items: [{ product_id: 42 }] });

    const members = await source({ statuses: ['completed', 'processing'] }).members();
    expect(members.map((m) => m.name).sort()).toEqual(['Done', 'Junk', 'NoPhone']);
    expect(orderLists()[0]?.query.status).toBe('completed,processing');

    const prepared = recipientsFromList(members);
    expect(prepared.recipients.map((r) => r.phone)).toEqual([mobile(1)]);
    expect(prepared.invalid.map((r) => r.reason).sort()).toEqual([expect.stringContaining('not a valid phone'), 'phone is empty']);
  });

  it('refuses Basic auth over plain HTTP unless told, and surfaces WooCommerce errors as CrmError', async () => {
    expect(() => new WooCommerceSegmentSource({ url: woo.url, consumerKey: 'k', consumerSecret: 's' })).toThrow(/https/);
    expect(() => source({ productId: 0 })).toThrow(/productId/);
    await expect(source({ consumerSecret: 'wrong' }).members()).rejects.toSatisfy((e) => e instanceof CrmError && e.status === 401 && !e.retryable);
  });
});

describe.each(['xmlrpc', 'json2'] as const)('OdooSegmentSource [%s]', (protocol) => {
  let odoo: OdooFake;
  beforeEach(async () => {
    odoo = await startOdooFake({ version: protocol === 'json2' ? 19 : 18 });
  });
  afterEach(async () => {
    await odoo.close();
  });

  const transport = () =>
    protocol === 'json2'
      ? new OdooJson2Transport({ url: odoo.url, db: odoo.db, apiKey: odoo.apiKey })
      : new OdooXmlRpcTransport({ url: odoo.url, db: odoo.db, login: odoo.login, apiKey: odoo.apiKey });
  const searchReads = () => odoo.calls().filter((c) => c.method === 'search_read');

  it('reads the partners with a tag page by page (id keyset) and deduplicates shared numbers', async () => {
    const vip = odoo.addCategory('VIP');
    const other = odoo.addCategory('Wholesale');
    for (let i = 0; i < 45; i++) odoo.addPartner({ name: `Vip ${i}`, phone: i % 2 ? mobile(i) : `0${mobile(i).slice(4)}`, email: `v${i}@x.ma`, category_id: [vip] });
    for (let i = 0; i < 10; i++) odoo.addPartner({ name: `Other ${i}`, phone: mobile(100 + i), category_id: [other] });
    odoo.addPartner({ name: 'Both tags', phone: mobile(200), category_id: [other, vip] });
    odoo.addPartner({ name: 'Archived VIP', phone: mobile(201), category_id: [vip], active: false });
    odoo.addPartner({ name: 'Vip twin', phone: mobile(1), category_id: [vip] }); // same number as "Vip 1"

    const src = new OdooSegmentSource({ transport: transport(), domain: [['category_id', 'in', [vip]]], variableFields: ['email'], pageSize: 20 });
    const members = await src.members();

    expect(members).toHaveLength(46); // 45 + "Both tags"; the twin collapsed, the archived one excluded
    expect(members.every((m) => /^\+2126123\d{5}$/.test(m.phone))).toBe(true);
    expect(members.find((m) => m.phone === mobile(1))).toEqual({ phone: mobile(1), name: 'Vip 1', variables: ['v1@x.ma'] });
    expect(members.map((m) => m.name)).toContain('Both tags');
    expect(members.map((m) => m.name)).not.toContain('Archived VIP');
    expect(src.lastRun).toEqual({ records: 47, pages: 3, duplicates: 1, truncated: false });

    const domains = searchReads().map((c) => (protocol === 'json2' ? c.kwargs['domain'] : c.args[0]));
    expect(domains[0]).toEqual([['id', '>', 0], ['category_id', 'in', [vip]]]);
    // Each page starts after the last id of the previous one.
    const bounds = domains.map((d) => (d as [[string, string, number]])[0][2]);
    expect(bounds[1]).toBeGreaterThan(0);
    expect(bounds[2]).toBeGreaterThan(bounds[1]!);
  });

  it('combines the caller domain with the page bound as a whole (OR domains stay intact)', async () => {
    const vip = odoo.addCategory('VIP');
    odoo.addPartner({ name: 'Tagged', phone: mobile(1), category_id: [vip] });
    odoo.addPartner({ name: 'Casablanca', phone: mobile(2), email: 'c@casa.ma' });
    odoo.addPartner({ name: 'Neither', phone: mobile(3) });
    const src = new OdooSegmentSource({ transport: transport(), domain: ['|', ['category_id', 'ilike', 'vip'], ['email', 'ilike', '@casa.ma']] });
    const members = await src.members();
    expect(members.map((m) => m.name).sort()).toEqual(['Casablanca', 'Tagged']);
  });

  it('skips phone fields this Odoo does not have and rejects unknown variable fields', async () => {
    odoo.addPartner({ name: 'Amina', phone: '0612345678' });
    const members = await new OdooSegmentSource({ transport: transport(), domain: [] }).members();
    expect(members).toEqual([{ phone: '+212612345678', name: 'Amina', variables: [] }]);
    const read = searchReads()[0];
    expect(read?.kwargs['fields']).toEqual(protocol === 'json2' ? ['name', 'phone_sanitized', 'phone'] : ['name', 'phone_sanitized', 'mobile', 'phone']);
    await expect(new OdooSegmentSource({ transport: transport(), domain: [], variableFields: ['x_loyalty'] }).members()).rejects.toThrow(/no field x_loyalty/);
  });
});

describe('ZohoSegmentSource', () => {
  let zoho: ZohoFake;
  let tokenProvider: () => Promise<string>;
  beforeEach(async () => {
    zoho = await startZohoFake();
    const oauth = new ZohoOAuth({ clientId: zoho.clientId, clientSecret: zoho.clientSecret, allowedAccountsServers: [zoho.accountsUrl], allowedApiDomains: [zoho.apiUrl] });
    const refreshToken = zoho.issueRefreshToken();
    let cached: string | null = null;
    tokenProvider = async () => (cached ??= (await oauth.refreshAccessToken({ refreshToken, accountsServer: zoho.accountsUrl })).accessToken);
  });
  afterEach(async () => {
    await zoho.close();
  });

  const source = (extra: Partial<ConstructorParameters<typeof ZohoSegmentSource>[0]> = {}) =>
    new ZohoSegmentSource({ apiDomain: zoho.apiUrl, allowedApiDomains: [zoho.apiUrl], tokenProvider, criteria: '(Lead_Source:equals:Salon 2026)', ...extra });
  const searches = () => zoho.apiRequests().filter((r) => r.path.endsWith('/search'));

  it('pages through the matching contacts (200 per page, until more_records is false)', async () => {
    for (let i = 0; i < 450; i++) zoho.addRecord('Contacts', { First_Name: `C${i}`, Last_Name: 'Z', Mobile: i % 3 ? mobile(i) : null, Phone: i % 3 ? null : mobile(i), Lead_Source: 'Salon 2026', Mailing_City: `City${i}` });
    for (let i = 0; i < 30; i++) zoho.addRecord('Contacts', { Last_Name: `Web${i}`, Mobile: mobile(1000 + i), Lead_Source: 'Web' });
    zoho.addRecord('Contacts', { First_Name: 'Dup', Last_Name: 'Z', Phone: '0612300007', Lead_Source: 'Salon 2026' }); // same number as C7, national format

    const src = source({ variableFields: ['Mailing_City'] });
    const members = await src.members();
    expect(members).toHaveLength(450);
    expect(members.some((m) => m.name?.startsWith('Web'))).toBe(false);
    expect(members.find((m) => m.phone === mobile(7))).toEqual({ phone: mobile(7), name: 'C7 Z', variables: ['City7'] });
    expect(src.lastRun).toEqual({ records: 451, pages: 3, duplicates: 1, truncated: false });

    const qs = searches().map((r) => r.query);
    expect(qs.map((q) => q.page)).toEqual(['1', '2', '3']);
    expect(qs.every((q) => q.criteria === '(Lead_Source:equals:Salon 2026)' && q.per_page === '200' && q.fields === 'First_Name,Last_Name,Mobile,Phone,Mailing_City')).toBe(true);
  });

  it('returns nothing on Zoho 204 (no match), reports phoneless records, and stops at maxRecords', async () => {
    expect(await source().members()).toEqual([]);
    zoho.addRecord('Leads', { Last_Name: 'NoPhone', Lead_Source: 'Salon 2026', Company: 'Atlas' });
    for (let i = 0; i < 5; i++) zoho.addRecord('Leads', { Last_Name: `L${i}`, Mobile: mobile(i), Lead_Source: 'Salon 2026', Company: 'Atlas' });
    const leads = await source({ module: 'Leads' }).members();
    expect(leads).toHaveLength(6);
    expect(leads[0]).toEqual({ phone: '', name: 'NoPhone', variables: [] });
    const capped = source({ module: 'Leads', maxRecords: 3 });
    expect(await capped.members()).toHaveLength(3);
    expect(capped.lastRun?.truncated).toBe(true);
  });

  it('never sends the token outside Zoho hosts and rejects malformed criteria', () => {
    expect(() => new ZohoSegmentSource({ apiDomain: 'https://evil.example', accessToken: 't', criteria: '(A:equals:b)' })).toThrow();
    expect(() => source({ criteria: 'Lead_Source = Salon' })).toThrow(/criteria/);
    const eleven = `(${Array.from({ length: 11 }, (_, i) => `(Last_Name:equals:n${i})`).join('or')})`;
    expect(() => source({ criteria: eleven })).toThrow(/10 conditions/);
  });
});

describe('coex campaign create --segment (CLI)', () => {
  it('reads the recipients from a stored WooCommerce connection and refuses a segment of the wrong CRM', async () => {
    const woo = await FakeWooCommerce.start({ behindTlsProxy: true });
    const database = await createTestDatabase();
    const handle = await openDatabase({ databaseUrl: database.databaseUrl });
    try {
      await migrateToLatest(handle.db);
      const cipher = TokenCipher.fromKey(randomBytes(32).toString('base64'));
      await handle.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas' }).execute();
      await handle.db.insertInto('whatsapp_numbers').values({ phone_number_id: '1100', tenant_id: 'atlas' }).execute();
      const conn = await connectCrm(handle.db, cipher, 'atlas', { crm: 'woocommerce', url: woo.url, consumerKey: woo.consumerKey, consumerSecret: woo.consumerSecret, siteKey: 'k' });
      woo.addOrder({ billing: { first_name: 'Hind', phone: '0612300001', city: 'Fes' }, line_items: [{ product_id: 42 }] });
      woo.addOrder({ billing: { first_name: 'Karim', phone: '+212612300002', city: 'Oujda' }, line_items: [{ product_id: 42 }] });
      woo.addOrder({ billing: { first_name: 'NoPhone', phone: '' }, line_items: [{ product_id: 42 }] });
      const files: Record<string, string> = {
        'argan.json': JSON.stringify({ product_id: 42, variable_fields: ['billing.city'] }),
        'hubspot.json': JSON.stringify({ filter_groups: [{ filters: [{ propertyName: 'a', operator: 'EQ', value: 'b' }] }] }),
      };
      const out: string[] = [];
      const err: string[] = [];
      const run = async (...args: string[]) => {
        const program = new Command().exitOverride();
        registerCampaignCommands(program, (fn) => fn(handle.db), { out: (l) => out.push(l), err: (l) => err.push(l), readFile: async (p) => files[p] ?? Promise.reject(new Error('ENOENT')) }, () => cipher);
        await program.parseAsync(['campaign', 'create', '--tenant', 'atlas', '--number', '1100', '--name', 'Argan buyers', '--template', 'spring_sale', '--language', 'fr', ...args], { from: 'user' });
      };
      await run('--segment', 'argan.json', '--connection', conn.id);
      expect(err).toContain('segment: woocommerce customers who ordered product 42');
      expect(out[0]).toMatch(/^campaign [0-9a-f-]{36} draft: 2 recipients \(1 invalid, 0 duplicates skipped\)$/);
      const rows = await handle.db.selectFrom('campaign_recipients').select(['wa_id', 'variables']).orderBy('wa_id').execute();
      expect(rows).toEqual([{ wa_id: '212612300001', variables: ['Fes'] }, { wa_id: '212612300002', variables: ['Oujda'] }]);
      expect((await handle.db.selectFrom('campaigns').select('source').executeTakeFirstOrThrow()).source).toBe('segment');

      await expect(run('--segment', 'hubspot.json', '--connection', conn.id)).rejects.toThrow(/invalid woocommerce segment/);
      await expect(run('--segment', 'argan.json')).rejects.toThrow(/--segment needs --connection/);
      await expect(run('--csv', 'x.csv', '--segment', 'argan.json', '--connection', conn.id)).rejects.toThrow(/either --csv or --segment/);
      await expect(run('--segment', 'argan.json', '--connection', '00000000-0000-4000-8000-000000000000')).rejects.toThrow(ConfigError);
    } finally {
      await handle.close();
      await database.drop();
      await woo.close();
    }
  });
});
