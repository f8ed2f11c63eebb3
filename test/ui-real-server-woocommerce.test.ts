// The WooCommerce plugin against the REAL CoEx server (signed Meta webhooks in, the Graph API fake
// behind it, no stub API). 1) The plugin's PHP client fetches a thread over real HTTP. 2) PHP's
// built-in server runs the plugin's own REST handlers and meta box (tests/live-wp.php: WordPress
// stubbed, a logged-in order manager) and headless Chromium drives the real coex-timeline.js: the
// approved templates the server read from Meta (GET /{waba}/message_templates) fill the picker, a
// template with its parameter is sent when the 24-hour window is closed, and the report of a real
// campaign (created, run, delivered and read) appears for the customer who was in it.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { CHROMIUM, runChromium } from './helpers/zoho-widget-host.js';
import { startGraphApiFake, DEFAULT_FAKE_PHONE_NUMBER, DEFAULT_FAKE_TOKEN, type GraphApiFake } from './fakes/graph-api.js';
import * as P from '../core/src/whatsapp/payloads.js';
import { issueExtensionKey } from '../core/src/api/extension-auth.js';
import { createCampaign, startCampaign } from '../core/src/campaigns/store.js';
import * as timeline from '../woocommerce-plugin/assets/js/coex-timeline.js';

