// [real-crm] The WooCommerce plugin and connector against a REAL WordPress 7.1 + WooCommerce 10.0.2
// (HPOS on) from ../shared/real-crms (COEX_REAL_CRMS): the plugin is installed into a fresh site, a
// shop manager connects it the way readme.txt says (settings page: server URL, site key, extension
// key, Test connection), a real CoEx server archives inbound messages, an echo, a voice-note
// transcript, the bot pause and a marketing opt-out into the real store (order notes, customer
// meta), and the real HPOS order screen in headless Chromium shows the thread and sends a reply and
// a template. WordPress's debug.log must stay free of anything from the plugin.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import wooModule from '@woocommerce/woocommerce-rest-api';
import { chromium, type Browser } from 'playwright-core';
import { resolveWooClientCtor, wooMarkedKeys } from '@coex/connectors';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import { startGraphApiFake, DEFAULT_FAKE_PHONE_NUMBER, DEFAULT_FAKE_TOKEN, type GraphApiFake } from './fakes/graph-api.js';
import { startGeminiFake, textResponse, type GeminiFake } from './fakes/gemini.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, CookieFetch, decodeEntities, formFields, REAL_CRMS, REAL_CRMS_SKIP_REASON, startWooCommerce, type WooStack } from './helpers/real-crms.js';
import * as P from '../core/src/whatsapp/payloads.js';
import * as M from './fixtures/meta-2026.js';

const PLUGIN = fileURLToPath(new URL('../woocommerce-plugin/', import.meta.url));
const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
const VOICE = readFileSync(new URL('./fixtures/audio/darija-order-status.ogg', import.meta.url));
const SPOKEN = 'السلام عليكم، بغيت نعرف واش الكوموند ديالي وصلات ولا باقي.';
/**
 * Amina has an account and an order typed "06 12 34 56 78"; Youssef a guest order, his last message two
 * days old, and Meta's AI agent took his chat minutes after it (Conversation Routing).
 */
const AMINA = '212612345678';
const YOUSSEF = '212612700703';
const MANAGER = { login: 'khadija', password: `km-${randomBytes(6).toString('hex')}` };
const SITE_KEY = `coex_sk_${randomBytes(16).toString('hex')}`;
const backend = backends()[0]!;
/** scripts/screenshot-real-crms.sh sets it: the real admin screens become docs/screenshots/*.png. */
const SHOTS = process.env.COEX_REAL_SCREENSHOTS ? fileURLToPath(new URL('../docs/screenshots/', import.meta.url)) : null;

if (!REAL_CRMS) console.warn(`[real-crm] WooCommerce tests skipped: ${REAL_CRMS_SKIP_REASON}`);

interface WooNote {
  id: number;
  note: string;
  author: string;
  customer_note: boolean;
}

