// [real-crm] The Odoo connector and the coex_whatsapp_bridge addons against a REAL Odoo 19.0
// community server from ../shared/real-crms (COEX_REAL_CRMS): both addons installed into a fresh
// database, a real CoEx server archives an inbound message, an echo (bot paused), a voice-note
// transcript and a marketing opt-out over JSON-2, the connector archives over XML-RPC too (Odoo ≤ 18's
// protocol, still served by 19), and the CoEx panel in the real Odoo web client's chatter shows the
// thread and sends a reply. odoo.log must hold no error from our code.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { chromium, type Browser } from 'playwright-core';
import { OdooConnector, type ArchivedMessage } from '@coex/connectors';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import { startGraphApiFake, DEFAULT_FAKE_PHONE_NUMBER, DEFAULT_FAKE_TOKEN, type GraphApiFake } from './fakes/graph-api.js';
import { startGeminiFake, textResponse, type GeminiFake } from './fakes/gemini.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, REAL_CRMS, REAL_CRMS_SKIP_REASON, startOdoo, type OdooStack } from './helpers/real-crms.js';
import * as P from '../core/src/whatsapp/payloads.js';

const ADDONS = fileURLToPath(new URL('../odoo-addon-bridge/', import.meta.url));
const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
const VOICE = readFileSync(new URL('./fixtures/audio/darija-order-status.ogg', import.meta.url));
const SPOKEN = 'السلام عليكم، بغيت نعرف واش الكوموند ديالي وصلات ولا باقي.';
const FATIMA = '212661234567';
const backend = backends()[0]!;
/** scripts/screenshot-real-crms.sh sets it: the real chatter becomes docs/screenshots/odoo-chatter.png. */
const SHOTS = process.env.COEX_REAL_SCREENSHOTS ? fileURLToPath(new URL('../docs/screenshots/', import.meta.url)) : null;

if (!REAL_CRMS) console.warn(`[real-crm] Odoo tests skipped: ${REAL_CRMS_SKIP_REASON}`);

