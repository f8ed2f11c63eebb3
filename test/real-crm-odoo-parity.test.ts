// [real-crm] The Odoo fake (test/fakes/odoo.ts) held to a real Odoo 19.0: one scenario of the
// calls our connector, segments and addon make, over XML-RPC and JSON-2, sent to both; fault codes,
// HTTP statuses, error names and response shapes must agree. Odoo 17/18 stay fake-only (their
// differences come from their source, see test/fakes/odoo.ts).
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOdooFake, type OdooFake } from './fakes/odoo.js';
import { REAL_CRMS, REAL_CRMS_SKIP_REASON, startOdoo, type OdooStack } from './helpers/real-crms.js';
import { shapeMismatches, shapeOf } from './helpers/shapes.js';

const requireCjs = createRequire(import.meta.url);
const xmlrpc = requireCjs('xmlrpc') as {
  createClient(opts: { url: string }): { methodCall(method: string, params: unknown[], cb: (err: unknown, value: unknown) => void): void };
};

interface Side {
  name: 'fake' | 'real';
  url: string;
  db: string;
  login: string;
  key: string;
  uid: number;
}

type Outcome = { ok: true; value: unknown } | { ok: false; faultCode: number; faultString: string };

async function rpc(side: Side, service: 'common' | 'object', method: string, params: unknown[]): Promise<Outcome> {
  const client = xmlrpc.createClient({ url: `${side.url}/xmlrpc/2/${service}` });
  return new Promise((resolve, reject) =>
    client.methodCall(method, params, (err, value) => {
      if (!err) return resolve({ ok: true, value });
      const e = err as { faultCode?: number; faultString?: string };
      if (typeof e.faultCode === 'number') return resolve({ ok: false, faultCode: e.faultCode, faultString: e.faultString ?? '' });
      reject(err instanceof Error ? err : new Error(String(err)));
    }),
  );
}
const kw = (side: Side, model: string, method: string, args: unknown[], kwargs: Record<string, unknown> = {}) =>
  rpc(side, 'object', 'execute_kw', [side.db, side.uid, side.key, model, method, args, kwargs]);

