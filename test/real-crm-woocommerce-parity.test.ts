// [real-crm] The WooCommerce fake (test/fakes/woocommerce.ts) held to a real WooCommerce 10.0.2 with
// the CoEx plugin: the requests our connector, segments and lookup make are sent to both, seeded with
// the same customer and orders; status codes, error codes and response shapes must agree (the fake
// may leave fields out, never invent or mistype them).
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import wooModule from '@woocommerce/woocommerce-rest-api';
import { resolveWooClientCtor } from '@coex/connectors';
import { FakeWooCommerce } from './fakes/woocommerce.js';
import { REAL_CRMS, REAL_CRMS_SKIP_REASON, startWooCommerce, type WooStack } from './helpers/real-crms.js';
import { shapeMismatches, shapeOf } from './helpers/shapes.js';

const PLUGIN = fileURLToPath(new URL('../woocommerce-plugin/', import.meta.url));
const SITE_KEY = `coex_sk_${randomBytes(12).toString('hex')}`;

interface Answer {
  status: number;
  body: unknown;
}
interface Side {
  name: 'fake' | 'real';
  url: string;
  consumerKey: string;
  consumerSecret: string;
  /** OAuth-signed wc/v3 call through the client our connector uses. */
  call(method: 'get' | 'post' | 'put', path: string, data?: unknown, params?: Record<string, string | number>): Promise<Answer>;
  customerId: number;
  orderId: number;
}

function sideOf(name: Side['name'], url: string, consumerKey: string, consumerSecret: string): Side {
  const Ctor = resolveWooClientCtor(wooModule) as unknown as new (o: Record<string, unknown>) => Record<'get' | 'post' | 'put', (...a: unknown[]) => Promise<{ status: number; data: unknown }>>;
  const api = new Ctor({ url, consumerKey, consumerSecret, version: 'wc/v3' });
  return {
    name,
    url,
    consumerKey,
    consumerSecret,
    customerId: 0,
    orderId: 0,
    call: async (method, path, data, params) => {
      try {
        const res = method === 'get' ? await api.get(path, params ?? {}) : await api[method](path, data ?? {}, params ?? {});
        return { status: res.status, body: res.data };
      } catch (err) {
        const r = (err as { response?: { status: number; data: unknown } }).response;
        if (!r) throw err;
        return { status: r.status, body: r.data };
      }
    },
  };
}

const code = (a: Answer) => `${a.status} ${(a.body as { code?: string } | null)?.code ?? ''}`.trim();

