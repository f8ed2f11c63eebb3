import {
  WooCommerceConnector,
  wooMarkedKeys as markedKeys,
  resolveWooClientCtor,
  type ArchivedMessage,
  type MarketingConsentChange,
  type WooCommerceConnectorOptions,
} from '@coex/connectors';
import wooModule from '@woocommerce/woocommerce-rest-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeWooCommerce } from './fakes/woocommerce.js';
import { archivedMessage, crmError } from './helpers/crm-cases.js';

const SITE_KEY = 'coex_sk_test_site_key_0123456789';
const PHONE = '+212612345678';

let woo: FakeWooCommerce;

function connector(extra: Partial<WooCommerceConnectorOptions> = {}): WooCommerceConnector {
  return new WooCommerceConnector({
    url: woo.url,
    consumerKey: woo.consumerKey,
    consumerSecret: woo.consumerSecret,
    siteKey: SITE_KEY,
    ...extra,
  });
}

let seq = 0;
function msg(over: Partial<ArchivedMessage> = {}): ArchivedMessage {
  seq++;
  return archivedMessage(`m-${seq}`, {
    wamid: `wamid.${seq}`,
    text: `message ${seq}`,
    timestamp: new Date(Date.parse('2026-03-01T09:00:00Z') + seq * 60_000).toISOString(),
    customerPhone: PHONE,
    ...over,
  });
}

const catchCrm = crmError;

afterEach(async () => {
  await woo.close();
});

