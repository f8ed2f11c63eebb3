import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHubSpotV3 } from '@coex/connectors';
import { backends } from './helpers/backends.js';
import { startTestServer, TEST_ADMIN_TOKEN, type TestServer } from './helpers/runtime.js';
import { startGraphApiFake, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import * as P from '../core/src/whatsapp/payloads.js';
import type { Database } from '../core/src/db/schema.js';
import { createHttpApp } from '../core/src/http/app.js';
import { bearerAuth } from '../core/src/api/auth.js';
import { extensionRouter, issueExtensionKeyHandler } from '../core/src/api/extension-routes.js';
import { ExtensionKeyError, issueExtensionKey, pruneNonces, rememberNonce, revokeExtensionKey, signExtensionRequest, type ExtensionCrm } from '../core/src/api/extension-auth.js';
import * as m0004 from '../core/src/db/migrations/0004_extension_nonces.js';
import { listThreads } from '../core/src/store/queries.js';
import { TemplateCatalog } from '../core/src/outbound/templates.js';
import { createCampaign, startCampaign } from '../core/src/campaigns/store.js';
import { DEFAULT_FAKE_TEMPLATES, type FakeTemplate } from './fakes/graph-api.js';

/**
 * The extension API end to end: real threads (from signed Meta webhooks through the real runtime),
 * the extension router in the real HTTP shell, replies through the Graph API fake.
 */

const HUBSPOT_SECRET = 'hubspot-client-secret-7c1e';
const TENANT_A = 'default'; // the runtime's default tenant: numbers first seen in a webhook land here
const TENANT_B = 'other-shop';
const N_A: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
const N_B: P.NumberRef = { wabaId: '300000000000001', phoneNumberId: '300000000000002', displayPhoneNumber: '212522999888' };
const PORTAL_A = '4455667';
const PORTAL_B = '9988776';
const ACCOUNTS: Record<Exclude<ExtensionCrm, 'hubspot'>, string> = {
  woocommerce: 'https://shop-a.example.ma',
  odoo: 'https://erp-a.example.ma#atlas',
  zoho: '778899001',
};

/** Until migration 0004 is registered in core/src/db/index.ts, apply it here (idempotent either way). */
async function ensureExtensionSchema(db: Kysely<Database>): Promise<void> {
  const r = await sql<{ t: string | null }>`select to_regclass('extension_nonces')::text as t`.execute(db);
  if (!r.rows[0]?.t) await m0004.up(db as unknown as Kysely<unknown>);
}

/** What the WABA holds: the defaults, a named-parameter template, and ones a reply box cannot send. */
const FAKE_TEMPLATES: FakeTemplate[] = [
  ...DEFAULT_FAKE_TEMPLATES,
  { name: 'welcome_back', language: 'fr', category: 'MARKETING', parameterFormat: 'NAMED', body: 'Salam {{first_name}}, votre code promo est {{code}}.' },
  { name: 'promo_image', language: 'ar', category: 'MARKETING', bodyParameters: 0, body: 'تخفيضات رمضان', header: { format: 'IMAGE' } },
  { name: 'login_code', language: 'en_US', category: 'AUTHENTICATION', bodyParameters: 1, body: '{{1}} is your verification code.', buttons: [{ type: 'OTP', text: 'Copy code' }] },
  { name: 'old_promo', language: 'fr', category: 'MARKETING', status: 'PAUSED', bodyParameters: 0, body: 'Old promo' },
];

interface CallOptions {
  body?: unknown;
  /** Keyed CRMs: sign as this account with this key (defaults: tenant A's install). */
  account?: string;
  key?: string;
  timestamp?: number;
  nonce?: string;
  unsigned?: boolean;
  /** HubSpot: the portal and user the card runs for. */
  portalId?: string;
  userEmail?: string;
  secret?: string;
}

describe.each(backends())('extension API [%s]', (backend) => {
  let graph: GraphApiFake;
  let s: TestServer;
  let ext: Server;
  let base = '';
  const keys: Partial<Record<ExtensionCrm, string>> = {};
  let keyB = '';
  let seq = 0;

  beforeAll(async () => {
    graph = await startGraphApiFake({ templates: FAKE_TEMPLATES });
    s = await startTestServer(backend, { GRAPH_API_BASE_URL: graph.url, WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN, COEX_AGENT: 'off' });
    const db = s.runtime.db;
    await ensureExtensionSchema(db);
    await db.insertInto('tenants').values([{ id: TENANT_A, name: 'Atlas Boutique' }, { id: TENANT_B, name: 'Other Shop' }]).onConflict((oc) => oc.doNothing()).execute();
    // Tenant B's own number: its webhooks create threads in tenant B.
    await db
      .insertInto('whatsapp_numbers')
      .values({ phone_number_id: N_B.phoneNumberId, tenant_id: TENANT_B, waba_id: N_B.wabaId, display_phone_number: N_B.displayPhoneNumber, verified_name: null, access_token_enc: null, connection_reason: null, connection_changed_at: null, last_echo_at: null })
      .execute();
    await db
      .insertInto('crm_connections')
      .values([
        { tenant_id: TENANT_A, crm: 'hubspot', account: PORTAL_A, credentials_enc: s.runtime.cipher.encrypt('{}'), extension_key_hash: null },
        { tenant_id: TENANT_B, crm: 'hubspot', account: PORTAL_B, credentials_enc: s.runtime.cipher.encrypt('{}'), extension_key_hash: null },
      ])
      .execute();
    for (const crm of ['woocommerce', 'odoo', 'zoho'] as const) {
      keys[crm] = (await issueExtensionKey(db, { tenantId: TENANT_A, crm, account: ACCOUNTS[crm], cipher: s.runtime.cipher })).key;
    }
    keyB = (await issueExtensionKey(db, { tenantId: TENANT_B, crm: 'woocommerce', account: 'https://shop-b.example.ma', cipher: s.runtime.cipher })).key;

    const app = createHttpApp({
      logger: s.runtime.logger,
      metrics: s.runtime.metrics,
      ready: async () => undefined,
      routers: [extensionRouter({ db, sender: s.runtime.sender, logger: s.runtime.logger, cipher: s.runtime.cipher, hubspotClientSecret: HUBSPOT_SECRET, templates: new TemplateCatalog({ graph: s.runtime.graph }) })],
    });
    await new Promise<void>((resolve) => {
      ext = app.listen(0, '127.0.0.1', () => resolve());
    });
    base = `http://127.0.0.1:${(ext.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    if (ext) await new Promise((resolve) => ext.close(resolve));
    await s?.close();
    await graph?.close();
  });

  /** A customer who wrote `minutesAgo` minutes ago on the given number; returns its wa_id and thread id. */
  async function customer(n: P.NumberRef = N_A, minutesAgo = 1, textBody = 'salam, wach kayn had l produit?'): Promise<{ waId: string; threadId: string }> {
    seq += 1;
    const waId = `2126123${String(seq).padStart(5, '0')}`;
    await s.postWebhook(P.inboundMessage(n, { waId, name: `Client ${seq}` }, `wamid.EXT-${backend}-${seq}`, Date.now() - minutesAgo * 60_000, P.text(textBody)));
    await s.runtime.waitForInboxDrained();
    const [thread] = await listThreads(s.runtime.db, null, { waId, phoneNumberId: n.phoneNumberId });
    return { waId, threadId: thread!.id };
  }

  /** Calls the extension API as the given CRM's UI would, signing with that CRM's scheme. */
  async function call(crm: ExtensionCrm, method: 'GET' | 'POST', path: string, o: CallOptions = {}): Promise<Response> {
    const raw = o.body === undefined ? '' : JSON.stringify(o.body);
    const timestamp = o.timestamp ?? Date.now();
    const headers: Record<string, string> = o.body === undefined ? {} : { 'content-type': 'application/json' };
    let pathWithQuery = `/ext/v1/${crm}${path}`;
    if (crm === 'hubspot') {
      // hubspot.fetch appends the signed context of the card's user.
      const ctx = new URLSearchParams({ userId: '1234567', userEmail: o.userEmail ?? 'rep@atlas.ma', appId: '777', portalId: o.portalId ?? PORTAL_A });
      pathWithQuery += `${pathWithQuery.includes('?') ? '&' : '?'}${ctx.toString()}`;
      if (!o.unsigned) {
        headers['x-hubspot-request-timestamp'] = String(timestamp);
        headers['x-hubspot-signature-v3'] = signHubSpotV3(o.secret ?? HUBSPOT_SECRET, method, `${base}${pathWithQuery}`, raw, String(timestamp));
      }
    } else if (!o.unsigned) {
      const nonce = o.nonce ?? randomBytes(16).toString('hex');
      headers['x-coex-account'] = o.account ?? ACCOUNTS[crm];
      headers['x-coex-timestamp'] = String(timestamp);
      headers['x-coex-nonce'] = nonce;
      headers['x-coex-signature'] = signExtensionRequest({ key: o.key ?? keys[crm]!, method, pathWithQuery, body: raw, timestamp, nonce });
    }
    return fetch(`${base}${pathWithQuery}`, { method, headers, ...(o.body === undefined ? {} : { body: raw }) });
  }

  const CRMS: ExtensionCrm[] = ['hubspot', 'woocommerce', 'odoo', 'zoho'];
  /** How each UI might spell the customer's phone. */
  const spell: Record<ExtensionCrm, (waId: string) => string> = {
    hubspot: (w) => `+${w.slice(0, 3)} ${w.slice(3, 4)} ${w.slice(4, 6)} ${w.slice(6, 8)} ${w.slice(8)}`,
    woocommerce: (w) => `0${w.slice(3)}`,
    odoo: (w) => `00${w}`,
    zoho: (w) => w,
  };
  const expectedActor: Record<ExtensionCrm, string> = { hubspot: 'rep@atlas.ma', woocommerce: 'manager@shop-a.example.ma', odoo: 'odoo:https://erp-a.example.ma#atlas', zoho: 'sara@atlas.ma' };
  const claimedActor: Record<ExtensionCrm, string | undefined> = { hubspot: 'spoofed@evil.example', woocommerce: 'manager@shop-a.example.ma', odoo: undefined, zoho: 'sara@atlas.ma' };

  describe.each(CRMS)('%s', (crm) => {
    it('returns the thread for the customer phone, in any spelling, to a correctly signed request', async () => {
      const c = await customer();
      const res = await call(crm, 'GET', `/thread?phone=${encodeURIComponent(spell[crm](c.waId))}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        thread: { id: string; wa_id: string; contact_name: string; phone_number_id: string; bot: { state: string; history: unknown[] }; window: { open: boolean; closes_at: string } };
        messages: Array<{ direction: string; origin: string; text: string; type: string }>;
        sync: { history: { status: string; progress: number }; contacts: { status: string } };
      };
      expect(body.thread).toMatchObject({ id: c.threadId, wa_id: c.waId, contact_name: `Client ${seq}`, phone_number_id: N_A.phoneNumberId, bot: { state: 'active', history: [] }, window: { open: true } });
      expect(new Date(body.thread.window.closes_at).getTime()).toBeGreaterThan(Date.now() + 23 * 3_600_000);
      expect(body.messages).toEqual([expect.objectContaining({ direction: 'inbound', origin: 'customer', type: 'text', text: 'salam, wach kayn had l produit?' })]);
      expect(body.sync).toEqual({ history: { status: expect.any(String), progress: expect.any(Number) }, contacts: { status: expect.any(String) } });

      const none = await call(crm, 'GET', `/thread?phone=${encodeURIComponent('+212 699 99 99 99')}`);
      expect(none.status).toBe(200);
      expect(await none.json()).toMatchObject({ thread: null, messages: [] });
      const bad = await call(crm, 'GET', '/thread?phone=hello');
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ code: 'invalid_phone' });
    });

    it('toggles the bot, recording the CRM as cause and the CRM user as actor', async () => {
      const c = await customer();
      const paused = await call(crm, 'POST', `/threads/${c.threadId}/bot`, { body: { action: 'pause', ...(claimedActor[crm] ? { actor: claimedActor[crm] } : {}) } });
      expect(paused.status).toBe(200);
      expect(await paused.json()).toMatchObject({ bot: { state: 'paused', paused_until: null } });
      const off = await call(crm, 'POST', `/threads/${c.threadId}/bot`, { body: { action: 'off' } });
      expect(((await off.json()) as { bot: { state: string } }).bot.state).toBe('off');

      const view = (await (await call(crm, 'GET', `/thread?phone=${c.waId}`)).json()) as { thread: { bot: { state: string; history: Array<{ from: string; to: string; cause: string; actor: string; at: string }> } } };
      expect(view.thread.bot.state).toBe('off');
      expect(view.thread.bot.history[1]).toMatchObject({ from: 'active', to: 'paused', cause: `crm_${crm}_pause`, actor: expectedActor[crm] });
      expect(view.thread.bot.history[0]).toMatchObject({ from: 'paused', to: 'off', cause: `crm_${crm}_off` });

      const invalid = await call(crm, 'POST', `/threads/${c.threadId}/bot`, { body: { action: 'dance' } });
      expect(invalid.status).toBe(400);
    });

    it('sends a reply through the Cloud API and pauses the agent; a closed window asks for a template', async () => {
      const c = await customer();
      const res = await call(crm, 'POST', `/threads/${c.threadId}/messages`, { body: { text: `Merci! (${crm})`, ...(claimedActor[crm] ? { actor: claimedActor[crm] } : {}) } });
      expect(res.status).toBe(201);
      const { message } = (await res.json()) as { message: { id: string; wamid: string; status: string } };
      expect(message.status).toBe('accepted');
      expect(graph.state.sent.at(-1)!.body).toEqual({ messaging_product: 'whatsapp', recipient_type: 'individual', to: c.waId, type: 'text', text: { body: `Merci! (${crm})` } });
      const row = await s.runtime.db.selectFrom('messages').select(['origin', 'actor', 'wamid']).where('id', '=', message.id).executeTakeFirstOrThrow();
      expect(row).toEqual({ origin: 'api', actor: expectedActor[crm], wamid: message.wamid });
      const bot = await s.runtime.db.selectFrom('threads').select('bot_state').where('id', '=', c.threadId).executeTakeFirstOrThrow();
      expect(bot.bot_state).toBe('paused');

      const stale = await customer(N_A, 25 * 60);
      const sentBefore = graph.state.sent.length;
      const closed = await call(crm, 'POST', `/threads/${stale.threadId}/messages`, { body: { text: 'salam' } });
      expect(closed.status).toBe(409);
      expect(await closed.json()).toMatchObject({ code: 'window_closed', hint: expect.stringMatching(/template/), closed_at: expect.any(String) });
      expect(graph.state.sent.length).toBe(sentBefore);
      const template = await call(crm, 'POST', `/threads/${stale.threadId}/messages`, { body: { template: { name: 'hello_world', language: 'en_US' } } });
      expect(template.status).toBe(201);
      expect(graph.state.sent.at(-1)!.body).toMatchObject({ to: stale.waId, type: 'template', template: { name: 'hello_world', language: { code: 'en_US' } } });

      const neither = await call(crm, 'POST', `/threads/${c.threadId}/messages`, { body: {} });
      expect(neither.status).toBe(400);
    });

    it('rejects unsigned, expired, badly signed and replayed requests with 401, on every route', async () => {
      const c = await customer();
      const routes: Array<['GET' | 'POST', string, unknown]> = [
        ['GET', `/thread?phone=${c.waId}`, undefined],
        ['GET', `/templates?phone_number_id=${N_A.phoneNumberId}`, undefined],
        ['GET', `/campaigns?phone=${c.waId}`, undefined],
        ['POST', `/threads/${c.threadId}/bot`, { action: 'off' }],
        ['POST', `/threads/${c.threadId}/messages`, { text: 'not sent' }],
      ];
      const sentBefore = graph.state.sent.length;
      for (const [method, path, body] of routes) {
        const withBody = body === undefined ? {} : { body };
        const unsigned = await call(crm, method, path, { ...withBody, unsigned: true });
        expect(unsigned.status, `${method} ${path}`).toBe(401);
        expect(await unsigned.json()).toMatchObject({ code: 'missing_credentials' });

        for (const skew of [-6 * 60_000, 6 * 60_000]) {
          const expired = await call(crm, method, path, { ...withBody, timestamp: Date.now() + skew });
          expect(expired.status, `${method} ${path}`).toBe(401);
          expect(await expired.json()).toMatchObject({ code: 'expired', error: expect.stringMatching(/expired/) });
        }

        const forged = crm === 'hubspot' ? await call(crm, method, path, { ...withBody, secret: 'not-the-secret' }) : await call(crm, method, path, { ...withBody, key: `coex_ext_${randomBytes(32).toString('base64url')}` });
        expect(forged.status, `${method} ${path}`).toBe(401);
        expect(await forged.json()).toMatchObject({ code: 'bad_signature' });
      }
      expect(graph.state.sent.length).toBe(sentBefore);
      expect((await s.runtime.db.selectFrom('threads').select('bot_state').where('id', '=', c.threadId).executeTakeFirstOrThrow()).bot_state).toBe('active');

      // A replayed read is refused too (the nonce, or HubSpot's signature, was used).
      const readAt = Date.now();
      const readNonce = randomBytes(16).toString('hex');
      expect((await call(crm, 'GET', `/campaigns?phone=${c.waId}`, { timestamp: readAt, nonce: readNonce })).status).toBe(200);
      const replayedRead = await call(crm, 'GET', `/campaigns?phone=${c.waId}`, { timestamp: readAt, nonce: readNonce });
      expect(replayedRead.status).toBe(401);
      expect(await replayedRead.json()).toMatchObject({ code: 'replayed' });

      // The same signed request twice: the second is a replay, even within the window.
      const timestamp = Date.now();
      const nonce = randomBytes(16).toString('hex');
      const first = await call(crm, 'POST', `/threads/${c.threadId}/bot`, { body: { action: 'pause' }, timestamp, nonce });
      expect(first.status).toBe(200);
      const again = await call(crm, 'POST', `/threads/${c.threadId}/bot`, { body: { action: 'pause' }, timestamp, nonce });
      expect(again.status).toBe(401);
      expect(await again.json()).toMatchObject({ code: 'replayed' });
      const events = await s.runtime.db.selectFrom('bot_events').select('id').where('thread_id', '=', c.threadId).execute();
      expect(events).toHaveLength(1);
    });

    it("never shows or touches another tenant's thread (404, like an unknown id)", async () => {
      const theirs = await customer(N_B);
      const ours = await customer(N_A);
      // As tenant A: tenant B's customer does not exist, and its thread id is "not found".
      const lookup = await call(crm, 'GET', `/thread?phone=${theirs.waId}`);
      expect(await lookup.json()).toMatchObject({ thread: null });
      for (const [path, body] of [
        [`/threads/${theirs.threadId}/bot`, { action: 'off' }],
        [`/threads/${theirs.threadId}/messages`, { text: 'hello' }],
      ] as const) {
        const res = await call(crm, 'POST', path, { body });
        expect(res.status).toBe(404);
        expect(await res.json()).toEqual({ error: 'thread not found', code: 'not_found' });
      }
      const unknown = await call(crm, 'POST', `/threads/${randomUUID()}/bot`, { body: { action: 'off' } });
      expect(unknown.status).toBe(404);
      const state = await s.runtime.db.selectFrom('threads').select('bot_state').where('id', '=', theirs.threadId).executeTakeFirstOrThrow();
      expect(state.bot_state).toBe('active');

      // As tenant B (another portal / another shop's key), tenant A's thread is just as invisible.
      const asB: CallOptions = crm === 'hubspot' ? { portalId: PORTAL_B } : crm === 'woocommerce' ? { account: 'https://shop-b.example.ma', key: keyB } : {};
      if (crm === 'hubspot' || crm === 'woocommerce') {
        const res = await call(crm, 'POST', `/threads/${ours.threadId}/bot`, { ...asB, body: { action: 'off' } });
        expect(res.status).toBe(404);
        const mine = await call(crm, 'GET', `/thread?phone=${theirs.waId}`, asB);
        expect(((await mine.json()) as { thread: { id: string } }).thread.id).toBe(theirs.threadId);
      }
    });
  });

  describe.each(CRMS)('%s: templates and campaigns', (crm) => {
    it("lists the WABA's approved templates, marks the ones a reply box cannot send, and sends one with named parameters when the window is closed", async () => {
      const res = await call(crm, 'GET', `/templates?phone_number_id=${N_A.phoneNumberId}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { templates: Array<Record<string, unknown>>; stale: boolean; fetched_at: string };
      expect(body.stale).toBe(false);
      expect(Number.isNaN(Date.parse(body.fetched_at))).toBe(false);
      // Sorted by name; the paused template is not offered.
      expect(body.templates.map((t) => t.name)).toEqual(['hello_world', 'login_code', 'order_shipped', 'promo_image', 'welcome_back']);
      const byName = Object.fromEntries(body.templates.map((t) => [t.name as string, t]));
      expect(byName.order_shipped).toEqual({ name: 'order_shipped', language: 'fr', category: 'UTILITY', body: 'Bonjour, votre commande {{1}} est en route.', parameters: { format: 'positional', names: ['1'] }, sendable: true, unsendable_reason: null });
      expect(byName.welcome_back).toMatchObject({ category: 'MARKETING', parameters: { format: 'named', names: ['first_name', 'code'] }, sendable: true });
      expect(byName.hello_world).toMatchObject({ parameters: { format: 'positional', names: [] }, sendable: true });
      expect(byName.promo_image).toMatchObject({ sendable: false, unsendable_reason: 'needs an image header' });
      expect(byName.login_code).toMatchObject({ sendable: false, unsendable_reason: expect.stringMatching(/authentication/) });
      // Without a number: every number of the tenant; another tenant's number is "not found".
      expect(((await (await call(crm, 'GET', '/templates')).json()) as { templates: unknown[] }).templates).toHaveLength(5);
      const theirs = await call(crm, 'GET', `/templates?phone_number_id=${N_B.phoneNumberId}`);
      expect(theirs.status).toBe(404);
      expect(await theirs.json()).toMatchObject({ code: 'not_found' });

      // The window closed 25 hours ago: text is refused before Meta, the named template goes out.
      const c = await customer(N_A, 25 * 60);
      const text = await call(crm, 'POST', `/threads/${c.threadId}/messages`, { body: { text: 'hello?' } });
      expect(text.status).toBe(409);
      expect(await text.json()).toMatchObject({ code: 'window_closed' });
      const sent = await call(crm, 'POST', `/threads/${c.threadId}/messages`, { body: { template: { name: 'welcome_back', language: 'fr', body_parameters: { first_name: 'Youssef', code: 'RAMADAN10' } }, client_ref: `tpl-${crm}` } });
      expect(sent.status).toBe(201);
      expect(graph.state.sent.at(-1)!.body).toMatchObject({
        to: c.waId,
        type: 'template',
        template: { name: 'welcome_back', language: { code: 'fr' }, components: [{ type: 'body', parameters: [{ type: 'text', parameter_name: 'first_name', text: 'Youssef' }, { type: 'text', parameter_name: 'code', text: 'RAMADAN10' }] }] },
      });
      const positional = await call(crm, 'POST', `/threads/${c.threadId}/messages`, { body: { template: { name: 'order_shipped', language: 'fr', body_parameters: ['#1042'] } } });
      expect(positional.status).toBe(201);
      expect(graph.state.sent.at(-1)!.body).toMatchObject({ template: { name: 'order_shipped', components: [{ type: 'body', parameters: [{ type: 'text', text: '#1042' }] }] } });
      const badName = await call(crm, 'POST', `/threads/${c.threadId}/messages`, { body: { template: { name: 'welcome_back', language: 'fr', body_parameters: { 'First Name': 'x' } } } });
      expect(badName.status).toBe(400);
    });

    it("shows the campaigns that included a customer with that customer's outcome, the totals and the opt-out; nothing of another tenant", async () => {
      const reader = await customer();
      const quiet = await customer();
      const db = s.runtime.db;
      const created = await createCampaign(db, {
        tenantId: TENANT_A,
        phoneNumberId: N_A.phoneNumberId,
        name: `Soldes ${crm}`,
        template: { name: 'order_shipped', language: 'fr', category: 'marketing' },
        bodyParameters: ['{{var1}}'],
        source: 'api',
        sendAt: null,
        createdBy: null,
        recipients: [reader, quiet].map((c, i) => ({ waId: c.waId, phone: `+${c.waId}`, name: `Client ${i}`, variables: [`#${i}`] })),
      });
      await startCampaign(db, TENANT_A, created.id);
      await s.runtime.campaigns.runUntilIdle();
      const sentRow = await db.selectFrom('campaign_recipients').select(['wamid', 'status']).where('campaign_id', '=', created.id).where('wa_id', '=', reader.waId).executeTakeFirstOrThrow();
      expect(sentRow.status).toBe('sent');
      // Meta reports the message read, then the customer answers "baraka" (an opt-out).
      await s.postWebhook(P.statusUpdate(N_A, sentRow.wamid!, 'delivered', Date.now(), reader.waId));
      await s.postWebhook(P.statusUpdate(N_A, sentRow.wamid!, 'read', Date.now(), reader.waId));
      await s.postWebhook(P.inboundMessage(N_A, { waId: reader.waId }, `wamid.OPT-${backend}-${crm}`, Date.now() + 1000, P.text('baraka')));
      await s.runtime.waitForInboxDrained();

      const res = await call(crm, 'GET', `/campaigns?phone=${encodeURIComponent(spell[crm](reader.waId))}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { campaigns: Array<Record<string, unknown>>; opt_out: Record<string, unknown> | null };
      expect(body.campaigns).toHaveLength(1);
      expect(body.campaigns[0]).toMatchObject({
        id: created.id,
        name: `Soldes ${crm}`,
        status: 'completed',
        template: { name: 'order_shipped', language: 'fr', category: 'marketing' },
        counts: { total: 2, sent: 2, delivered: 1, read: 1, failed: 0, replied: 1, queued: 0 },
        failures: [],
        recipient: { status: 'sent', message_status: 'read', error_code: null, error: null, replied: true },
      });
      expect(Date.parse((body.campaigns[0]!.recipient as { sent_at: string }).sent_at)).toBeGreaterThan(0);
      expect(body.opt_out).toMatchObject({ source: 'keyword', source_label: 'keyword', in_whatsapp: false, detail: 'baraka', at: expect.any(String) });

      const other = (await (await call(crm, 'GET', `/campaigns?phone=${quiet.waId}`)).json()) as { campaigns: Array<{ recipient: Record<string, unknown> }>; opt_out: unknown };
      expect(other.campaigns[0]!.recipient).toMatchObject({ status: 'sent', message_status: 'accepted', replied: false });
      expect(other.opt_out).toBeNull();
      const stranger = (await (await call(crm, 'GET', '/campaigns?phone=212699000111')).json()) as { campaigns: unknown[]; opt_out: unknown };
      expect(stranger).toEqual({ campaigns: [], opt_out: null, consent_history: [] });
      const latest = (await (await call(crm, 'GET', '/campaigns?limit=1')).json()) as { campaigns: Array<{ id: string; recipient: unknown }> };
      expect(latest.campaigns).toEqual([expect.objectContaining({ id: created.id, recipient: null })]);
      expect((await call(crm, 'GET', '/campaigns?phone=nope')).status).toBe(400);

      // Tenant B sees neither the campaign nor the opt-out of tenant A's customer.
      if (crm === 'hubspot' || crm === 'woocommerce') {
        const asB: CallOptions = crm === 'hubspot' ? { portalId: PORTAL_B } : { account: 'https://shop-b.example.ma', key: keyB };
        expect(await (await call(crm, 'GET', `/campaigns?phone=${reader.waId}`, asB)).json()).toEqual({ campaigns: [], opt_out: null, consent_history: [] });
        expect(((await (await call(crm, 'GET', '/campaigns', asB)).json()) as { campaigns: unknown[] }).campaigns).toEqual([]);
      }
    });
  });

  it('tells the CRM UIs a customer opted out in WhatsApp itself apart from a keyword, with the consent history', async () => {
    const c = await customer();
    const at = Math.floor(Date.now() / 1000) + 5;
    const stop = {
      object: 'whatsapp_business_account',
      entry: [{ id: N_A.wabaId, changes: [{ field: 'user_preferences', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: N_A.displayPhoneNumber, phone_number_id: N_A.phoneNumberId }, contacts: [{ wa_id: c.waId }], user_preferences: [{ wa_id: c.waId, detail: 'User requested to stop marketing messages', category: 'marketing_messages', value: 'stop', timestamp: at }] } }] }],
    };
    expect((await s.postWebhook(stop)).status).toBe(200);
    await s.runtime.waitForInboxDrained();
    const body = (await (await call('woocommerce', 'GET', `/campaigns?phone=${c.waId}`)).json()) as { opt_out: Record<string, unknown> | null; consent_history: Array<Record<string, unknown>> };
    expect(body.opt_out).toEqual({ source: 'whatsapp', source_label: 'WhatsApp: stop promotions', in_whatsapp: true, detail: 'stop: User requested to stop marketing messages', at: new Date(at * 1000).toISOString() });
    expect(body.consent_history).toEqual([{ action: 'opt_out', source: 'whatsapp', source_label: 'WhatsApp: stop promotions', in_whatsapp: true, detail: 'stop: User requested to stop marketing messages', at: new Date(at * 1000).toISOString(), applied: true }]);
  });

  it('lists templates once per cache period, and says so when Meta fails and nothing is cached', async () => {
    const before = graph.requests.filter((r) => r.path.endsWith('/message_templates')).length;
    for (let i = 0; i < 3; i++) expect((await call('zoho', 'GET', '/templates')).status).toBe(200);
    expect(graph.requests.filter((r) => r.path.endsWith('/message_templates')).length).toBe(before);
    // A fresh catalog (cold cache) and Meta refusing: 502 with Meta's code.
    const app = createHttpApp({
      logger: s.runtime.logger,
      metrics: s.runtime.metrics,
      ready: async () => undefined,
      routers: [extensionRouter({ db: s.runtime.db, sender: s.runtime.sender, logger: s.runtime.logger, cipher: s.runtime.cipher, templates: new TemplateCatalog({ graph: s.runtime.graph }) })],
    });
    const cold = await new Promise<Server>((resolve) => {
      const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
    });
    try {
      graph.setBehaviour({ scriptedErrors: [{ code: 190, httpStatus: 401, message: 'Error validating access token', endpoint: 'message_templates' }] });
      const path = '/ext/v1/zoho/templates';
      const timestamp = Date.now();
      const nonce = randomBytes(16).toString('hex');
      const res = await fetch(`http://127.0.0.1:${(cold.address() as AddressInfo).port}${path}`, {
        headers: { 'x-coex-account': ACCOUNTS.zoho, 'x-coex-timestamp': String(timestamp), 'x-coex-nonce': nonce, 'x-coex-signature': signExtensionRequest({ key: keys.zoho!, method: 'GET', pathWithQuery: path, body: '', timestamp, nonce }) },
      });
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({ code: 'templates_unavailable', meta_code: 190 });
    } finally {
      await new Promise((resolve) => cold.close(resolve));
    }
  });

  it('maps HubSpot portals to tenants: an unconnected portal is refused with 403', async () => {
    const res = await call('hubspot', 'GET', '/thread?phone=212612345678', { portalId: '1111111' });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'unknown_account' });
  });

  it('binds a key to its CRM and account: another CRM path or account with the same key fails', async () => {
    const asOdoo = await call('odoo', 'GET', '/thread?phone=212612345678', { account: ACCOUNTS.woocommerce, key: keys.woocommerce! });
    expect(asOdoo.status).toBe(401);
    const otherAccount = await call('woocommerce', 'GET', '/thread?phone=212612345678', { account: 'https://shop-b.example.ma', key: keys.woocommerce! });
    expect(otherAccount.status).toBe(401);
    // The account is matched the way connections spell it (trailing slash ignored).
    const slash = await call('woocommerce', 'GET', '/thread?phone=212612345678', { account: `${ACCOUNTS.woocommerce}/` });
    expect(slash.status).toBe(200);
  });

  it('returns the latest `limit` messages, oldest first', async () => {
    const c = await customer();
    for (let i = 1; i <= 3; i++) {
      await s.postWebhook(P.inboundMessage(N_A, { waId: c.waId }, `wamid.LIM-${backend}-${i}`, Date.now() - (10 - i) * 1000, P.text(`m${i}`)));
    }
    await s.runtime.waitForInboxDrained();
    const res = await call('zoho', 'GET', `/thread?phone=${c.waId}&limit=2`);
    const body = (await res.json()) as { messages: Array<{ text: string }> };
    expect(body.messages.map((m) => m.text)).toEqual(['m2', 'm3']);
  });

  it('issues, rotates and revokes install keys; refuses HubSpot and another tenant’s account', async () => {
    const db = s.runtime.db;
    const cipher = s.runtime.cipher;
    const account = 'https://rotate.example.ma';
    const first = await issueExtensionKey(db, { tenantId: TENANT_A, crm: 'woocommerce', account, cipher });
    expect(first.key).toMatch(/^coex_ext_[A-Za-z0-9_-]{43}$/);
    const row = await db.selectFrom('crm_connections').selectAll().where('id', '=', first.connectionId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ tenant_id: TENANT_A, crm: 'woocommerce', account, status: 'extension_only', credentials_enc: '' });
    expect(row.extension_key_enc).not.toContain(first.key);
    expect(await call('woocommerce', 'GET', '/thread?phone=212612345678', { account, key: first.key })).toHaveProperty('status', 200);

    const second = await issueExtensionKey(db, { tenantId: TENANT_A, crm: 'woocommerce', account: `${account}/`, cipher });
    expect(second.connectionId).toBe(first.connectionId);
    expect(await call('woocommerce', 'GET', '/thread?phone=212612345678', { account, key: first.key })).toHaveProperty('status', 401);
    expect(await call('woocommerce', 'GET', '/thread?phone=212612345678', { account, key: second.key })).toHaveProperty('status', 200);

    expect(await revokeExtensionKey(db, { crm: 'woocommerce', account })).toBe(true);
    expect(await call('woocommerce', 'GET', '/thread?phone=212612345678', { account, key: second.key })).toHaveProperty('status', 401);

    await expect(issueExtensionKey(db, { tenantId: TENANT_B, crm: 'woocommerce', account, cipher })).rejects.toThrow(/another tenant/);
    await expect(issueExtensionKey(db, { tenantId: TENANT_A, crm: 'hubspot', account: PORTAL_A, cipher })).rejects.toBeInstanceOf(ExtensionKeyError);
    await expect(issueExtensionKey(db, { tenantId: 'nobody', crm: 'zoho', account: '1', cipher })).rejects.toThrow(/no tenant/);

    // An existing (credentialed) connection keeps its credentials and status when a key is issued.
    const connected = await db
      .insertInto('crm_connections')
      .values({ tenant_id: TENANT_A, crm: 'zoho', account: '5550001', credentials_enc: cipher.encrypt('{"crm":"zoho"}'), extension_key_hash: null })
      .returning(['id', 'credentials_enc'])
      .executeTakeFirstOrThrow();
    const zohoKey = await issueExtensionKey(db, { tenantId: TENANT_A, crm: 'zoho', account: '5550001', cipher });
    expect(zohoKey.connectionId).toBe(connected.id);
    expect(await db.selectFrom('crm_connections').select(['status', 'credentials_enc']).where('id', '=', connected.id).executeTakeFirstOrThrow()).toEqual({ status: 'active', credentials_enc: connected.credentials_enc });
  });

  it('issues keys over the admin API: the admin names the tenant, a tenant token only its own', async () => {
    const db = s.runtime.db;
    const app = express();
    app.post('/api/v1/extension-keys', express.json(), bearerAuth(db, TEST_ADMIN_TOKEN), issueExtensionKeyHandler({ db, cipher: s.runtime.cipher }));
    const server = await new Promise<Server>((resolve) => {
      const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/extension-keys`;
    const tenantToken = `coex_${randomBytes(12).toString('hex')}`;
    const { sha256Hex } = await import('../core/src/crypto.js');
    await db.insertInto('api_tokens').values({ token_hash: sha256Hex(tenantToken), tenant_id: TENANT_B, label: 'test' }).execute();
    const post = (token: string, body: unknown) => fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    try {
      const admin = await post(TEST_ADMIN_TOKEN, { tenant_id: TENANT_A, crm: 'odoo', account: 'https://erp-new.example.ma/#prod' });
      expect(admin.status).toBe(201);
      const issued = (await admin.json()) as { key: string; account: string; tenant_id: string };
      expect(issued).toMatchObject({ account: 'https://erp-new.example.ma#prod', tenant_id: TENANT_A });
      expect(await call('odoo', 'GET', '/thread?phone=212612345678', { account: issued.account, key: issued.key })).toHaveProperty('status', 200);

      expect((await post(TEST_ADMIN_TOKEN, { crm: 'odoo', account: 'x' })).status).toBe(400);
      expect((await post(tenantToken, { tenant_id: TENANT_A, crm: 'zoho', account: '42' })).status).toBe(403);
      const own = await post(tenantToken, { crm: 'zoho', account: '42' });
      expect(own.status).toBe(201);
      expect(await own.json()).toMatchObject({ tenant_id: TENANT_B });
      expect((await post(tenantToken, { crm: 'hubspot', account: '42' })).status).toBe(400);
      expect((await post('wrong', { crm: 'zoho', account: '43' })).status).toBe(401);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('remembers nonces per CRM account until their timestamp leaves the window, then prunes them', async () => {
    const db = s.runtime.db;
    const t0 = Date.now();
    const entry = { crm: 'zoho' as const, account: 'prune-test', nonce: 'n'.repeat(16), expiresAt: new Date(t0 + 1000) };
    expect(await rememberNonce(db, entry)).toBe(true);
    expect(await rememberNonce(db, entry)).toBe(false);
    expect(await rememberNonce(db, { ...entry, account: 'another-org' })).toBe(true);
    expect(await pruneNonces(db, new Date(t0 + 2000))).toBeGreaterThanOrEqual(2);
    const left = await db.selectFrom('extension_nonces').select('nonce').where('account', 'in', ['prune-test', 'another-org']).execute();
    expect(left).toEqual([]);
  });

  it('allows CORS from the Zoho widget on /ext/v1/zoho only', async () => {
    const origin = 'https://1234567.zappsusercontent.com';
    const pre = await fetch(`${base}/ext/v1/zoho/threads/x/messages`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-coex-account,x-coex-timestamp,x-coex-nonce,x-coex-signature' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(origin);
    const c = await customer();
    const get = await fetch(`${base}/ext/v1/zoho/thread?phone=${c.waId}`, { headers: { origin } });
    expect(get.status).toBe(401); // CORS is not authentication
    expect(get.headers.get('access-control-allow-origin')).toBe(origin);
    const woo = await fetch(`${base}/ext/v1/woocommerce/thread?phone=${c.waId}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' } });
    expect(woo.headers.get('access-control-allow-origin')).toBeNull();
  });
});