describe.skipIf(!REAL_CRMS)('[real-crm] the WooCommerce fake answers like a real WooCommerce 10 with the CoEx plugin', () => {
  let real: WooStack;
  let fake: FakeWooCommerce;
  let sides: [Side, Side];

  beforeAll(async () => {
    [real, fake] = await Promise.all([startWooCommerce([PLUGIN]), FakeWooCommerce.start({ plugin: { siteKey: SITE_KEY } })]);
    await real.php(`update_option('coex_whatsapp_settings', array('server_url' => '', 'site_key_hash' => hash('sha256', '${SITE_KEY}'), 'extension_key' => '', 'allow_private_server' => 'no'));`);
    const f = sideOf('fake', fake.url, fake.consumerKey, fake.consumerSecret);
    const r = sideOf('real', real.url, real.consumer_key, real.consumer_secret);
    // The same shop on both: Amina (an account, an order typed with the international prefix).
    const billing = { first_name: 'Amina', last_name: 'El Idrissi', phone: '+212612345678', city: 'Casablanca', country: 'MA', email: 'amina@example.ma' };
    const c = fake.addCustomer({ email: billing.email, first_name: 'Amina', last_name: 'El Idrissi', billing });
    f.customerId = c.id;
    f.orderId = fake.addOrder({ billing, customer_id: c.id, status: 'processing' }).id;
    r.customerId = ((await r.call('post', 'customers', { email: billing.email, first_name: 'Amina', last_name: 'El Idrissi', billing })).body as { id: number }).id;
    r.orderId = ((await r.call('post', 'orders', { billing, customer_id: r.customerId, status: 'processing' })).body as { id: number }).id;
    sides = [f, r];
  }, 400_000);

  afterAll(async () => {
    await fake?.close();
    await real?.stop();
  }, 60_000);

  const both = async <T>(step: (s: Side) => Promise<T>): Promise<[T, T]> => [await step(sides[0]), await step(sides[1])];
  const sameShape = (f: Answer, r: Answer, what: string) => {
    expect(f.status, what).toBe(r.status);
    expect(shapeMismatches(shapeOf(f.body), shapeOf(r.body)), what).toEqual([]);
  };

  it('errors: missing order, its notes, a missing customer, a bad page size, a note without text', async () => {
    const [f, r] = await both(async (s) => [
      await s.call('get', 'orders/999999'),
      await s.call('get', 'orders/999999/notes'),
      await s.call('post', 'orders/999999/notes', { note: 'x' }),
      await s.call('get', 'customers/999999'),
      await s.call('put', 'customers/999999', { meta_data: [] }),
      await s.call('get', 'orders', undefined, { per_page: 500 }),
      await s.call('post', `orders/${s.orderId}/notes`, {}),
    ]);
    expect(f.map(code)).toEqual(r.map(code));
    sameShape(f[5]!, r[5]!, 'rest_invalid_param body (params + details)');
  });

  it('over plain http only OAuth 1.0a authenticates: Basic auth and query-string keys are 401 cannot_view', async () => {
    const [f, r] = await both(async (s) => {
      const basic = await fetch(`${s.url}/wp-json/wc/v3/orders`, { headers: { authorization: `Basic ${Buffer.from(`${s.consumerKey}:${s.consumerSecret}`).toString('base64')}` } });
      const query = await fetch(`${s.url}/wp-json/wc/v3/orders?consumer_key=${s.consumerKey}&consumer_secret=${s.consumerSecret}`);
      return [`${basic.status} ${((await basic.json()) as { code: string }).code}`, `${query.status} ${((await query.json()) as { code: string }).code}`];
    });
    expect(f).toEqual(r);
    expect(r).toEqual(['401 woocommerce_rest_cannot_view', '401 woocommerce_rest_cannot_view']);
  });

  it('notes: an empty note is created, notes carry author, site-time and GMT dates and links; the list has the same shape', async () => {
    const [f, r] = await both(async (s) => ({
      empty: await s.call('post', `orders/${s.orderId}/notes`, { note: '' }),
      marked: await s.call('post', `orders/${s.orderId}/notes`, { note: '💬 WhatsApp · 1 message\n[2026-03-01 09:00 UTC] 👤 Customer: Salam<span data-coex-refs="m-1"></span>', customer_note: false }),
      list: await s.call('get', `orders/${s.orderId}/notes`, undefined, { type: 'internal' }),
    }));
    for (const k of ['empty', 'marked', 'list'] as const) sameShape(f[k], r[k], k);
    expect((f.marked.body as { author: string }).author).toBe((r.marked.body as { author: string }).author);
    expect((r.marked.body as { note: string }).note).toBe((f.marked.body as { note: string }).note); // stored raw, marker kept
    const offset = (a: Answer) => {
      const b = a.body as { date_created: string; date_created_gmt: string };
      return Math.round((Date.parse(`${b.date_created}Z`) - Date.parse(`${b.date_created_gmt}Z`)) / 60_000);
    };
    expect(offset(f.marked)).toBe(offset(r.marked));
  });

  it('search: phones match as substrings of the stored text; customers are never found by phone', async () => {
    const [f, r] = await both(async (s) => {
      const ids = async (q: Record<string, string | number>) => ((await s.call('get', 'orders', undefined, q)).body as Array<{ id: number }>).map((o) => o.id === s.orderId);
      return {
        nsn: await ids({ search: '612345678' }),
        national: await ids({ search: '0612345678' }),
        customers: ((await s.call('get', 'customers', undefined, { search: '612345678' })).body as unknown[]).length,
        order: await s.call('get', `orders/${s.orderId}`),
        listed: await s.call('get', 'orders', undefined, { search: '612345678', per_page: 20 }),
      };
    });
    expect([f.nsn, f.national, f.customers]).toEqual([r.nsn, r.national, r.customers]);
    expect(r.nsn).toEqual([true]);
    expect(r.national).toEqual([]);
    sameShape(f.order, r.order, 'order');
    sameShape(f.listed, r.listed, 'order list');
  });

  it('customers: meta_data written by key and read back in the same shape', async () => {
    const meta = [{ key: 'coex_whatsapp_marketing_opt_out', value: 'yes' }, { key: 'coex_whatsapp_marketing_consent_event', value: 'evt-1' }];
    const [f, r] = await both(async (s) => ({ put: await s.call('put', `customers/${s.customerId}`, { meta_data: meta }), get: await s.call('get', `customers/${s.customerId}`) }));
    sameShape(f.put, r.put, 'PUT customer');
    sameShape(f.get, r.get, 'GET customer');
    const values = (a: Answer) => Object.fromEntries((a.body as { meta_data: Array<{ key: string; value: unknown }> }).meta_data.map((m) => [m.key, m.value]));
    expect(values(r.get)).toMatchObject(values(f.get));
  });

  it('the plugin lookup route: same answer shape with the site key, same refusal without it', async () => {
    const [f, r] = await both(async (s) => {
      const ok = await fetch(`${s.url}/wp-json/coex/v1/lookup?phone=%2B212612345678`, { headers: { 'x-coex-site-key': SITE_KEY } });
      const no = await fetch(`${s.url}/wp-json/coex/v1/lookup?phone=%2B212612345678`, { headers: { 'x-coex-site-key': 'wrong' } });
      return { ok: { status: ok.status, body: (await ok.json()) as unknown }, no: { status: no.status, body: (await no.json()) as unknown } };
    });
    sameShape(f.ok, r.ok, 'lookup');
    expect(code(f.no)).toBe(code(r.no));
  });
});

if (!REAL_CRMS) console.warn(`[real-crm] WooCommerce parity skipped: ${REAL_CRMS_SKIP_REASON}`);