describe('with the companion plugin', () => {
  beforeEach(async () => {
    woo = await FakeWooCommerce.start({ plugin: { siteKey: SITE_KEY } });
  });

  it('finds a registered customer by any spelling of the billing phone (06… = +212…)', async () => {
    const customer = woo.addCustomer({ email: 'amina@example.ma', first_name: 'Amina', billing: { phone: '06 12 34 56 78' } });
    woo.addOrder({ billing: { phone: '06 12 34 56 78', first_name: 'Amina' }, customer_id: customer.id });
    const c = connector();
    expect(await c.findOrCreateContact(PHONE, 'Amina')).toEqual({ id: String(customer.id), object: 'customer', created: false });
    expect(await c.findOrCreateContact('0612345678', null)).toEqual({ id: String(customer.id), object: 'customer', created: false });
    const lookup = woo.requests.filter((r) => r.path === '/wp-json/coex/v1/lookup');
    expect(lookup[0]!.query.phone).toBe(PHONE);
    expect(lookup[0]!.headers['x-coex-site-key']).toBe(SITE_KEY);
  });

  it('returns a guest reference (not created) for a phone without an account', async () => {
    woo.addOrder({ billing: { phone: '0612345678' } }); // guest checkout
    expect(await connector().findOrCreateContact(PHONE, 'Amina')).toEqual({ id: PHONE, object: 'guest', created: false });
    expect(await connector().findOrCreateContact('+212700000000', null)).toEqual({ id: '+212700000000', object: 'guest', created: false });
  });

  it('archives a batch as one private timeline note on the most recent order', async () => {
    const older = woo.addOrder({ billing: { phone: '+212 6 12 34 56 78' }, created: '2026-01-10T10:00:00Z' });
    const latest = woo.addOrder({ billing: { phone: '0612345678' }, created: '2026-02-20T10:00:00Z' });
    woo.addOrder({ billing: { phone: '0612345679' }, created: '2026-02-25T10:00:00Z' }); // someone else
    const batch = [
      msg({ text: 'Salam, <b>dispo</b>?' }),
      msg({ direction: 'outbound', origin: 'app', text: 'Oui' }),
      msg({ direction: 'outbound', origin: 'agent', text: 'Livraison demain\nmerci' }),
    ];
    const before = woo.requests.length;
    const res = await connector().archive(batch);

    const notes = woo.notesOf(latest.id);
    expect(notes).toHaveLength(1);
    expect(woo.notesOf(older.id)).toHaveLength(0);
    const note = notes[0]!;
    expect(note.customer_note).toBe(false);
    expect(note.note.split('\n')[0]).toBe('💬 WhatsApp · 3 messages');
    expect(note.note).toContain('[2026-03-01 09:');
    expect(note.note).toContain('👤 Customer: Salam, &lt;b&gt;dispo&lt;/b&gt;?');
    expect(note.note).toContain('📱 Owner (phone app): Oui');
    expect(note.note).toContain('🤖 Agent: Livraison demain ⏎ merci');
    expect(markedKeys(note.note)).toEqual(batch.map((m) => m.id));
    expect(res.written).toEqual(Object.fromEntries(batch.map((m) => [m.id, String(note.id)])));
    expect(res.apiCalls).toBe(woo.requests.length - before);
    expect(res.apiCalls).toBe(3); // lookup, GET notes, POST note
  });

  it('is idempotent: the same batch again writes nothing new', async () => {
    const order = woo.addOrder({ billing: { phone: PHONE } });
    const batch = [msg(), msg()];
    const first = await connector().archive(batch);
    const second = await connector().archive(batch);
    expect(second.written).toEqual(first.written);
    expect(second.apiCalls).toBe(2); // lookup + GET notes, no POST
    expect(woo.notesOf(order.id)).toHaveLength(1);
  });

  it('writes only the messages not yet archived when batches overlap', async () => {
    const order = woo.addOrder({ billing: { phone: PHONE } });
    const [a, b, c] = [msg(), msg(), msg()];
    await connector().archive([a!, b!]);
    const res = await connector().archive([b!, c!]);
    const notes = woo.notesOf(order.id);
    expect(notes).toHaveLength(2);
    expect(markedKeys(notes[0]!.note)).toEqual([c!.id]);
    expect(res.written[b!.id]).toBe(String(notes[1]!.id));
    expect(res.written[c!.id]).toBe(String(notes[0]!.id));
  });

  it('writes nothing when the customer has no order, and says so by omission', async () => {
    const res = await connector().archive([msg({ customerPhone: '+212700000001' })]);
    expect(res.written).toEqual({});
    expect(woo.allNotes()).toHaveLength(0);
  });

  it('keeps one note per order per batch for several customers', async () => {
    const o1 = woo.addOrder({ billing: { phone: PHONE } });
    const o2 = woo.addOrder({ billing: { phone: '+212700000002' } });
    const res = await connector().archive([msg(), msg({ customerPhone: '0700000002' }), msg()]);
    expect(Object.keys(res.written)).toHaveLength(3);
    expect(woo.notesOf(o1.id)).toHaveLength(1);
    expect(woo.notesOf(o2.id)).toHaveLength(1);
    expect(markedKeys(woo.notesOf(o1.id)[0]!.note)).toHaveLength(2);
  });

  it('attaches a transcript and the bot state as private notes, once each', async () => {
    const order = woo.addOrder({ billing: { phone: PHONE } });
    const c = connector();
    const transcript = {
      messageId: 'voice-1',
      wamid: 'w',
      threadId: 'thread-1',
      customerPhone: PHONE,
      customerName: null,
      text: 'bghit nchri <2>',
      language: 'ary',
      provider: 'whisper',
      at: '2026-03-01T09:30:00Z',
    };
    await c.attachTranscript(transcript);
    await c.attachTranscript(transcript);
    const change = {
      threadId: 'thread-1',
      customerPhone: PHONE,
      customerName: null,
      from: 'active' as const,
      to: 'paused' as const,
      cause: 'owner replied from the phone',
      pausedUntil: '2026-03-01T11:00:00Z',
      at: '2026-03-01T09:31:00Z',
    };
    await c.showBotState(change);
    await c.showBotState(change);
    const notes = woo.notesOf(order.id);
    expect(notes).toHaveLength(2);
    expect(notes.every((n) => !n.customer_note)).toBe(true);
    const texts = notes.map((n) => n.note).join('\n---\n');
    expect(texts).toContain('🎙️ Voice note transcript (ary)');
    expect(texts).toContain('bghit nchri &lt;2&gt;');
    expect(texts).toContain('🤖 Agent paused — reason: owner replied from the phone · until 2026-03-01 11:00 UTC');
  });

  it('reports a wrong site key as non-retryable (no silent fallback)', async () => {
    woo.addOrder({ billing: { phone: PHONE } });
    const err = await catchCrm(connector({ siteKey: 'wrong' }).archive([msg()]));
    expect(err).toMatchObject({ crm: 'woocommerce', retryable: false, status: 401 });
    expect(woo.allNotes()).toHaveLength(0);
  });

  it('reports 429 as retryable with Retry-After, then succeeds', async () => {
    const order = woo.addOrder({ billing: { phone: PHONE } });
    const batch = [msg()];
    woo.failNext({ status: 429, retryAfter: 20, match: (r) => r.method === 'POST' });
    const err = await catchCrm(connector().archive(batch));
    expect(err).toMatchObject({ retryable: true, status: 429, retryAfterSeconds: 20 });
    expect(woo.notesOf(order.id)).toHaveLength(0);
    await connector().archive(batch);
    expect(woo.notesOf(order.id)).toHaveLength(1);
  });

  it('reports 5xx from the REST API and from the plugin as retryable', async () => {
    woo.addOrder({ billing: { phone: PHONE } });
    woo.failNext({ status: 503, match: (r) => r.path.endsWith('/notes') });
    expect(await catchCrm(connector().archive([msg()]))).toMatchObject({ retryable: true, status: 503 });
    woo.failNext({ status: 500, match: (r) => r.path === '/wp-json/coex/v1/lookup' });
    expect(await catchCrm(connector().archive([msg()]))).toMatchObject({ retryable: true, status: 500 });
  });

  it('rejects an invalid phone before any call', async () => {
    expect(await catchCrm(connector().findOrCreateContact('abc', null))).toMatchObject({ retryable: false });
    expect(woo.requests).toHaveLength(0);
  });
});

