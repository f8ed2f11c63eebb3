import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import { startGraphApiFake, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import { startGeminiFake, textResponse, functionCallResponse, type GeminiFake } from './fakes/gemini.js';
import { FakeWooCommerce } from './fakes/woocommerce.js';
import * as P from '../core/src/whatsapp/payloads.js';

const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };

describe.each(backends())('Gemini agent with a connected shop [%s]', (backend) => {
  let graph: GraphApiFake;
  let gemini: GeminiFake;
  let woo: FakeWooCommerce;
  let s: TestServer;

  beforeAll(async () => {
    graph = await startGraphApiFake();
    gemini = await startGeminiFake();
    woo = await FakeWooCommerce.start({ plugin: { siteKey: 'site-key-1' } });
    s = await startTestServer(backend, { GRAPH_API_BASE_URL: graph.url, WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN, GEMINI_API_KEY: gemini.apiKey, GEMINI_BASE_URL: gemini.url });
    await s.runtime.db.insertInto('tenants').values({ id: 'default', name: 'Atlas Boutique', settings: JSON.stringify({ profile: { name: 'Atlas Boutique', description: 'Vêtements traditionnels à Marrakech. Livraison 24-72h.' } }) }).execute();
    const res = await s.api('/api/v1/crm/connections', { method: 'POST', body: JSON.stringify({ tenant_id: 'default', credentials: { crm: 'woocommerce', url: woo.url, consumerKey: woo.consumerKey, consumerSecret: woo.consumerSecret, siteKey: 'site-key-1' } }) });
    expect(res.status).toBe(201);
  });
  afterAll(async () => {
    await s?.close();
    await Promise.all([graph?.close(), gemini?.close(), woo?.close()]);
  });

  it('looks up the customer’s order through lookup_order and answers with it', async () => {
    const mine = woo.addOrder({ billing: { phone: '06 12 34 56 78', first_name: 'Youssef' }, status: 'processing', total: '450.00' });
    woo.addOrder({ billing: { phone: '0699999999', first_name: 'Other' }, status: 'completed', total: '99.00' });
    gemini.enqueue(functionCallResponse([{ name: 'lookup_order', args: { order_id: String(mine.id) } }]), (req) => {
      // The second request carries the tool's answer: the real order, from the shop.
      expect(req.rawBody).toContain('processing');
      expect(req.rawBody).toContain('450.00');
      return textResponse(`Salam Youssef, la commande #${mine.id} dyalk rah f l'préparation (450 dh).`);
    });
    await s.postWebhook(P.inboundMessage(N, { waId: '212612345678', name: 'Youssef' }, 'wamid.TOOL-1', Date.now(), P.text('salam, fin wslat la commande dyali?')));
    const reply = await waitFor(async () => graph.state.sent.find((m) => m.to === '212612345678'), 'agent reply');
    expect((reply.body as { text: { body: string } }).text.body).toContain(`#${mine.id}`);
    const first = gemini.requests[0]!;
    expect(first.body?.tools?.[0]?.functionDeclarations?.map((f) => f.name)).toEqual(expect.arrayContaining(['lookup_order', 'upsert_lead', 'handoff_to_human']));
    expect(first.rawBody).toContain('fin wslat la commande dyali');
    // Someone else's order is never returned to this customer.
    expect(gemini.requests[1]!.rawBody).not.toContain('99.00');
  });
});