const PLUGIN = fileURLToPath(new URL('../woocommerce-plugin/', import.meta.url));
const SITE = 'https://shop.atlas.example.ma';
const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
/** Amina wrote two minutes ago (window open); Youssef two days ago (closed) and was in the campaign; Sara too, then answered "baraka". */
const AMINA = '212612700702';
const YOUSSEF = '212612700703';
const SARA = '212612700704';
/** Orders of the stand-in store, by billing phone as customers type them. */
const ORDERS = { 2001: '06 12 70 07 02', 2002: '+212 6 12 70 07 03', 2003: '0612700704' };
const hasPhp = (() => {
  try {
    execFileSync('php', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const hasChromium = existsSync(CHROMIUM);

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const address = probe.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

describe.skipIf(!hasPhp && !process.env.CI)('WooCommerce plugin against the real server', () => {
  let s: TestServer;
  let graph: GraphApiFake;
  let key: string;
  let campaignId = '';
  let wp: ChildProcess | undefined;
  let wpUrl = '';

  beforeAll(async () => {
    graph = await startGraphApiFake();
    s = await startTestServer('postgres', { COEX_AGENT: 'off', GRAPH_API_BASE_URL: graph.url, WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN });
    const now = Date.now();
    const day = 86_400_000;
    const posted = [
      await s.postWebhook(P.historyChunk(N, { phase: 1, chunkOrder: 1, progress: 100 }, [{ waId: AMINA, messages: [{ wamid: 'wamid.W-H1', fromCustomer: true, at: now - 3 * day, body: P.text('Salam, wach kayn l-caftan f 38?') }] }])),
      await s.postWebhook(P.inboundMessage(N, { waId: AMINA, name: 'Amina' }, 'wamid.W-1', now - 120_000, P.text('fin wslat commande dyali #1003?'))),
      await s.postWebhook(P.echo(N, AMINA, 'wamid.W-2', now - 60_000, P.text('Rah f triq, ghda inchallah'))),
      await s.postWebhook(P.inboundMessage(N, { waId: YOUSSEF, name: 'Youssef' }, 'wamid.W-3', now - 2 * day, P.text('Salam, bghit nbeddel l-adresse dyal livraison'))),
    ];
    expect(posted.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    await s.runtime.waitForInboxDrained();
    await s.runtime.db.insertInto('tenants').values({ id: 'default', name: 'default' }).onConflict((oc) => oc.doNothing()).execute();
    key = (await issueExtensionKey(s.runtime.db, { tenantId: 'default', crm: 'woocommerce', account: SITE, cipher: s.runtime.cipher })).key;

    // A real campaign through the store and the runner, then Meta's receipts for Youssef's message
    // and Sara's "baraka" (a marketing opt-out, which also counts as her reply).
    const created = await createCampaign(s.runtime.db, {
      tenantId: 'default',
      phoneNumberId: N.phoneNumberId,
      name: 'Soldes Ramadan',
      template: { name: 'order_shipped', language: 'fr', category: 'marketing' },
      bodyParameters: ['{{var1}}'],
      source: 'api',
      sendAt: null,
      createdBy: null,
      recipients: [
        { waId: YOUSSEF, phone: `+${YOUSSEF}`, name: 'Youssef', variables: ['#C-3'] },
        { waId: SARA, phone: `+${SARA}`, name: 'Sara', variables: ['#C-4'] },
      ],
    });
    campaignId = created.id;
    await startCampaign(s.runtime.db, 'default', campaignId);
    await s.runtime.campaigns.runUntilIdle();
    const sent = await s.runtime.db.selectFrom('campaign_recipients').select(['wa_id', 'wamid', 'status']).where('campaign_id', '=', campaignId).execute();
    expect(sent.map((r) => r.status)).toEqual(['sent', 'sent']);
    const youssefWamid = sent.find((r) => r.wa_id === YOUSSEF)!.wamid!;
    await s.postWebhook(P.statusUpdate(N, youssefWamid, 'delivered', Date.now(), YOUSSEF));
    await s.postWebhook(P.statusUpdate(N, youssefWamid, 'read', Date.now(), YOUSSEF));
    await s.postWebhook(P.inboundMessage(N, { waId: SARA, name: 'Sara' }, 'wamid.W-OPT', Date.now() + 1000, P.text('baraka')));
    await s.runtime.waitForInboxDrained();

    if (hasPhp) {
      // The store's site URL is the key's account: this stand-in WordPress's own origin.
      const port = await freePort();
      wpUrl = `http://127.0.0.1:${port}`;
      const wpKey = (await issueExtensionKey(s.runtime.db, { tenantId: 'default', crm: 'woocommerce', account: wpUrl, cipher: s.runtime.cipher })).key;
      wp = spawn('php', ['-S', `127.0.0.1:${port}`, 'tests/live-wp.php'], {
        cwd: PLUGIN,
        env: { ...process.env, COEX_LIVE_HTTP: '1', COEX_SERVER: s.url, COEX_KEY: wpKey, COEX_ORDERS: JSON.stringify(ORDERS) },
        stdio: 'ignore',
      });
      for (let i = 0; i < 100; i++) {
        const up = await fetch(`${wpUrl}/order/2001`).then((r) => r.ok, () => false);
        if (up) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }, 60_000);
  afterAll(async () => {
    wp?.kill();
    await s?.close();
    await graph?.close();
  });

  // Asynchronous: the server answering the PHP client runs in this very process.
  const fetchThread = async (k: string, phone = '0612700702') => {
    expect(existsSync(`${PLUGIN}tests/live-thread.php`)).toBe(true);
    const { stdout } = await promisify(execFile)('php', [`${PLUGIN}tests/live-thread.php`, s.url, k, SITE, phone], { env: { ...process.env, COEX_LIVE_HTTP: '1' }, encoding: 'utf8' });
    return JSON.parse(stdout) as { thread?: { contact_name: string }; messages?: Array<{ origin: string; text: string; direction: string }>; error?: string };
  };

  it('fetches the real thread with its signed request and lays it out on the order timeline', async () => {
    const res = await fetchThread(key);
    expect(res.error).toBeUndefined();
    expect(res.thread?.contact_name).toBe('Amina');
    expect(res.messages?.map((m) => `${m.origin}/${m.direction}`)).toEqual(['history/inbound', 'customer/inbound', 'app/outbound']);
    const rows = timeline.buildTimeline(res.messages, [{ at: new Date(Date.now() - 86_400_000).toISOString(), type: 'status', label: 'Processing' }]) as Array<{ kind: string }>;
    expect(rows.map((r) => r.kind)).toEqual(['message', 'event', 'message', 'message']);
  });

  it('is refused with a wrong key (the plugin reports it, nothing leaks)', async () => {
    const res = await fetchThread('not-the-key');
    expect(res.error).toBeTruthy();
    expect(res.error).not.toBe('coex_unreachable');
    expect(res.thread).toBeUndefined();
  });

  const nonceOf = async (orderId: number): Promise<string> => {
    const html = await (await fetch(`${wpUrl}/order/${orderId}`)).text();
    const nonce = /data-nonce="([^"]+)"/.exec(html)?.[1];
    expect(nonce).toBeTruthy();
    return nonce!;
  };

  it("the plugin's routes proxy the real templates and campaign report, and refuse a request without the nonce", async () => {
    const nonce = await nonceOf(2002);
    const templates = (await (await fetch(`${wpUrl}/wp-json/coex/v1/templates?phone_number_id=${N.phoneNumberId}`, { headers: { 'X-WP-Nonce': nonce } })).json()) as {
      templates: Array<{ name: string; language: string; body: string; parameters: { format: string; names: string[] }; sendable: boolean }>;
      stale: boolean;
    };
    expect(templates.stale).toBe(false);
    expect(templates.templates.map((t) => `${t.name}/${t.language}/${t.parameters.names.length}/${t.sendable}`)).toEqual(['hello_world/en_US/0/true', 'order_shipped/fr/1/true']);
    expect(timeline.sendableTemplates(templates.templates).map((t) => t.name)).toEqual(['hello_world', 'order_shipped']);

    // The customer is the order's billing phone; a phone added by the browser changes nothing.
    const report = (await (await fetch(`${wpUrl}/wp-json/coex/v1/orders/2002/campaigns?phone=${SARA}`, { headers: { 'X-WP-Nonce': nonce } })).json()) as {
      campaigns: Array<{ id: string; recipient: { message_status: string; replied: boolean } }>;
      opt_out: unknown;
    };
    expect(report.campaigns.map((c) => c.id)).toEqual([campaignId]);
    expect(report.campaigns[0]!.recipient).toMatchObject({ message_status: 'read', replied: false });
    expect(report.opt_out).toBeNull();

    for (const path of ['/wp-json/coex/v1/orders/2002/campaigns', `/wp-json/coex/v1/templates?phone_number_id=${N.phoneNumberId}`]) {
      const refused = await fetch(`${wpUrl}${path}`);
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { code: string }).code).toBe('rest_cookie_invalid_nonce');
    }
  });

  it.skipIf(!hasChromium && !process.env.CI)('window closed: the real templates fill the picker and a template with its parameter reaches WhatsApp; the real campaign report is shown', async () => {
    const before = graph.state.sent.length;
    const dom = await runChromium(
      ['--dump-dom', `${wpUrl}/order/2002?driver=send-template&template=${encodeURIComponent('order_shipped (fr)')}&values=${encodeURIComponent(JSON.stringify(['#1003']))}`],
      90_000,
    );
    expect(dom).toContain('data-mode="template"');
    expect(dom).toContain('>hello_world (en_US)</option>');
    expect(dom).toContain('>order_shipped (fr)</option>');
    expect(dom).toContain('data-preview="Preview: Bonjour, votre commande #1003 est en route."');

    const sends = graph.state.sent.slice(before).filter((m) => m.type === 'template' && m.to === YOUSSEF);
    expect(sends).toHaveLength(1);
    expect(sends[0]!.body.template).toMatchObject({ name: 'order_shipped', language: { code: 'fr' }, components: [{ type: 'body', parameters: [{ type: 'text', text: '#1003' }] }] });
    const stored = await s.runtime.db.selectFrom('messages').select(['direction', 'type']).where('wamid', '=', sends[0]!.wamid ?? '').execute();
    expect(stored).toEqual([{ direction: 'outbound', type: 'template' }]);

    expect(dom).toContain('<h3 class="coex-campaigns__title">Campaigns</h3>');
    expect(dom).toContain('<strong class="coex-campaign__name">Soldes Ramadan</strong>');
    expect(dom).toContain('Template: order_shipped (fr)');
    expect(dom).toContain('This customer: read</p>');
    expect(dom).toContain('2 sent · 1 delivered · 1 read · 0 failed · 1 replied of 2');
    expect(dom).not.toContain('coex-optout');
    expect(dom).not.toContain('role="alert">'); // no error shown (the hidden error box has no text)
  });

  it.skipIf(!hasChromium && !process.env.CI)("a customer who answered 'baraka' is shown opted out of marketing, with the campaign marked replied", async () => {
    const dom = await runChromium(['--dump-dom', `${wpUrl}/order/2003`], 90_000);
    expect(dom).toMatch(/<p class="coex-optout" role="note"><strong>Opted out of marketing — 'baraka', [A-Z][a-z]{2} \d{1,2}, \d{4}<\/strong><\/p>/);
    expect(dom).toContain('This customer: sent · replied');
    // Her "baraka" reopened the 24-hour window: free text again.
    expect(dom).toContain('data-mode="text"');
  });
});