describe('without the plugin (orders?search= fallback, OAuth 1.0a over HTTP)', () => {
  beforeEach(async () => {
    woo = await FakeWooCommerce.start();
  });

  it('falls back after a 404 rest_no_route and remembers the plugin is missing', async () => {
    const o1 = woo.addOrder({ billing: { phone: '0612345678' }, created: '2026-01-01T00:00:00Z' });
    const o2 = woo.addOrder({ billing: { phone: '+212 6 12 34 56 78' }, created: '2026-01-02T00:00:00Z' });
    const o3 = woo.addOrder({ billing: { phone: '00212612345678' }, created: '2026-01-03T00:00:00Z' });
    woo.addOrder({ billing: { phone: '0612345679' }, created: '2026-01-04T00:00:00Z' });
    woo.addOrder({ billing: { phone: '+33 6 12 34 56 78' }, created: '2026-01-05T00:00:00Z' });
    woo.addOrder({ billing: { phone: '0000', address_1: '612345678 Rue X' }, created: '2026-01-06T00:00:00Z' });
    const c = connector();

    const res = await c.archive([msg()]);
    const noted = woo.allNotes().map((n) => n.orderId);
    expect(noted).toEqual([o3.id]); // newest matching order only
    expect(Object.keys(res.written)).toHaveLength(1);
    void o1;
    void o2;

    const searches = woo.requests.filter((r) => r.path === '/wp-json/wc/v3/orders');
    expect(searches.map((r) => r.query.search)).toEqual(['612345678', '6 12 34 56 78']);
    // The library signed every call with OAuth 1.0a in the query string, and the fake verified it.
    for (const r of searches) {
      expect(r.query.oauth_consumer_key).toBe(woo.consumerKey);
      expect(r.query.oauth_signature_method).toBe('HMAC-SHA256');
      expect(r.query.oauth_signature).toBeTruthy();
    }

    const lookupsBefore = woo.requests.filter((r) => r.path === '/wp-json/coex/v1/lookup').length;
    await c.findOrCreateContact(PHONE, null);
    expect(woo.requests.filter((r) => r.path === '/wp-json/coex/v1/lookup').length).toBe(lookupsBefore);
  });

  it('finds the customer id from their orders', async () => {
    const customer = woo.addCustomer({ email: 'k@example.ma' });
    woo.addOrder({ billing: { phone: '06 12 34 56 78' }, customer_id: customer.id });
    expect(await connector().findOrCreateContact(PHONE, null)).toEqual({ id: String(customer.id), object: 'customer', created: false });
  });

  it('does not find dashed or dotted spellings without the plugin (documented limitation)', async () => {
    woo.addOrder({ billing: { phone: '06-12-34-56-78' } });
    woo.addOrder({ billing: { phone: '06.12.34.56.78' } });
    const res = await connector().archive([msg()]);
    expect(res.written).toEqual({});
  });

  it('is idempotent through the fallback too', async () => {
    const order = woo.addOrder({ billing: { phone: PHONE } });
    const batch = [msg(), msg()];
    const c = connector();
    await c.archive(batch);
    await c.archive(batch);
    expect(woo.notesOf(order.id)).toHaveLength(1);
  });

  it('reports a wrong consumer secret (bad OAuth signature) as non-retryable 401', async () => {
    woo.addOrder({ billing: { phone: PHONE } });
    const err = await catchCrm(connector({ consumerSecret: 'cs_wrong' }).archive([msg()]));
    expect(err).toMatchObject({ retryable: false, status: 401 });
    expect(err.message).toContain('Invalid signature');
    expect(err.message).not.toContain('cs_wrong');
  });

  it('reports a wrong consumer key as non-retryable 401', async () => {
    const err = await catchCrm(connector({ consumerKey: 'ck_other' }).findOrCreateContact(PHONE, null));
    expect(err).toMatchObject({ retryable: false, status: 401 });
    expect(err.message).toContain('Consumer key is invalid');
  });

  it('reports a refused connection as retryable', async () => {
    const url = woo.url;
    await woo.close();
    const c = new WooCommerceConnector({ url, consumerKey: 'ck', consumerSecret: 'cs', siteKey: SITE_KEY, timeoutMs: 2000 });
    expect(await catchCrm(c.findOrCreateContact(PHONE, null))).toMatchObject({ retryable: true });
    woo = await FakeWooCommerce.start(); // for afterEach
  });
});

