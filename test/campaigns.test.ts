import type { Server } from 'node:http';
import express from 'express';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, TEST_ADMIN_TOKEN, TEST_APP_SECRET, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import { startGraphApiFake, DEFAULT_FAKE_TEMPLATES, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import { FakeHubSpot } from './fakes/hubspot.js';
import * as P from '../core/src/whatsapp/payloads.js';
import { createLogger } from '../core/src/logger.js';
import { DbPacer } from '../core/src/outbound/pacer.js';
import { campaignRouter } from '../core/src/api/campaign-routes.js';
import { CampaignLanePacer, CampaignRunner, createCampaignSender, optOutHook, type CampaignSender, type LaneReservation } from '../core/src/campaigns/index.js';
import { connectionSegmentSource } from '../core/src/campaigns/segment-factory.js';
import { FakeWooCommerce } from './fakes/woocommerce.js';
import { startOdooFake } from './fakes/odoo.js';
import { startZohoFake } from './fakes/zoho.js';

const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
const PNID = N.phoneNumberId;
const logger = createLogger('silent');
/** One send interval of a 20 msg/s number after the pacer's 0.95 safety factor. */
const NUMBER_INTERVAL_MS = 1000 / (20 * 0.95);

interface Report {
  status: string;
  status_reason: string | null;
  counts: Record<'total' | 'queued' | 'sending' | 'skipped' | 'sent' | 'delivered' | 'read' | 'failed' | 'replied', number>;
  failures: Array<{ code: string; count: number }>;
  skipped_reasons: Array<{ reason: string; count: number }>;
}

describe.each(backends())('template campaigns [%s]', (backend) => {
  let graph: GraphApiFake;
  let hubspot: FakeHubSpot;
  let s: TestServer;
  let api: Server;
  let apiUrl = '';
  let seq = 0;
  const reservations: LaneReservation[] = [];
  let runner: CampaignRunner;

  beforeAll(async () => {
    graph = await startGraphApiFake({ templates: [...DEFAULT_FAKE_TEMPLATES, { name: 'spring_sale', language: 'fr', category: 'MARKETING', bodyParameters: 1 }] });
    hubspot = await FakeHubSpot.start();
    s = await startTestServer(backend, { GRAPH_API_BASE_URL: graph.url, WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN, COEX_AGENT: 'off' });
    s.runtime.processor.onApplied(optOutHook());
    const app = express();
    app.use(
      campaignRouter({
        db: s.runtime.db,
        adminToken: TEST_ADMIN_TOKEN,
        // The runtime's own path: the connection's stored (encrypted) credentials → that CRM's segment source.
        segmentSource: connectionSegmentSource(s.runtime.db, s.runtime.cipher),
      }),
    );
    api = await new Promise<Server>((resolve) => {
      const server = app.listen(0, '127.0.0.1', () => resolve(server));
    });
    const address = api.address();
    apiUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    // The number exists once Meta delivered something for it.
    await s.postWebhook(P.inboundMessage(N, { waId: '212600000001', name: 'Seed' }, 'wamid.SEED', Date.now(), P.text('salam')));
    await s.runtime.waitForInboxDrained();
    runner = new CampaignRunner({ db: s.runtime.db, sender: createCampaignSender(s.runtime.db, s.runtime.graph, logger, { onReservation: (r) => reservations.push(r) }), logger, concurrency: 4, pollIntervalMs: 50 });
  });
  afterAll(async () => {
    await runner?.stop();
    await new Promise((r) => api?.close(r));
    await s?.close();
    await hubspot?.close();
    await graph?.close();
  });

  const call = async (path: string, body?: unknown, init: { token?: string; contentType?: string } = {}) => {
    const res = await fetch(`${apiUrl}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${init.token ?? TEST_ADMIN_TOKEN}`, 'content-type': init.contentType ?? 'application/json' },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const report = async (id: string): Promise<Report> => (await call(`/api/v1/campaigns/${id}`)).json.campaign as Report;
  const campaignSends = (name = 'spring_sale') => graph.state.sent.filter((m) => m.type === 'template' && (m.body.template as { name?: string }).name === name);
  const nextWaIds = (n: number): string[] =>
    Array.from({ length: n }, () => {
      seq += 1;
      return `2126610${String(seq).padStart(5, '0')}`;
    });
  async function createCampaign(waIds: string[], extra: Record<string, unknown> = {}): Promise<string> {
    const res = await call('/api/v1/campaigns', {
      phone_number_id: PNID,
      name: `c${seq}`,
      template: { name: 'spring_sale', language: 'fr' },
      recipients: waIds.map((w, i) => ({ phone: `+${w}`, name: `N${i}`, variables: [`CODE-${w.slice(-4)}`] })),
      ...extra,
    });
    expect(res.status).toBe(201);
    return (res.json.campaign as { id: string }).id;
  }
  /** A CRM connection of the number's tenant with these (encrypted) credentials. */
  async function connect(tenantId: string, credentials: Record<string, unknown> & { crm: 'hubspot' | 'woocommerce' | 'odoo' | 'zoho' }, accountOverride?: string): Promise<{ id: string }> {
    const account = accountOverride ?? String(credentials.portalId ?? credentials.orgId ?? (credentials.db ? `${String(credentials.url)}#${String(credentials.db)}` : credentials.url));
    return s.runtime.db
      .insertInto('crm_connections')
      .values({ tenant_id: tenantId, crm: credentials.crm, account, credentials_enc: s.runtime.cipher.encrypt(JSON.stringify(credentials)), extension_key_hash: null })
      .returning('id')
      .executeTakeFirstOrThrow();
  }
  async function inbound(waId: string, text: string, at = Date.now()): Promise<void> {
    seq += 1;
    expect((await s.postWebhook(P.inboundMessage(N, { waId }, `wamid.IN-${seq}-${waId}`, at, P.text(text)))).status).toBe(200);
    await s.runtime.waitForInboxDrained();
  }

  it('creates from CSV with bad rows reported, sends each valid recipient once with its variables', async () => {
    const [a, b, c] = nextWaIds(3);
    const csv = ['phone,name,var1', `+${a},Youssef,Y-1`, `0${b!.slice(3)},Sara,S-2`, `${b},Sara dup,S-2`, 'abc,Nope,N-3', `+${c},Amine,`, `00${c},Amine,A-4`].join('\n');
    const res = await call(`/api/v1/campaigns?phone_number_id=${PNID}&name=csv&template=spring_sale&language=fr`, csv, { contentType: 'text/csv' });
    expect(res.status).toBe(201);
    const imp = res.json.import as { accepted: number; invalid: Array<{ line: number }>; duplicates: Array<{ line: number; firstLine: number }> };
    expect(imp.accepted).toBe(3);
    expect(imp.invalid.map((i) => i.line)).toEqual([5, 6]);
    expect(imp.duplicates).toEqual([{ line: 4, phone: b, firstLine: 3 }]);
    const id = (res.json.campaign as { id: string; status: string }).id;
    expect((res.json.campaign as { status: string }).status).toBe('draft');

    await runner.runUntilIdle();
    expect(campaignSends().filter((m) => [a, b, c].includes(m.to))).toHaveLength(0); // drafts do not send

    expect((await call(`/api/v1/campaigns/${id}/start`, {})).json.campaign).toMatchObject({ status: 'running' });
    await runner.runUntilIdle();
    const sent = campaignSends().filter((m) => [a, b, c].includes(m.to));
    expect(sent.map((m) => m.to).sort()).toEqual([a, b, c].sort());
    expect(sent.find((m) => m.to === a)!.body.template).toMatchObject({ name: 'spring_sale', language: { code: 'fr' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Y-1' }] }] });
    const r = await report(id);
    expect(r.status).toBe('completed');
    expect(r.counts).toMatchObject({ total: 3, sent: 3, queued: 0, failed: 0 });
    // Sends were paced through the campaign lane and took the number's slot only when it was free.
    expect(reservations.filter((x) => x.gate === 'number' && x.taken).length).toBeGreaterThanOrEqual(3);
  });

  it('answers bad input clearly and scopes campaigns to the tenant', async () => {
    expect((await call('/api/v1/campaigns', { phone_number_id: PNID, name: 'x', template: { name: 'spring_sale', language: 'fr' } })).status).toBe(400);
    expect((await call(`/api/v1/campaigns?phone_number_id=${PNID}&name=x&template=t&language=fr`, 'name\nx', { contentType: 'text/csv' })).status).toBe(422);
    expect((await call('/api/v1/campaigns', { phone_number_id: PNID, name: 'x', template: { name: 'spring_sale', language: 'fr' }, recipients: [{ phone: 'nope' }] })).status).toBe(422);
    expect((await call('/api/v1/campaigns', { phone_number_id: '999', name: 'x', template: { name: 'spring_sale', language: 'fr' }, recipients: [{ phone: '0612345678' }] })).status).toBe(404);
    expect((await call('/api/v1/campaigns', undefined, { token: 'wrong' })).status).toBe(401);
    expect((await call('/api/v1/campaigns/00000000-0000-0000-0000-000000000000')).status).toBe(404);
    const list = await call('/api/v1/campaigns');
    expect((list.json.campaigns as unknown[]).length).toBeGreaterThan(0);
  });

  it('waits for send_at, then sends', async () => {
    const waIds = nextWaIds(2);
    const id = await createCampaign(waIds, { send_at: new Date(Date.now() + 3_600_000).toISOString() });
    expect((await report(id)).status).toBe('scheduled');
    await runner.runUntilIdle();
    expect(campaignSends().filter((m) => waIds.includes(m.to))).toHaveLength(0);
    expect((await report(id)).status).toBe('scheduled');
    // Time passes (the due check uses the database clock).
    await s.runtime.db.updateTable('campaigns').set({ send_at: new Date(Date.now() - 1000) }).where('id', '=', id).execute();
    await runner.runUntilIdle();
    expect(campaignSends().filter((m) => waIds.includes(m.to)).map((m) => m.to).sort()).toEqual([...waIds].sort());
    expect((await report(id)).status).toBe('completed');
  });

  it('a campaign held by Meta’s restriction of business-initiated messaging resumes by itself when the hold ends; one the operator paused, or one paused for another reason, waits for a start', async () => {
    const number = () => s.runtime.db.updateTable('whatsapp_numbers').where('phone_number_id', '=', PNID);
    const holdUntil = (until: Date | 'infinity' | null) =>
      number().set({ business_initiated_blocked_until: until === null ? null : until === 'infinity' ? sql`'infinity'::timestamptz` : until }).execute();
    const sentTo = (waIds: string[]) => campaignSends().filter((m) => waIds.includes(m.to)).map((m) => m.to).sort();
    const [a1, a2, b1, c1, d1] = nextWaIds(5);
    try {
      await holdUntil(new Date(Date.now() + 3_600_000));
      const held = await createCampaign([a1!, a2!]);
      const keptPaused = await createCampaign([b1!]);
      const noEnd = await createCampaign([c1!]);
      for (const id of [held, keptPaused]) expect((await call(`/api/v1/campaigns/${id}/start`, {})).status).toBe(200);
      await runner.runUntilIdle();
      for (const id of [held, keptPaused]) {
        expect(await report(id)).toMatchObject({ status: 'paused', status_reason: expect.stringMatching(/business-initiated messaging until .*resumes by itself when the hold ends/), counts: { sent: 0, queued: expect.any(Number) } });
      }
      // The operator pauses one of them on purpose: it no longer waits for the hold, it waits for them.
      expect((await call(`/api/v1/campaigns/${keptPaused}/pause`, {})).json.campaign).toMatchObject({ status: 'paused' });
      expect((await report(keptPaused)).status_reason).toBe('paused by request');

      // Still held: nothing resumes.
      await runner.runUntilIdle();
      expect((await report(held)).status).toBe('paused');
      expect(sentTo([a1!, a2!, b1!])).toEqual([]);

      // The restriction's end passes (the check uses the database clock): the held campaign goes out.
      await holdUntil(new Date(Date.now() - 1000));
      await runner.runUntilIdle();
      expect(await report(held)).toMatchObject({ status: 'completed', status_reason: expect.stringMatching(/resumed: Meta’s hold on business-initiated messaging ended/), counts: { sent: 2, queued: 0 } });
      expect(sentTo([a1!, a2!])).toEqual([a1!, a2!].sort());
      expect(await report(keptPaused)).toMatchObject({ status: 'paused', counts: { sent: 0, queued: 1 } });
      expect(sentTo([b1!])).toEqual([]);

      // A hold without an end lasts until Meta lifts it (a reconnection clears it).
      await holdUntil('infinity');
      expect((await call(`/api/v1/campaigns/${noEnd}/start`, {})).status).toBe(200);
      await runner.runUntilIdle();
      expect(await report(noEnd)).toMatchObject({ status: 'paused', status_reason: expect.stringMatching(/until Meta lifts it|resumes by itself/) });
      await runner.runUntilIdle();
      expect((await report(noEnd)).status).toBe('paused');
      await holdUntil(null);
      await runner.runUntilIdle();
      expect(await report(noEnd)).toMatchObject({ status: 'completed', counts: { sent: 1 } });

      // Paused because the number could not send at all: a person decides when it goes on.
      await number().set({ connection_status: 'disconnected', connection_reason: 'test' }).execute();
      const disconnected = await createCampaign([d1!]);
      expect((await call(`/api/v1/campaigns/${disconnected}/start`, {})).status).toBe(200);
      await runner.runUntilIdle();
      await number().set({ connection_status: 'connected', connection_reason: null }).execute();
      await runner.runUntilIdle();
      expect(await report(disconnected)).toMatchObject({ status: 'paused', counts: { sent: 0, queued: 1 } });
      expect((await call(`/api/v1/campaigns/${disconnected}/start`, {})).status).toBe(200);
      await runner.runUntilIdle();
      expect(await report(disconnected)).toMatchObject({ status: 'completed', counts: { sent: 1 } });
    } finally {
      await holdUntil(null);
      await number().set({ connection_status: 'connected', connection_reason: null }).execute();
    }
  });

  it('excludes customers who wrote an opt-out keyword (each language) from the next marketing campaign; START brings them back', async () => {
    const words = ['STOP', 'Arrêtez svp', 'baraka', 'ma bghitch had les messages', 'توقف', 'إلغاء الاشتراك من فضلك'];
    const optedOut = nextWaIds(words.length);
    const [control, ordinary] = nextWaIds(2);
    for (const [i, w] of words.entries()) await inbound(optedOut[i]!, w);
    await inbound(ordinary!, 'baraka allahou fik'); // "thank you": not an opt-out
    const rows = await s.runtime.db.selectFrom('opt_outs').select(['wa_id', 'source', 'detail']).where('wa_id', 'in', [...optedOut, ordinary!]).execute();
    expect(rows.map((r) => r.wa_id).sort()).toEqual([...optedOut].sort());
    expect(rows.every((r) => r.source === 'keyword')).toBe(true);

    const id = await createCampaign([...optedOut, control!, ordinary!]);
    await call(`/api/v1/campaigns/${id}/start`, {});
    await runner.runUntilIdle();
    expect(campaignSends().filter((m) => [...optedOut, control, ordinary].includes(m.to)).map((m) => m.to).sort()).toEqual([control, ordinary].sort());
    const r = await report(id);
    expect(r.counts).toMatchObject({ total: 8, skipped: 6, sent: 2 });
    expect(r.skipped_reasons).toEqual([{ reason: 'opted_out', label: 'opted out (keyword, API or CRM)', count: 6 }]);

    // Utility campaigns (order updates) are not marketing: opt-outs do not apply.
    const utility = await createCampaign([optedOut[0]!], { template: { name: 'spring_sale', language: 'fr', category: 'utility' }, start: true });
    await runner.runUntilIdle();
    expect((await report(utility)).counts.sent).toBe(1);

    await inbound(optedOut[2]!, 'bghit nrje3');
    expect(await s.runtime.db.selectFrom('opt_outs').select('wa_id').where('wa_id', '=', optedOut[2]!).executeTakeFirst()).toBeUndefined();
    const events = await s.runtime.db.selectFrom('opt_out_events').select(['action', 'detail']).where('wa_id', '=', optedOut[2]!).orderBy('id').execute();
    expect(events).toEqual([{ action: 'opt_out', detail: 'baraka' }, { action: 'opt_in', detail: expect.any(String) }]);
    const again = await createCampaign([optedOut[1]!, optedOut[2]!], { start: true });
    await runner.runUntilIdle();
    expect((await report(again)).counts).toMatchObject({ sent: 1, skipped: 1 });
  });

  it('records 131049 / 131026 / 131050 per recipient without blind retries; 131049 is not retried within 24 h, 131050 opts out', async () => {
    const one = new CampaignRunner({ db: s.runtime.db, sender: createCampaignSender(s.runtime.db, s.runtime.graph, logger), logger, concurrency: 1 });
    const [limited, undeliverable, stopped, fine] = nextWaIds(4);
    const id = await createCampaign([limited!, undeliverable!, stopped!, fine!], { start: true });
    graph.setBehaviour({ scriptedErrors: [{ code: 131049, message: 'This message was not delivered to maintain healthy ecosystem engagement.' }, { code: 131026, message: 'Message undeliverable' }, { code: 131050, message: 'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.' }] });
    const before = graph.requests.filter((q) => q.path.endsWith('/messages')).length;
    await one.runUntilIdle();
    expect(graph.requests.filter((q) => q.path.endsWith('/messages')).length - before).toBe(4); // one call each, no retries
    const r = await report(id);
    expect(r.counts).toMatchObject({ total: 4, sent: 1, failed: 3 });
    expect(r.failures.map((f) => [f.code, f.count]).sort()).toEqual([['131026', 1], ['131049', 1], ['131050', 1]]);
    const recipients = await s.runtime.db.selectFrom('campaign_recipients').select(['wa_id', 'status', 'error_code', 'message_id']).where('campaign_id', '=', id).execute();
    expect(recipients.find((x) => x.wa_id === limited)).toMatchObject({ status: 'failed', error_code: 131049, message_id: expect.any(String) });
    expect(await s.runtime.db.selectFrom('opt_outs').select('source').where('wa_id', '=', stopped!).executeTakeFirst()).toEqual({ source: '131050' });

    const next = await createCampaign([limited!, stopped!, undeliverable!], { start: true });
    const callsBefore = graph.requests.filter((q) => q.path.endsWith('/messages')).length;
    await one.runUntilIdle();
    const r2 = await report(next);
    // 131050 is WhatsApp's own "stop promotions": reported as opted out in WhatsApp.
    expect(r2.skipped_reasons.map((x) => [x.reason, x.count]).sort()).toEqual([['marketing_limit_24h', 1], ['opted_out_whatsapp', 1]]);
    expect(r2.counts).toMatchObject({ opted_out_whatsapp: 1 });
    expect(graph.requests.filter((q) => q.path.endsWith('/messages')).length - callsBefore).toBe(1); // only the undeliverable one is tried again
  });

  it('reports delivered / read / failed / replied from status webhooks, with async failures grouped by code', async () => {
    const waIds = nextWaIds(4);
    const id = await createCampaign(waIds, { start: true });
    await runner.runUntilIdle();
    const rows = await s.runtime.db.selectFrom('campaign_recipients').select(['wa_id', 'wamid']).where('campaign_id', '=', id).execute();
    const wamid = (w: string) => rows.find((x) => x.wa_id === w)!.wamid!;
    const hook = `${s.url}/webhooks/whatsapp`;
    await graph.emitStatuses(hook, TEST_APP_SECRET, wamid(waIds[0]!), ['sent', 'delivered', 'read']);
    await graph.emitStatuses(hook, TEST_APP_SECRET, wamid(waIds[1]!), ['sent', 'delivered']);
    await graph.emitStatuses(hook, TEST_APP_SECRET, wamid(waIds[2]!), [{ status: 'failed', errors: [{ code: 131050, title: 'User has stopped receiving marketing messages' }] }]);
    await s.runtime.waitForInboxDrained();
    await inbound(waIds[0]!, 'wach kayn size M?', Date.now() + 5000);
    const r = await report(id);
    expect(r.counts).toMatchObject({ total: 4, sent: 4, delivered: 2, read: 1, failed: 1, replied: 1 });
    expect(r.failures).toEqual([{ code: '131050', count: 1, example: 'User has stopped receiving marketing messages' }]);
    // The runner folds the async 131050 in: the customer is opted out from then on.
    await runner.housekeeping();
    expect(await s.runtime.db.selectFrom('opt_outs').select('source').where('wa_id', '=', waIds[2]!).executeTakeFirst()).toEqual({ source: '131050' });
  });

  it('builds recipients from a HubSpot segment (contact search on the emulator)', async () => {
    const [a, b] = nextWaIds(2);
    hubspot.seed('contacts', { firstname: 'Khadija', lifecyclestage: 'customer', mobilephone: `0${a!.slice(3)}`, city: 'Fes' });
    hubspot.seed('contacts', { firstname: 'Omar', lifecyclestage: 'customer', phone: `+${b}`, city: 'Rabat' });
    hubspot.seed('contacts', { firstname: 'NoPhone', lifecyclestage: 'customer', city: 'Agadir' });
    hubspot.seed('contacts', { firstname: 'Lead', lifecyclestage: 'lead', phone: '+212611111111', city: 'Tanger' });
    const tenant = await s.runtime.db.selectFrom('whatsapp_numbers').select('tenant_id').where('phone_number_id', '=', PNID).executeTakeFirstOrThrow();
    const conn = await connect(tenant.tenant_id, { crm: 'hubspot', portalId: String(hubspot.portalId), clientSecret: 'hs-secret', accessToken: 'test-token', basePath: hubspot.url });
    const res = await call('/api/v1/campaigns', {
      phone_number_id: PNID,
      name: 'hubspot customers',
      template: { name: 'spring_sale', language: 'fr' },
      segment: { connection_id: conn.id, filter_groups: [{ filters: [{ propertyName: 'lifecyclestage', operator: 'EQ', value: 'customer' }] }], variable_properties: ['city'] },
      start: true,
    });
    expect(res.status).toBe(201);
    expect(res.json.import).toMatchObject({ source: 'segment', accepted: 2, invalid: [{ line: 3, phone: '', reason: 'phone is empty' }] });
    const search = hubspot.requests.find((q) => q.path === '/crm/v3/objects/contacts/search');
    expect(search?.headers.authorization).toBe('Bearer test-token');
    await runner.runUntilIdle();
    const sent = campaignSends().filter((m) => [a, b].includes(m.to));
    expect(sent.map((m) => (m.body.template as { components: Array<{ parameters: Array<{ text: string }> }> }).components[0]!.parameters[0]!.text).sort()).toEqual(['Fes', 'Rabat']);
  });

  it('builds recipients from WooCommerce, Odoo and Zoho segments through the API, each validated for its CRM', async () => {
    const tenant = (await s.runtime.db.selectFrom('whatsapp_numbers').select('tenant_id').where('phone_number_id', '=', PNID).executeTakeFirstOrThrow()).tenant_id;
    const woo = await FakeWooCommerce.start({ behindTlsProxy: true });
    const odoo = await startOdooFake();
    const zoho = await startZohoFake();
    try {
      const [w1, w2, o1, o2, z1, z2] = nextWaIds(6);
      woo.addOrder({ billing: { first_name: 'Hind', last_name: 'A', phone: `0${w1!.slice(3)}`, city: 'Fes' }, line_items: [{ product_id: 42 }] });
      woo.addOrder({ billing: { first_name: 'Karim', phone: `+${w2}`, city: 'Oujda' }, line_items: [{ product_id: 42 }] });
      woo.addOrder({ billing: { first_name: 'Other', phone: '+212611112222' }, line_items: [{ product_id: 7 }] });
      const vip = odoo.addCategory('VIP');
      odoo.addPartner({ name: 'Nadia', phone: `+${o1}`, email: 'nadia@x.ma', category_id: [vip] });
      odoo.addPartner({ name: 'Reda', phone: `00${o2}`, email: 'reda@x.ma', category_id: [vip] });
      odoo.addPartner({ name: 'Not VIP', phone: '+212633334444' });
      zoho.addRecord('Contacts', { First_Name: 'Salma', Last_Name: 'B', Mobile: `+${z1}`, Lead_Source: 'Salon 2026', Mailing_City: 'Tanger' });
      zoho.addRecord('Contacts', { First_Name: 'Yassine', Last_Name: 'C', Phone: `0${z2!.slice(3)}`, Lead_Source: 'Salon 2026', Mailing_City: 'Agadir' });
      zoho.addRecord('Contacts', { Last_Name: 'Web', Mobile: '+212655556666', Lead_Source: 'Web' });

      const wooConn = await connect(tenant, { crm: 'woocommerce', url: woo.url, consumerKey: woo.consumerKey, consumerSecret: woo.consumerSecret, siteKey: 'site-key' });
      const odooConn = await connect(tenant, { crm: 'odoo', url: odoo.url, db: odoo.db, login: odoo.login, apiKey: odoo.apiKey, protocol: 'json2' });
      const zohoConn = await connect(tenant, {
        crm: 'zoho', apiDomain: zoho.apiUrl, accountsServer: zoho.accountsUrl, clientId: zoho.clientId, clientSecret: zoho.clientSecret,
        refreshToken: zoho.issueRefreshToken(), module: 'Contacts', orgId: 'org-1', allowedAccountsServers: [zoho.accountsUrl], allowedApiDomains: [zoho.apiUrl],
      });
      const cases = [
        { conn: wooConn, segment: { product_id: 42, variable_fields: ['billing.city'] }, waIds: [w1!, w2!], vars: ['Fes', 'Oujda'], describes: /woocommerce customers who ordered product 42/ },
        { conn: odooConn, segment: { domain: [['category_id', 'in', [vip]]], variable_fields: ['email'] }, waIds: [o1!, o2!], vars: ['nadia@x.ma', 'reda@x.ma'], describes: /odoo partners matching/ },
        { conn: zohoConn, segment: { criteria: '(Lead_Source:equals:Salon 2026)', variable_fields: ['Mailing_City'] }, waIds: [z1!, z2!], vars: ['Tanger', 'Agadir'], describes: /zoho Contacts matching/ },
      ];
      for (const c of cases) {
        const res = await call('/api/v1/campaigns', { phone_number_id: PNID, name: `segment ${c.conn.id}`, template: { name: 'spring_sale', language: 'fr' }, segment: { connection_id: c.conn.id, ...c.segment }, start: true });
        expect(res.status, JSON.stringify(res.json)).toBe(201);
        expect(res.json.import).toMatchObject({ source: 'segment', accepted: 2, segment: expect.stringMatching(c.describes) });
        await runner.runUntilIdle();
        const sent = campaignSends().filter((m) => c.waIds.includes(m.to));
        expect(sent.map((m) => (m.body.template as { components: Array<{ parameters: Array<{ text: string }> }> }).components[0]!.parameters[0]!.text).sort()).toEqual([...c.vars].sort());
      }

      // A segment is validated against its connection's CRM: HubSpot filters on a Zoho connection are refused.
      const wrong = await call('/api/v1/campaigns', { phone_number_id: PNID, name: 'wrong', template: { name: 'spring_sale', language: 'fr' }, segment: { connection_id: zohoConn.id, filter_groups: [{ filters: [{ propertyName: 'a', operator: 'EQ', value: 'b' }] }] } });
      expect(wrong.status).toBe(422);
      expect(String(wrong.json.error)).toMatch(/invalid zoho segment/);
      // A CRM that refuses (Odoo with a revoked key) is a 502 naming the CRM, not a server error.
      const revoked = await connect(tenant, { crm: 'odoo', url: odoo.url, db: odoo.db, login: odoo.login, apiKey: 'revoked-key', protocol: 'json2' }, `${odoo.url}#revoked`);
      const refused = await call('/api/v1/campaigns', { phone_number_id: PNID, name: 'revoked', template: { name: 'spring_sale', language: 'fr' }, segment: { connection_id: revoked.id, domain: [['id', '>', 0]] } });
      expect(refused.status).toBe(502);
      expect(refused.json).toMatchObject({ code: 'crm_error', retryable: false });
    } finally {
      await woo.close();
      await odoo.close();
      await zoho.close();
    }
  });

  it('never sends twice across a crash: claims settle from the message recorded under the clientRef', async () => {
    const waIds = nextWaIds(24);
    const id = await createCampaign(waIds, { start: true });
    const real = createCampaignSender(s.runtime.db, s.runtime.graph, logger);
    let calls = 0;
    let crash!: () => void;
    const crashed = new Promise<void>((r) => (crash = r));
    // The process "dies" at its 10th send right after Meta accepted it (answer never recorded), and
    // at its 11th before SendService even claimed the message. It is stopped once the 11th has begun:
    // stopped at the 10th, a loaded machine had sometimes not begun the 11th yet (one claim left).
    const dying: CampaignSender = {
      send: async (req) => {
        const call = (calls += 1);
        if (call === 11) {
          crash();
          throw new Error('process died before claiming');
        }
        const out = await real.send(req);
        if (call === 10) throw new Error('process died after Meta accepted');
        return out;
      },
    };
    const first = new CampaignRunner({ db: s.runtime.db, sender: dying, logger, concurrency: 2, pollIntervalMs: 20 });
    first.start();
    await crashed;
    await first.stop();
    const midway = await s.runtime.db.selectFrom('campaign_recipients').select(['status']).where('campaign_id', '=', id).execute();
    expect(midway.filter((x) => x.status === 'sending').length).toBeGreaterThanOrEqual(2);
    expect(midway.filter((x) => x.status === 'queued').length).toBeGreaterThan(0);

    // A new runner (another process after restart) settles the abandoned claims, then finishes.
    const second = new CampaignRunner({ db: s.runtime.db, sender: createCampaignSender(s.runtime.db, s.runtime.graph, logger), logger, concurrency: 3, leaseMs: 0 });
    await second.runUntilIdle();
    const perRecipient = new Map<string, number>();
    for (const m of campaignSends()) if (waIds.includes(m.to)) perRecipient.set(m.to, (perRecipient.get(m.to) ?? 0) + 1);
    expect([...perRecipient.values()].every((n) => n === 1)).toBe(true);
    expect(perRecipient.size).toBe(24);
    const r = await report(id);
    expect(r.counts).toMatchObject({ total: 24, sent: 24, sending: 0, queued: 0, failed: 0 });
    expect(r.status).toBe('completed');
  });

  it('keeps live replies ahead of a running campaign: the pacer gives a live reply at most one send interval of wait', async () => {
    const waIds = nextWaIds(40);
    const live = nextWaIds(1)[0]!;
    await inbound(live, 'salam, wach kayn?');
    const thread = (await s.runtime.db.selectFrom('threads').innerJoin('contacts', 'contacts.id', 'threads.contact_id').select('threads.id').where('contacts.wa_id', '=', live).executeTakeFirstOrThrow()).id;
    const lane: LaneReservation[] = [];
    const campaignRunner = new CampaignRunner({ db: s.runtime.db, sender: createCampaignSender(s.runtime.db, s.runtime.graph, logger, { onReservation: (r) => lane.push(r) }), logger, concurrency: 8, pollIntervalMs: 20 });
    const id = await createCampaign(waIds, { start: true });
    campaignRunner.start();
    const pacer = new DbPacer(s.runtime.db);
    const liveWaits: number[] = [];
    try {
      for (let i = 1; i <= 5; i++) {
        await waitFor(async () => (await report(id)).counts.sent >= i * 6, `campaign progress ${i}`);
        // Exactly what the live send path computes (SendService → DbPacer.reserve on the number's bucket).
        liveWaits.push(await pacer.reserve(PNID, { ratePerSecond: 20 }));
      }
      const res = await s.api(`/api/v1/threads/${thread}/messages`, { method: 'POST', body: JSON.stringify({ text: 'Iyeh kayn!' }) });
      expect(res.status).toBe(201);
      await waitFor(async () => (await report(id)).status === 'completed', 'campaign completed');
    } finally {
      await campaignRunner.stop();
    }
    // Bound: one send interval, plus the few ms a statement may wait for the pacer row's lock (its
    // clock is read before the wait). Queued behind 8 campaign workers it would be up to 8 intervals.
    for (const w of liveWaits) expect(w).toBeLessThanOrEqual(NUMBER_INTERVAL_MS + 10);
    // The campaign stood back whenever the number's bucket had a queue, and was paced by its lane.
    const laneGates = lane.filter((r) => r.gate === 'lane');
    expect(laneGates.length).toBeGreaterThanOrEqual(40);
    expect(Math.max(...laneGates.map((r) => r.waitMs))).toBeGreaterThan(NUMBER_INTERVAL_MS); // 8 workers queue on the lane, not on the number
    expect(graph.state.rejections.throughput[PNID] ?? 0).toBe(0);
    expect(campaignSends().filter((m) => waIds.includes(m.to))).toHaveLength(40);
  });

  it('a campaign never books the number ahead of live traffic (reserveIfIdle stands back from a queue)', async () => {
    const key = `fairness-${backend}`;
    const lanePacer = new CampaignLanePacer(s.runtime.db);
    const pacer = new DbPacer(s.runtime.db);
    const opts = { ratePerSecond: 20 };
    const started = Date.now();
    expect(await lanePacer.reserveIfIdle(key, opts)).toEqual({ taken: true, waitMs: 0 });
    // Twenty live replies arrive together: the bucket now has a queue of about a second.
    for (let i = 0; i < 20; i++) await pacer.reserve(key, opts);
    const refused = await lanePacer.reserveIfIdle(key, opts);
    const elapsed = Date.now() - started;
    expect(refused.taken).toBe(false);
    // 21 slots were booked from `started`: the campaign is told to wait for what is left of them
    // (wall time passes between the calls on a loaded machine, so the bound subtracts it).
    expect(refused.waitMs).toBeGreaterThan(0);
    expect(refused.waitMs).toBeGreaterThanOrEqual(21 * NUMBER_INTERVAL_MS - elapsed - 5);
    // The refused campaign attempt did not push the next live reply back.
    const nextLive = await pacer.reserve(key, opts);
    expect(nextLive).toBeLessThanOrEqual(refused.waitMs + 1);
  });
});