describe.skipIf(!REAL_CRMS)('[real-crm] Odoo 19 with the CoEx bridge addons and a real CoEx server', () => {
  let odoo: OdooStack;
  let s: TestServer;
  let graph: GraphApiFake;
  let gemini: GeminiFake;
  let browser: Browser | undefined;
  let connectionId = '';
  let fatimaPartner = 0;
  const timings: Record<string, number> = {};

  /** JSON-2 call as the admin (the API key start.sh made). */
  async function j2(model: string, method: string, body: Record<string, unknown>): Promise<unknown> {
    const res = await fetch(`${odoo.url}/json/2/${model}/${method}`, {
      method: 'POST',
      headers: { authorization: `bearer ${odoo.api_key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${model}.${method}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as unknown;
  }

  beforeAll(async () => {
    const t0 = Date.now();
    [odoo, graph, gemini] = await Promise.all([startOdoo([ADDONS]), startGraphApiFake(), startGeminiFake()]);
    timings['odoo start.sh'] = (Date.now() - t0) / 1000;
    timings['odoo install (-i)'] = odoo.install_seconds;
    expect(odoo.modules).toEqual(expect.arrayContaining(['coex_whatsapp_bridge', 'coex_whatsapp_bridge_crm']));
    // A Moroccan company, as a real customer's would be: national numbers ("06…") then sanitize to +212.
    const [morocco] = (await j2('res.country', 'search', { domain: [['code', '=', 'MA']], limit: 1 })) as number[];
    await j2('res.company', 'write', { ids: [1], vals: { country_id: morocco, name: 'Atlas Caftans SARL' } });

    s = await startTestServer(backend, {
      COEX_AGENT: 'off',
      GRAPH_API_BASE_URL: graph.url,
      WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN,
      GEMINI_API_KEY: gemini.apiKey,
      GEMINI_BASE_URL: gemini.url,
      TRANSCRIPT_TIMEOUT_SECONDS: 30,
    });
    await s.runtime.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas Caftans' }).execute();
    await s.runtime.db
      .insertInto('whatsapp_numbers')
      .values({ phone_number_id: N.phoneNumberId, tenant_id: 'atlas', display_phone_number: N.displayPhoneNumber, waba_id: N.wabaId, verified_name: null, access_token_enc: null, connection_reason: null, connection_changed_at: null, last_echo_at: null })
      .execute();
    const conn = await s.api('/api/v1/crm/connections', {
      method: 'POST',
      body: JSON.stringify({ tenant_id: 'atlas', credentials: { crm: 'odoo', url: odoo.url, db: odoo.db, apiKey: odoo.api_key, protocol: 'json2' } }),
    });
    expect(conn.status).toBe(201);
    connectionId = ((await conn.json()) as { connection: { id: string } }).connection.id;

    // The addon's settings, as an admin fills them in: server URL, account, the key CoEx issued.
    const account = `${odoo.url}#${odoo.db}`;
    const issued = await s.api('/api/v1/extension-keys', { method: 'POST', body: JSON.stringify({ tenant_id: 'atlas', crm: 'odoo', account }) });
    expect(issued.status).toBe(201);
    const key = ((await issued.json()) as { key: string }).key;
    await j2('coex.bridge.config', 'create', { vals_list: [{ name: 'CoEx', server_url: s.url, account, install_key: key }] });

    fatimaPartner = ((await j2('res.partner', 'create', { vals_list: [{ name: 'Fatima Zahra Bennani', phone: '06 61 23 45 67', city: 'Rabat' }] })) as number[])[0]!;
    await j2('crm.lead', 'create', { vals_list: [{ name: 'Caftan de mariage – devis', partner_id: fatimaPartner, expected_revenue: 4500 }] });
    timings['beforeAll total'] = (Date.now() - t0) / 1000;
  }, 600_000); // ~20 s on an idle 2-core machine; minutes when other suites load it

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await s?.close();
    await Promise.all([graph?.close(), gemini?.close()]);
    await odoo?.stop();
    console.info(`[real-crm] Odoo timings (s): ${JSON.stringify(timings)}`);
  }, 90_000);

  const chatter = async (model: string, id: number) =>
    (await j2('mail.message', 'search_read', { domain: [['model', '=', model], ['res_id', '=', id], ['message_type', '=', 'comment']], fields: ['body', 'subtype_id'], order: 'id asc' })) as Array<{ id: number; body: string; subtype_id: [number, string] }>;
  const pendingOutbox = async () =>
    Number((await s.runtime.db.selectFrom('crm_outbox').select((eb) => eb.fn.countAll<string>().as('n')).where('connection_id', '=', connectionId).where('status', '=', 'pending').executeTakeFirstOrThrow()).n);
  const visibleText = (html: string) => html.replace(/<[^>]*>/g, ' ');

  it('over JSON-2, a real CoEx server writes the messages, the echo (bot paused), the transcript and the opt-out into the chatter, with the markers out of sight', async () => {
    const t0 = Date.now();
    const now = Date.now();
    const mediaId = graph.addMedia({ bytes: VOICE, mimeType: 'audio/ogg; codecs=opus' });
    gemini.enqueue(() => textResponse(JSON.stringify({ text: SPOKEN, language: 'ar-MA', translation: null })));
    const sha = createHash('sha256').update(VOICE).digest('hex');
    await s.postWebhook(P.inboundMessage(N, { waId: FATIMA, name: 'Fatima' }, 'wamid.RO-1', now - 180_000, P.text('Salam, wach l-caftan l-akhdar mazal kayn f taille 40?')));
    await s.postWebhook(P.echo(N, FATIMA, 'wamid.RO-2', now - 120_000, P.text('Iyeh mazal, 1200 DH')));
    await s.postWebhook(P.inboundMessage(N, { waId: FATIMA, name: 'Fatima' }, 'wamid.RO-3', now - 60_000, P.voiceNote(mediaId, sha)));
    await s.runtime.waitForInboxDrained();
    await waitFor(async () => (await s.runtime.db.selectFrom('messages').select('transcript_state').where('wamid', '=', 'wamid.RO-3').executeTakeFirst())?.transcript_state === 'done', 'voice note transcribed', 60_000);
    await s.postWebhook(P.inboundMessage(N, { waId: FATIMA, name: 'Fatima' }, 'wamid.RO-4', now - 30_000, P.text('stop')));
    await s.runtime.waitForInboxDrained();
    // The runtime's own worker drains the outbox (a second, concurrent drain from here would send
    // the same consent twice at once: Odoo then logs a unique-constraint error on phone_blacklist).
    await waitFor(async () => (await pendingOutbox()) === 0 && (await chatter('res.partner', fatimaPartner)).some((n) => n.body.includes('Opted out')), 'CRM outbox drained by the worker', 120_000);

    const notes = await chatter('res.partner', fatimaPartner);
    const all = notes.map((n) => n.body).join('\n');
    expect(all).toContain('Salam, wach l-caftan l-akhdar mazal kayn f taille 40?');
    expect(all).toContain('Iyeh mazal, 1200 DH');
    expect(all).toContain(SPOKEN);
    expect(all).not.toContain('<blockquote'); // Odoo folds quotes away behind "•••"
    expect(all).toMatch(/paused/);
    expect(all).toContain('Opted out of WhatsApp marketing');
    for (const n of notes) {
      expect(n.subtype_id[1]).toBe('Note');
      expect(visibleText(n.body)).not.toMatch(/coex-(msg|tr|bot|consent)-|CoEx refs/);
      expect(n.body).toMatch(/<span class="d-none" title="coex-[a-z]+-[0-9a-f]{16}/);
    }
    // The partner's open opportunity gets the timeline too; Odoo's blacklist has the number.
    const [lead] = (await j2('crm.lead', 'search_read', { domain: [['partner_id', '=', fatimaPartner]], fields: ['id', 'type', 'probability'] })) as Array<{ id: number; type: string }>;
    expect(lead!.type).toBe('opportunity');
    expect((await chatter('crm.lead', lead!.id)).map((n) => n.body).join('\n')).toContain('Iyeh mazal, 1200 DH');
    const blacklist = (await j2('phone.blacklist', 'search_read', { domain: [['number', '=', `+${FATIMA}`]], fields: ['number', 'active'] })) as unknown[];
    expect(blacklist).toEqual([expect.objectContaining({ active: true })]);

    // A re-drain writes nothing twice.
    await sql`update crm_outbox set status = 'pending', next_attempt_at = now() where connection_id = ${connectionId}`.execute(s.runtime.db);
    await waitFor(async () => (await pendingOutbox()) === 0, 'CRM outbox drained again by the worker', 120_000);
    expect((await chatter('res.partner', fatimaPartner)).map((n) => n.id)).toEqual(notes.map((n) => n.id));
    timings['json2 scenario'] = (Date.now() - t0) / 1000;
  }, 240_000);

  it('over XML-RPC (the Odoo ≤ 18 protocol), the connector finds the partner typed "06 …", posts once, and treats a missing model as fault 2', async () => {
    const partner = ((await j2('res.partner', 'create', { vals_list: [{ name: 'Omar Tazi', phone: '0662 11 22 33' }] })) as number[])[0]!;
    const connector = new OdooConnector({ url: odoo.url, db: odoo.db, login: odoo.login, apiKey: odoo.api_key, protocol: 'xmlrpc' });
    const batch: ArchivedMessage[] = [1, 2].map((i) => ({
      id: `xr-${i}`,
      wamid: `wamid.XR-${i}`,
      threadId: 'thread-omar',
      direction: i === 1 ? 'inbound' : 'outbound',
      origin: i === 1 ? 'customer' : 'app',
      type: 'text',
      text: i === 1 ? 'Bonjour, la djellaba est dispo en bleu ?' : 'Oui, livraison à Marrakech en 48 h.',
      timestamp: new Date(Date.now() - (3 - i) * 60_000).toISOString(),
      status: null,
      customerPhone: '+212662112233',
      customerName: 'Omar',
      businessPhone: `+${N.displayPhoneNumber}`,
    }));
    const first = await connector.archive(batch);
    expect(Object.keys(first.written).sort()).toEqual(['xr-1', 'xr-2']);
    const notes = await chatter('res.partner', partner);
    expect(notes).toHaveLength(1);
    expect(notes[0]!.body).toContain('la djellaba est dispo en bleu');
    const again = await connector.archive(batch);
    expect(again.written).toEqual(first.written);
    expect(await chatter('res.partner', partner)).toHaveLength(1);

    // What archive() sees on a database without the CRM app: fault 2 "Object … doesn't exist".
    const { isMissingModelError } = await import('../connectors/src/odoo/transport.js');
    const { OdooXmlRpcTransport } = await import('../connectors/src/odoo/xmlrpc-transport.js');
    const transport = new OdooXmlRpcTransport({ url: odoo.url, db: odoo.db, login: odoo.login, apiKey: odoo.api_key });
    const err = await transport.searchRead('crm.leadx', [], { fields: ['id'] }).then(() => null, (e: unknown) => e);
    expect(isMissingModelError(err, 'crm.leadx')).toBe(true);
  }, 120_000);

  it('the CoEx panel in the real Odoo web client chatter shows the thread and sends a reply', async () => {
    const t0 = Date.now();
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    // Africa/Casablanca is UTC+1; Chromium's ICU still has it at UTC+0 in winter: a fixed UTC+1 zone.
    const page = await browser.newPage({ locale: 'fr-FR', timezoneId: 'Etc/GMT-1' });
    page.setDefaultTimeout(300_000); // the first web-client load builds Odoo's asset bundles (minutes under load)
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    // Requests still open, so that a panel that never shows says what it waits for.
    const pending = new Map<unknown, string>();
    page.on('request', (r) => pending.set(r, `${r.method()} ${r.url()}`));
    const refused: string[] = [];
    page.on('response', (r) => {
      if (r.status() >= 400) refused.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    });
    page.on('requestfinished', (r) => pending.delete(r));
    page.on('requestfailed', (r) => pending.delete(r));
    await page.goto(`${odoo.url}/web/login`);
    await page.fill('input[name="login"]', odoo.login);
    await page.fill('input[name="password"]', odoo.password);
    // Until the login has gone through: the login page's own URL matched the former /\/odoo|\/web/, so
    // the next page could be opened while the login was still in flight.
    await Promise.all([page.waitForURL((url) => !url.pathname.startsWith('/web/login')), page.click('button[type="submit"]')]);
    const panel = page.locator('.o-coex-ThreadPanel');
    const why = async (error: unknown) => {
      const shown = await page.locator('body').innerText({ timeout: 5_000 }).then((t) => t.slice(0, 500), () => '(page unreadable)');
      return (
        `the CoEx panel did not show after ${Math.round((Date.now() - t0) / 1000)} s: ${String(error)}\nconsole errors: ${JSON.stringify(consoleErrors.slice(0, 10))}\n` +
        `answers >= 400: ${JSON.stringify(refused.slice(0, 10))}\nrequests still open: ${JSON.stringify([...pending.values()].slice(0, 20))}\npage shows: ${JSON.stringify(shown)}`
      );
    };
    await page.goto(`${odoo.url}/odoo/contacts/${fatimaPartner}`);
    // Alone this takes seconds. Blank first loads (a resource answered 422) came from opening the page
    // with the login still in flight (fixed above); the reload-once kept as a safety net after that fix
    // was never needed in the CI runs since, and is gone. A panel that does not show says why.
    await panel.waitFor().catch(async (error: unknown) => {
      throw new Error(await why(error));
    });
    await expect.poll(() => panel.innerText(), { timeout: 180_000 }).toContain('Iyeh mazal, 1200 DH');
    expect(await panel.innerText()).toContain('Salam, wach l-caftan l-akhdar mazal kayn f taille 40?');
    if (SHOTS) {
      await page.setViewportSize({ width: 1400, height: 1100 });
      await page.locator('.o-mail-Chatter').first().screenshot({ path: `${SHOTS}odoo-chatter.png` });
    }

    const before = graph.state.sent.length;
    await panel.locator('.o-coex-composer textarea').fill('Bien reçu Fatima, on vous le réserve jusqu’à samedi.');
    await panel.locator('.o-coex-composer button.btn-primary').click();
    const sent = await waitFor(async () => graph.state.sent.slice(before).find((m) => m.to === FATIMA && m.type === 'text'), 'reply sent through the Graph API', 60_000);
    expect(JSON.stringify(sent.body)).toContain('on vous le réserve');
    expect(consoleErrors.filter((e) => /coex/i.test(e))).toEqual([]);
    timings['chromium scenario'] = (Date.now() - t0) / 1000;
  }, 600_000);

  it('odoo.log holds no error or traceback from the CoEx addons, and no deprecation warning for them', () => {
    const lines = odoo.logLines();
    const errors = lines.filter((l) => / (ERROR|CRITICAL) /.test(l));
    expect(errors).toEqual([]);
    const ours = lines.filter((l) => /coex_whatsapp_bridge/.test(l) && /WARNING|Traceback|Error/.test(l));
    expect(ours).toEqual([]);
  });
});