describe('verifyExtensionRequest (site key)', () => {
  beforeEach(async () => {
    woo = await FakeWooCommerce.start();
  });

  const req = (headers: Record<string, string>) => ({ method: 'GET', url: 'https://coex.example/api/woo/thread', headers, rawBody: Buffer.alloc(0) });

  it('accepts the issued key and returns the site URL as account', async () => {
    expect(await connector({ url: `${woo.url}/` }).verifyExtensionRequest(req({ 'x-coex-site-key': SITE_KEY }))).toEqual({ ok: true, account: woo.url });
  });

  it('rejects a missing or wrong key', async () => {
    expect(await connector().verifyExtensionRequest(req({}))).toMatchObject({ ok: false, status: 401 });
    expect(await connector().verifyExtensionRequest(req({ 'X-Coex-Site-Key': `${SITE_KEY}x` }))).toMatchObject({ ok: false, status: 401 });
  });
});

describe('the WooCommerce client library against the fake', () => {
  beforeEach(async () => {
    woo = await FakeWooCommerce.start();
  });

  it('is constructed from the CommonJS default export (vitest unwraps it; native ESM does not)', () => {
    const Ctor = resolveWooClientCtor(wooModule);
    expect(typeof Ctor).toBe('function');
    expect(Ctor.name).toBe('WooCommerceRestApi');
  });

  it('paginates with X-WP-Total / X-WP-TotalPages and enforces per_page ≤ 100', async () => {
    for (let i = 0; i < 25; i++) woo.addOrder({ billing: { phone: '0611111111' }, created: Date.parse('2026-01-01T00:00:00Z') + i * 1000 });
    const Ctor = resolveWooClientCtor(wooModule);
    const api = new Ctor({ url: woo.url, consumerKey: woo.consumerKey, consumerSecret: woo.consumerSecret, version: 'wc/v3' });
    const page2 = await api.get('orders', { per_page: 10, page: 2 });
    expect(page2.headers['x-wp-total']).toBe('25');
    expect(page2.headers['x-wp-totalpages']).toBe('3');
    expect((page2.data as unknown[]).length).toBe(10);
    await expect(api.get('orders', { per_page: 101 })).rejects.toMatchObject({
      response: { status: 400, data: { code: 'rest_invalid_param', data: { status: 400 } } },
    });
  });

  it('rejects unauthenticated calls in WordPress error shape', async () => {
    const res = await fetch(`${woo.url}/wp-json/wc/v3/orders`);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ code: 'woocommerce_rest_cannot_view', message: 'Sorry, you cannot list resources.', data: { status: 401 } });
  });

  it('rejects a replayed OAuth nonce', async () => {
    const Ctor = resolveWooClientCtor(wooModule);
    const api = new Ctor({ url: woo.url, consumerKey: woo.consumerKey, consumerSecret: woo.consumerSecret, version: 'wc/v3' });
    await api.get('orders');
    const signed = woo.requests.at(-1)!;
    const replay = new URL(`${woo.url}${signed.path}`);
    for (const [k, v] of Object.entries(signed.query)) replay.searchParams.set(k, v);
    const res = await fetch(replay);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { message: string }).message).toContain('nonce');
  });
});