describe.skipIf(!REAL_CRMS)('[real-crm] WooCommerce 10 (HPOS) with the CoEx plugin and a real CoEx server', () => {
  let woo: WooStack;
  let s: TestServer;
  let graph: GraphApiFake;
  let gemini: GeminiFake;
  let browser: Browser | undefined;
  let extensionKey = '';
  let connectionId = '';
  let aminaCustomer = 0;
  let aminaOrder = 0;
  let youssefOrder = 0;
  const timings: Record<string, number> = {};
  type Api = { get(p: string, q?: Record<string, string | number>): Promise<{ data: unknown }>; post(p: string, d: unknown): Promise<{ data: unknown }> };
  let rest: Api;

  beforeAll(async () => {
    const t0 = Date.now();
    [woo, graph, gemini] = await Promise.all([startWooCommerce([PLUGIN]), startGraphApiFake(), startGeminiFake()]);
    timings['woocommerce start.sh'] = (Date.now() - t0) / 1000;
    const Ctor = resolveWooClientCtor(wooModule);
    // Plain http: the client signs with OAuth 1.0a, the only scheme WooCommerce accepts there.
    rest = new Ctor({ url: woo.url, consumerKey: woo.consumer_key, consumerSecret: woo.consumer_secret, version: 'wc/v3' }) as unknown as Api;

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
    // The operator connects the store in CoEx: REST keys + the site key, then an extension key.
    const conn = await s.api('/api/v1/crm/connections', {
      method: 'POST',
      body: JSON.stringify({ tenant_id: 'atlas', credentials: { crm: 'woocommerce', url: woo.url, consumerKey: woo.consumer_key, consumerSecret: woo.consumer_secret, siteKey: SITE_KEY } }),
    });
    expect(conn.status).toBe(201);
    connectionId = ((await conn.json()) as { connection: { id: string } }).connection.id;
    const issued = await s.api('/api/v1/extension-keys', { method: 'POST', body: JSON.stringify({ tenant_id: 'atlas', crm: 'woocommerce', account: woo.url }) });
    expect(issued.status).toBeLessThan(300);
    extensionKey = ((await issued.json()) as { key: string }).key;

    // The shop: a shop manager, Amina's account and order, Youssef's guest order.
    await woo.php(`$u = wp_insert_user(['user_login' => '${MANAGER.login}', 'user_pass' => '${MANAGER.password}', 'user_email' => 'khadija@atlas-caftans.ma', 'role' => 'shop_manager', 'first_name' => 'Khadija']); echo is_wp_error($u) ? $u->get_error_message() : $u;`);
    aminaCustomer = ((await rest.post('customers', { email: 'amina.elidrissi@example.ma', first_name: 'Amina', last_name: 'El Idrissi', billing: { first_name: 'Amina', last_name: 'El Idrissi', phone: '06 12 34 56 78', city: 'Casablanca', country: 'MA' } })).data as { id: number }).id;
    aminaOrder = ((await rest.post('orders', { customer_id: aminaCustomer, status: 'processing', billing: { first_name: 'Amina', last_name: 'El Idrissi', phone: '06 12 34 56 78', city: 'Casablanca', country: 'MA' }, line_items: [] })).data as { id: number }).id;
    youssefOrder = ((await rest.post('orders', { status: 'on-hold', billing: { first_name: 'Youssef', last_name: 'Benali', phone: '+212 6 12 70 07 03', city: 'Fès', country: 'MA' }, line_items: [] })).data as { id: number }).id;
    timings['beforeAll total'] = (Date.now() - t0) / 1000;
  }, 400_000); // 3-8 s idle; much longer when other suites load the machine

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await s?.close();
    await Promise.all([graph?.close(), gemini?.close()]);
    await woo?.stop();
    console.info(`[real-crm] WooCommerce timings (s): ${JSON.stringify(timings)}`);
  }, 60_000);

  const settingsUrl = () => `${woo.url}/wp-admin/admin.php?page=coex-whatsapp`;

  async function loginAsManager(): Promise<CookieFetch> {
    const jar = new CookieFetch();
    jar.cookies.set('wordpress_test_cookie', 'WP%20Cookie%20check');
    const body = new URLSearchParams({ log: MANAGER.login, pwd: MANAGER.password, 'wp-submit': 'Log In', redirect_to: `${woo.url}/wp-admin/`, testcookie: '1' });
    const res = await jar.fetch(`${woo.url}/wp-login.php`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(302);
    expect([...jar.cookies.keys()].some((k) => k.startsWith('wordpress_logged_in_'))).toBe(true);
    return jar;
  }

  async function saveSettings(jar: CookieFetch, values: Record<string, string>): Promise<string> {
    const page = await jar.follow(settingsUrl());
    expect(page.res.status).toBe(200);
    const fields = formFields(await page.res.text(), /options\.php$/);
    const body = new URLSearchParams({ ...fields, ...values });
    const { res } = await jar.follow(`${woo.url}/wp-admin/options.php`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(200); // not 403: shop managers may save (option_page_capability filter)
    return res.text();
  }

  it('a shop manager connects the store on the settings page: a private URL is explained and kept, then saved when allowed; Test connection succeeds', async () => {
    const jar = await loginAsManager();
    const first = await saveSettings(jar, { 'coex_whatsapp_settings[server_url]': s.url, 'coex_whatsapp_settings[site_key]': SITE_KEY, 'coex_whatsapp_settings[extension_key]': extensionKey });
    // 127.0.0.1:<port> is this machine: refused unless allowed, with the reason and the typed value kept.
    expect(decodeEntities(first)).toContain(`“${s.url}” is not saved`);
    expect(first).toContain(`value="${s.url}"`);
    const second = await saveSettings(jar, {
      'coex_whatsapp_settings[server_url]': s.url,
      'coex_whatsapp_settings[allow_private_server]': 'yes',
    });
    expect(second).toContain('Settings saved.');
    expect(second).toContain(`value="${s.url}"`);

    const page = await (await jar.follow(settingsUrl())).res.text();
    const test = formFields(page, /admin-post\.php$/);
    const { res } = await jar.follow(`${woo.url}/wp-admin/admin-post.php`, { method: 'POST', body: new URLSearchParams(test), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(decodeEntities(await res.text())).toContain("Connected: CoEx accepted this store's signed request.");
  }, 120_000);

  const notesOf = async (orderId: number) => ((await rest.get(`orders/${orderId}/notes`, { type: 'internal' })).data as WooNote[]).filter((n) => wooMarkedKeys(n.note).length > 0);
  const pendingOutbox = async () =>
    Number((await s.runtime.db.selectFrom('crm_outbox').select((eb) => eb.fn.countAll<string>().as('n')).where('connection_id', '=', connectionId).where('status', '=', 'pending').executeTakeFirstOrThrow()).n);

  it('inbound messages, an echo (bot paused), a voice-note transcript and a marketing opt-out land in the real store as order notes and customer meta', async () => {
    const t0 = Date.now();
    const now = Date.now();
    const mediaId = graph.addMedia({ bytes: VOICE, mimeType: 'audio/ogg; codecs=opus' });
    gemini.enqueue(() => textResponse(JSON.stringify({ text: SPOKEN, language: 'ar-MA', translation: null })));
    const sha = createHash('sha256').update(VOICE).digest('hex');
    const posted = [
      await s.postWebhook(P.inboundMessage(N, { waId: YOUSSEF, name: 'Youssef' }, 'wamid.RW-Y1', now - 2 * 86_400_000, P.text('Salam, bghit nbeddel l-adresse dyal livraison'))),
      await s.postWebhook(M.handover(N, { waId: YOUSSEF }, 'control_taken', now - 2 * 86_400_000 + 300_000, { previous_owner: 'APP', new_owner: 'AI_AGENT' })),
      await s.postWebhook(P.inboundMessage(N, { waId: AMINA, name: 'Amina' }, 'wamid.RW-1', now - 180_000, P.text('Salam, fin wslat commande dyali? Chokran <3'))),
      await s.postWebhook(P.echo(N, AMINA, 'wamid.RW-2', now - 120_000, P.text('Rah f triq, ghda inchallah'))),
      await s.postWebhook(P.inboundMessage(N, { waId: AMINA, name: 'Amina' }, 'wamid.RW-3', now - 60_000, P.voiceNote(mediaId, sha))),
    ];
    expect(posted.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    await s.runtime.waitForInboxDrained();
    await waitFor(async () => (await s.runtime.db.selectFrom('messages').select('transcript_state').where('wamid', '=', 'wamid.RW-3').executeTakeFirst())?.transcript_state === 'done', 'voice note transcribed', 60_000);
    expect((await s.postWebhook(P.inboundMessage(N, { waId: AMINA, name: 'Amina' }, 'wamid.RW-4', now - 30_000, P.text('baraka')))).status).toBe(200);
    await s.runtime.waitForInboxDrained();
    // The runtime's own worker drains the outbox; a concurrent drain from here would double-send.
    await waitFor(async () => (await pendingOutbox()) === 0 && (await notesOf(aminaOrder)).some((n) => /opted out/i.test(n.note)), 'CRM outbox drained by the worker', 120_000);

    const notes = await notesOf(aminaOrder);
    const all = notes.map((n) => n.note).join('\n---\n');
    expect(all).toContain('Salam, fin wslat commande dyali? Chokran &lt;3'); // escaped in the note
    expect(all).toContain('Rah f triq, ghda inchallah');
    expect(all).toContain(SPOKEN);
    expect(all).toMatch(/paused/i);
    expect(all).toMatch(/opted out|Opted out/);
    // The keys that make this idempotent are out of sight: no [coex:…] text, only the data attribute.
    for (const n of notes) {
      expect(n.note).not.toContain('[coex:');
      expect(n.note).toMatch(/<span data-coex-refs="[^"]+"><\/span>$/);
      expect(n.customer_note).toBe(false);
    }
    const keys = notes.flatMap((n) => wooMarkedKeys(n.note));
    expect(keys.some((k) => k.startsWith('transcript:'))).toBe(true);
    expect(keys.some((k) => k.startsWith('bot:'))).toBe(true);
    expect(keys.some((k) => k.startsWith('consent:'))).toBe(true);
    expect(await notesOf(youssefOrder)).not.toHaveLength(0);

    const customer = (await rest.get(`customers/${aminaCustomer}`)).data as { meta_data: Array<{ key: string; value: unknown }> };
    const meta = Object.fromEntries(customer.meta_data.map((m) => [m.key, m.value]));
    expect(meta['coex_whatsapp_marketing_opt_out']).toBe('yes');
    expect(typeof meta['coex_whatsapp_marketing_consent_event']).toBe('string');

    // Everything again (a lost response, a re-drain): the real store gets nothing twice.
    await sql`update crm_outbox set status = 'pending', next_attempt_at = now() where connection_id = ${connectionId}`.execute(s.runtime.db);
    await waitFor(async () => (await pendingOutbox()) === 0, 'CRM outbox drained again by the worker', 120_000);
    expect((await notesOf(aminaOrder)).map((n) => n.id)).toEqual(notes.map((n) => n.id));
    timings['archive scenario'] = (Date.now() - t0) / 1000;
  }, 180_000);

  it('the HPOS order screen in headless Chromium shows the thread, sends a reply in the window and a template outside it', async () => {
    const t0 = Date.now();
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    // The shop's zone is Africa/Casablanca (UTC+1, WordPress and the system tzdata agree); Chromium's
    // ICU still models it as UTC+0 in winter, so the browser gets a fixed UTC+1 zone instead.
    const page = await browser.newPage({ locale: 'fr-MA', timezoneId: 'Etc/GMT-1' });
    page.setDefaultTimeout(60_000);
    await page.goto(`${woo.url}/wp-login.php`);
    await page.fill('#user_login', MANAGER.login);
    await page.fill('#user_pass', MANAGER.password);
    await Promise.all([page.waitForURL(/wp-admin/), page.click('#wp-submit')]);

    await page.goto(`${woo.url}/wp-admin/admin.php?page=wc-orders&action=edit&id=${aminaOrder}`);
    const box = page.locator('[data-coex-timeline]');
    await box.locator('.coex-timeline__items').waitFor();
    await expect.poll(() => box.locator('.coex-timeline__items').innerText(), { timeout: 60_000 }).toContain('Rah f triq');
    const text = await box.innerText();
    expect(text).toContain('Amina');
    expect(text).toContain('Salam, fin wslat commande dyali? Chokran <3');
    expect(text).toContain(SPOKEN);
    // WooCommerce's own notes panel: CoEx's notes read as plain text, no marker keys.
    const wcNotes = await page.locator('ul.order_notes').innerText();
    expect(wcNotes).toContain('Rah f triq');
    expect(wcNotes).not.toMatch(/\[coex:|data-coex-refs|wamid\.|RW-\d/);
    if (SHOTS) {
      await expect.poll(() => box.locator('.coex-campaigns__loading').count(), { timeout: 60_000 }).toBe(0);
      await page.setViewportSize({ width: 1400, height: 1000 });
      await page.locator('#coex-whatsapp-timeline').screenshot({ path: `${SHOTS}woocommerce-order-timeline.png` });
    }

    const before = graph.state.sent.length;
    await box.locator('.coex-reply__text').fill('Merci Amina, la livraison arrive demain inchallah.');
    await box.locator('form.coex-reply button[type="submit"], form.coex-reply button').first().click();
    await waitFor(async () => graph.state.sent.slice(before).find((m) => m.to === AMINA && m.type === 'text'), 'reply sent through the Graph API', 60_000);

    await page.goto(`${woo.url}/wp-admin/admin.php?page=wc-orders&action=edit&id=${youssefOrder}`);
    const ybox = page.locator('[data-coex-timeline]');
    await ybox.locator('.coex-template-form__select').waitFor();
    await ybox.locator('.coex-template-form__select').selectOption({ label: 'order_shipped (fr)' });
    await ybox.locator('.coex-template-form__value').first().fill(`#${youssefOrder}`);
    await expect.poll(() => ybox.locator('.coex-template-form__preview').innerText()).toContain(`#${youssefOrder}`);
    // Meta's AI agent holds his chat: said beside the agent's state, with what a reply from here does.
    expect(await ybox.locator('[data-control="meta_agent"]').innerText()).toBe("Meta's AI agent is handling this chat");
    expect(await ybox.innerText()).toContain('A text reply sent from here takes it back once WhatsApp accepts it');
    if (SHOTS) await expect.poll(() => ybox.locator('.coex-campaigns__loading').count(), { timeout: 60_000 }).toBe(0);
    if (SHOTS) await page.locator('#coex-whatsapp-timeline').screenshot({ path: `${SHOTS}woocommerce-order-templates.png` });
    await ybox.locator('form.coex-template-form button').first().click();
    const sent = await waitFor(async () => graph.state.sent.slice(before).find((m) => m.to === YOUSSEF && m.type === 'template'), 'template sent through the Graph API', 60_000);
    expect(sent.body['template']).toMatchObject({ name: 'order_shipped', language: { code: 'fr' }, components: [{ type: 'body', parameters: [{ type: 'text', text: `#${youssefOrder}` }] }] });
    timings['chromium scenario'] = (Date.now() - t0) / 1000;
  }, 240_000);

  it("WordPress's debug.log holds nothing from the plugin", () => {
    const ours = woo.debugLog().filter((line) => /coex-whatsapp|Coex_|coex_whatsapp/i.test(line));
    expect(ours).toEqual([]);
  });

  it('without WooCommerce the plugin says so to administrators (and registers no routes)', async () => {
    await woo.php("deactivate_plugins('woocommerce/woocommerce.php');");
    const jar = new CookieFetch();
    jar.cookies.set('wordpress_test_cookie', 'WP%20Cookie%20check');
    const body = new URLSearchParams({ log: woo.admin.user, pwd: woo.admin.password, 'wp-submit': 'Log In', redirect_to: `${woo.url}/wp-admin/`, testcookie: '1' });
    await jar.fetch(`${woo.url}/wp-login.php`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const page = await (await jar.follow(`${woo.url}/wp-admin/plugins.php`)).res.text();
    expect(page).toContain('CoEx WhatsApp for WooCommerce requires WooCommerce');
    const lookup = await fetch(`${woo.url}/wp-json/coex/v1/lookup?phone=%2B212612345678`, { headers: { 'x-coex-site-key': SITE_KEY } });
    expect(lookup.status).toBe(404);
    expect(((await lookup.json()) as { code: string }).code).toBe('rest_no_route');
    expect(woo.debugLog().filter((line) => /coex-whatsapp|Coex_|coex_whatsapp/i.test(line))).toEqual([]);
  }, 120_000);
});