async function j2(side: Side, model: string, method: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(`${side.url}/json/2/${model}/${method}`, {
    method: 'POST',
    headers: { authorization: `bearer ${side.key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const type = res.headers.get('content-type') ?? '';
  const text = await res.text();
  return { status: res.status, type: type.split(';')[0], body: type.includes('json') ? (JSON.parse(text) as unknown) : text };
}

const lastLine = (s: string) => s.trim().split('\n').pop() ?? '';

describe.skipIf(!REAL_CRMS)('[real-crm] the Odoo fake answers like a real Odoo 19', () => {
  let real: OdooStack;
  let fake: OdooFake;
  const sides: Side[] = [];

  beforeAll(async () => {
    [real, fake] = await Promise.all([startOdoo([]), startOdooFake({ version: 19, login: 'admin', companyCountry: 'MA' })]);
    const r: Side = { name: 'real', url: real.url, db: real.db, login: real.login, key: real.api_key, uid: 0 };
    const f: Side = { name: 'fake', url: fake.url, db: fake.db, login: fake.login, key: fake.apiKey, uid: 0 };
    for (const side of [r, f]) {
      const auth = await rpc(side, 'common', 'authenticate', [side.db, side.login, side.key, {}]);
      if (!auth.ok || typeof auth.value !== 'number') throw new Error(`${side.name}: authenticate failed`);
      side.uid = auth.value;
    }
    // The fake's company is Moroccan (national numbers sanitize to +212); make the real one so too.
    const morocco = await kw(r, 'res.country', 'search', [[['code', '=', 'MA']]], { limit: 1 });
    await kw(r, 'res.company', 'write', [[1], { country_id: (morocco as { value: number[] }).value[0] }]);
    sides.push(f, r);
  }, 600_000);

  afterAll(async () => {
    await fake?.close();
    await real?.stop();
  }, 90_000);

  /** Runs `step` on both sides; returns [fake, real]. */
  const both = async <T>(step: (side: Side) => Promise<T>): Promise<[T, T]> => [await step(sides[0]!), await step(sides[1]!)];

  it('XML-RPC: a missing model is fault 2 "Object … doesn\'t exist" (what archive() sees without the CRM app)', async () => {
    const [f, r] = await both((s) => kw(s, 'crm.leadx', 'search_read', [[]], { fields: ['id'] }));
    expect(f).toEqual(r);
    expect(r).toMatchObject({ ok: false, faultCode: 2, faultString: "Object crm.leadx doesn't exist" });
  });

  it('XML-RPC: create answers one id, message_post a list, plain bodies come back in <p>, notes have subtype_id', async () => {
    const [fp, rp] = await both((s) => kw(s, 'res.partner', 'create', [{ name: 'Amina El Idrissi', phone: '06 12 34 56 78' }]));
    expect(shapeOf(fp)).toEqual(shapeOf(rp));
    const pid = (x: Outcome) => (x as { value: number }).value;
    const [fm, rm] = await Promise.all([kw(sides[0]!, 'res.partner', 'message_post', [[pid(fp)]], { body: 'Salam <b>\nla commande', message_type: 'comment', subtype_xmlid: 'mail.mt_note' }), kw(sides[1]!, 'res.partner', 'message_post', [[pid(rp)]], { body: 'Salam <b>\nla commande', message_type: 'comment', subtype_xmlid: 'mail.mt_note' })]);
    expect(shapeOf(fm)).toEqual(shapeOf(rm));
    expect(Array.isArray((rm as { value: unknown }).value)).toBe(true);
    const read = (s: Side, id: number) => kw(s, 'mail.message', 'search_read', [[['model', '=', 'res.partner'], ['res_id', '=', id], ['message_type', '=', 'comment']]], { fields: ['body', 'subtype_id', 'message_type'] });
    const [fr, rr] = await Promise.all([read(sides[0]!, pid(fp)), read(sides[1]!, pid(rp))]);
    expect(shapeMismatches(shapeOf(fr), shapeOf(rr))).toEqual([]);
    const body = (x: Outcome) => ((x as { value: Array<{ body: string; subtype_id: [number, string] }> }).value[0]!);
    expect(body(fr).body).toBe(body(rr).body);
    expect(body(fr).subtype_id).toEqual(body(rr).subtype_id);
    // Odoo's phone mixin: national number → E.164 for the company's country.
    const [fs, rs] = await Promise.all([kw(sides[0]!, 'res.partner', 'read', [[pid(fp)], ['phone_sanitized']]), kw(sides[1]!, 'res.partner', 'read', [[pid(rp)], ['phone_sanitized']])]);
    const sanitized = (x: Outcome) => (x as { value: Array<{ phone_sanitized: unknown }> }).value[0]!.phone_sanitized;
    expect(sanitized(fs)).toBe(sanitized(rs));
    expect(sanitized(rs)).toBe('+212612345678');
  });

  it('XML-RPC: new leads are opportunities at 0 %; a bad blacklist number is fault 2; a missing record fault 2; a bad domain fault 1', async () => {
    const lead = async (s: Side) => {
      const id = (await kw(s, 'crm.lead', 'create', [{ name: 'Caftan – devis' }])) as { value: number };
      return kw(s, 'crm.lead', 'read', [[id.value], ['type', 'probability']]);
    };
    const [fl, rl] = await both(lead);
    const strip = (x: Outcome) => (x as { value: Array<Record<string, unknown>> }).value.map(({ id: _id, ...rest }) => rest);
    expect(strip(fl)).toEqual(strip(rl));
    expect(strip(rl)).toEqual([{ type: 'opportunity', probability: 0 }]);

    const codes = async (s: Side) => [
      await kw(s, 'phone.blacklist', 'add', [[]], { number: 'pas un numéro', message: 'x' }),
      await kw(s, 'res.partner', 'message_post', [[999_999]], { body: 'x' }),
      await kw(s, 'res.partner', 'search_read', [[['nofield', '=', 1]]], { fields: ['id'] }),
    ].map((o) => (o.ok ? 'ok' : o.faultCode));
    const [fc, rc] = await both(codes);
    expect(fc).toEqual(rc);
    expect(rc).toEqual([2, 2, 1]);
    const [fb, rb] = await both((s) => kw(s, 'res.partner', 'search_read', [[['nofield', '=', 1]]], { fields: ['id'] }));
    expect(lastLine((fb as { faultString: string }).faultString)).toMatch(/^ValueError: Invalid field/);
    expect(lastLine((rb as { faultString: string }).faultString)).toMatch(/^ValueError: Invalid field/);
  });

  it('XML-RPC: blacklisting a new number logs Odoo\'s own "created" note before ours', async () => {
    const notes = async (s: Side) => {
      await kw(s, 'phone.blacklist', 'add', [[]], { number: '+212661234567', message: 'Opted out via CoEx' });
      const [entry] = ((await kw(s, 'phone.blacklist', 'search_read', [[['number', '=', '+212661234567']]], { fields: ['id', 'number', 'active'] })) as { value: Array<{ id: number }> }).value;
      const msgs = (await kw(s, 'mail.message', 'search_read', [[['model', '=', 'phone.blacklist'], ['res_id', '=', entry!.id]]], { fields: ['body', 'message_type'], order: 'id asc' })) as { value: Array<{ body: string; message_type: string }> };
      return msgs.value.map((m) => `${m.message_type}: ${m.body}`);
    };
    const [f, r] = await both(notes);
    expect(f).toEqual(r);
  });

  it('JSON-2: statuses and error names agree (404 model, 404 record, 422 validation, 500 bad field and unknown message_post value, HTML 404 for an unknown database)', async () => {
    const calls = async (s: Side) => {
      const out = [
        await j2(s, 'crm.leadx', 'search_read', { domain: [], fields: ['id'] }),
        await j2(s, 'res.partner', 'message_post', { ids: [999_999], body: 'x' }),
        await j2(s, 'phone.blacklist', 'add', { ids: [], number: 'pas un numéro', message: 'x' }),
        await j2(s, 'res.partner', 'search_read', { domain: [['nofield', '=', 1]], fields: ['id'] }),
        await j2(s, 'res.partner', 'message_post', { ids: [1], body: 'x', bogus: 1 }),
        await j2(s, 'res.partner', 'search_read', { domain: [], fields: ['id'], limit: 1 }, { 'x-odoo-database': 'nope' }),
      ];
      return out.map((r) => `${r.status} ${r.type} ${typeof r.body === 'object' && r.body !== null ? (r.body as { name?: string }).name : ''}`);
    };
    const [f, r] = await both(calls);
    expect(f).toEqual(r);
  });

  it('JSON-2: create and message_post answer id lists; search_read rows have the same shape', async () => {
    const run = async (s: Side) => {
      const created = await j2(s, 'res.partner', 'create', { vals_list: [{ name: 'Youssef Benali', phone: '+212612700703' }] });
      const id = (created.body as number[])[0]!;
      const posted = await j2(s, 'res.partner', 'message_post', { ids: [id], body: '<p>x</p><span class="d-none" title="coex-msg-0123456789abcdef"></span>', body_is_html: true, message_type: 'comment', subtype_xmlid: 'mail.mt_note' });
      const rows = await j2(s, 'mail.message', 'search_read', { domain: [['body', 'ilike', 'coex-msg-0123456789abcdef'], ['res_id', '=', id]], fields: ['body', 'subtype_id'] });
      const partners = await j2(s, 'res.partner', 'search_read', { domain: [['phone_sanitized', '=', '+212612700703']], fields: ['name', 'phone', 'phone_sanitized'] });
      return { created, posted, rows, partners };
    };
    const [f, r] = await both(run);
    for (const k of ['created', 'posted', 'rows', 'partners'] as const) {
      expect(f[k].status, k).toBe(r[k].status);
      expect(shapeMismatches(shapeOf(f[k].body), shapeOf(r[k].body)), k).toEqual([]);
    }
    // The marker survives Odoo's sanitizer in an attribute, exactly as written.
    expect((r.rows.body as Array<{ body: string }>)[0]!.body).toBe((f.rows.body as Array<{ body: string }>)[0]!.body);
  });
});

if (!REAL_CRMS) console.warn(`[real-crm] Odoo parity skipped: ${REAL_CRMS_SKIP_REASON}`);