describe('recordMarketingConsent', () => {
  const optOut: MarketingConsentChange = {
    eventId: 'evt-1',
    customerPhone: PHONE,
    customerName: 'Amina',
    businessPhone: '+212522000000',
    action: 'opt_out',
    source: 'keyword',
    detail: 'baraka',
    at: '2026-03-01T09:45:00.000Z',
  };
  const optIn: MarketingConsentChange = { ...optOut, eventId: 'evt-2', action: 'opt_in', source: 'api', detail: null, at: '2026-03-02T08:00:00.000Z' };

  for (const setup of ['plugin', 'order search'] as const) {
    describe(`found through the ${setup}`, () => {
      beforeEach(async () => {
        woo = await FakeWooCommerce.start(setup === 'plugin' ? { plugin: { siteKey: SITE_KEY } } : {});
      });

      it('marks the registered customer (meta yes + date) and writes one private note on the latest order', async () => {
        const customer = woo.addCustomer({ email: 'amina@example.ma', billing: { phone: '0612345678' } });
        woo.addOrder({ billing: { phone: '0612345678' }, customer_id: customer.id, created: '2026-01-10T10:00:00Z' });
        const latest = woo.addOrder({ billing: { phone: '0612345678' }, customer_id: customer.id, created: '2026-02-20T10:00:00Z' });
        await connector().recordMarketingConsent(optOut);

        expect(woo.customerMeta(customer.id, 'coex_whatsapp_marketing_opt_out')).toBe('yes');
        expect(woo.customerMeta(customer.id, 'coex_whatsapp_marketing_opt_out_date')).toBe('2026-03-01T09:45:00.000Z');
        expect(woo.customerMeta(customer.id, 'coex_whatsapp_marketing_consent_event')).toBe('evt-1');
        const notes = woo.allNotes();
        expect(notes).toHaveLength(1);
        expect(notes[0]).toMatchObject({ orderId: latest.id, customer_note: false });
        expect(notes[0]!.note).toContain('Opted out of WhatsApp marketing');
        expect(notes[0]!.note).toContain('the customer wrote &quot;baraka&quot;'); // escaped: notes render through wp_kses_post
        expect(markedKeys(notes[0]!.note)).toEqual(['consent:evt-1']);
      });

      it('writes nothing new when the same event comes again', async () => {
        const customer = woo.addCustomer({ email: 'amina@example.ma', billing: { phone: '0612345678' } });
        woo.addOrder({ billing: { phone: '0612345678' }, customer_id: customer.id });
        const c = connector();
        await c.recordMarketingConsent(optOut);
        const before = woo.requests.length;
        await c.recordMarketingConsent(optOut);
        const writes = woo.requests.slice(before).filter((r) => r.method !== 'GET');
        expect(writes).toEqual([]);
        expect(woo.allNotes()).toHaveLength(1);
        expect(woo.customer(customer.id)!.meta_data.filter((m) => m.key === 'coex_whatsapp_marketing_opt_out')).toHaveLength(1);
      });

      it('opt-in sets the meta back to no (same meta rows, updated in place) with a second note', async () => {
        const customer = woo.addCustomer({ email: 'amina@example.ma', billing: { phone: '0612345678' } });
        woo.addOrder({ billing: { phone: '0612345678' }, customer_id: customer.id });
        const c = connector();
        await c.recordMarketingConsent(optOut);
        await c.recordMarketingConsent(optIn);
        expect(woo.customerMeta(customer.id, 'coex_whatsapp_marketing_opt_out')).toBe('no');
        expect(woo.customer(customer.id)!.meta_data).toHaveLength(4);
        const notes = woo.allNotes();
        expect(notes).toHaveLength(2);
        expect(notes.map((n) => markedKeys(n.note)[0]).sort()).toEqual(['consent:evt-1', 'consent:evt-2']);
        expect(notes.find((n) => n.note.includes('consent:evt-2'))!.note).toContain('Opted back in to WhatsApp marketing');
      });

      it('notes a guest order without touching any customer', async () => {
        const order = woo.addOrder({ billing: { phone: '0612345678' } });
        await connector().recordMarketingConsent(optOut);
        expect(woo.notesOf(order.id)).toHaveLength(1);
        expect(woo.notesOf(order.id)[0]!.note).not.toContain('Saved on the customer account');
        expect(woo.requests.some((r) => r.path.includes('/customers/'))).toBe(false);
      });

      it('is a no-op (no error, no write) for a phone with no account and no order', async () => {
        await connector().recordMarketingConsent(optOut);
        expect(woo.requests.filter((r) => r.method !== 'GET')).toEqual([]);
      });

      it('reports 429 and 5xx as retryable; the retry completes the change once', async () => {
        const customer = woo.addCustomer({ email: 'amina@example.ma', billing: { phone: '0612345678' } });
        woo.addOrder({ billing: { phone: '0612345678' }, customer_id: customer.id });
        const c = connector();
        woo.failNext({ status: 429, retryAfter: 5, match: (r) => r.method === 'POST' });
        expect(await catchCrm(c.recordMarketingConsent(optOut))).toMatchObject({ retryable: true, status: 429, retryAfterSeconds: 5 });
        expect(woo.customerMeta(customer.id, 'coex_whatsapp_marketing_opt_out')).toBe('yes');
        woo.failNext({ status: 503 });
        expect(await catchCrm(c.recordMarketingConsent(optOut))).toMatchObject({ retryable: true, status: 503 });
        await c.recordMarketingConsent(optOut);
        expect(woo.allNotes()).toHaveLength(1);
      });
    });
  }

  it('still notes the order when the customer account was deleted', async () => {
    woo = await FakeWooCommerce.start();
    const customer = woo.addCustomer({ email: 'gone@example.ma', billing: { phone: '0612345678' } });
    const order = woo.addOrder({ billing: { phone: '0612345678' }, customer_id: customer.id });
    woo.deleteCustomer(customer.id);
    await connector().recordMarketingConsent(optOut);
    expect(woo.notesOf(order.id)).toHaveLength(1);
  });
});
