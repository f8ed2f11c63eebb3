// CRM API calls per archived message during a 10,000-message history backfill, against each CRM's
// emulator, batched the way the outbox does it: 100 messages per archive call, in outbox order, which
// groups a thread's messages together (history arrives per thread; catch-up orders by thread), over
// 200 customers (50 messages each). Baseline: one API call per message (a naive per-message sync), so the ratio is the
// fraction of calls saved. Target for HubSpot: ≤ 0.05 calls per message.
import { HubSpotConnector, OdooConnector, WooCommerceConnector, ZohoConnector } from '../connectors/dist/index.js';
import { fmt } from './lib.mjs';

const MESSAGES = Number(process.env.BENCH_BACKFILL_MESSAGES ?? 10_000);
const CUSTOMERS = 200;
const BATCH = 100;
const phoneOf = (c) => `+2126${String(10_000_000 + c).slice(-8)}`;

function history() {
  const base = Date.parse('2026-06-01T08:00:00Z');
  const perCustomer = Math.ceil(MESSAGES / CUSTOMERS);
  return Array.from({ length: MESSAGES }, (_, i) => {
    const c = Math.floor(i / perCustomer);
    return {
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      wamid: `wamid.BACKFILL.${i}`,
      threadId: `thread-${c}`,
      direction: i % 3 === 0 ? 'outbound' : 'inbound',
      origin: 'history',
      type: 'text',
      text: i % 3 === 0 ? 'Iyeh kayn, 250 dh' : 'salam, wach kayn had l article?',
      timestamp: new Date(base + i * 60_000).toISOString(),
      status: 'read',
      customerPhone: phoneOf(c),
      customerName: `Client ${c}`,
      businessPhone: '+212522123456',
      transcript: null,
    };
  });
}

async function measure(name, connector, countCalls) {
  const messages = history();
  const before = countCalls();
  let reported = 0;
  let written = 0;
  for (let i = 0; i < messages.length; i += BATCH) {
    const r = await connector.archive(messages.slice(i, i + BATCH));
    reported += r.apiCalls;
    written += Object.keys(r.written).length;
  }
  const calls = countCalls() - before;
  const perMessage = calls / messages.length;
  console.log(`coex      ${name.padEnd(12)} ${fmt(perMessage, 4)} calls/message  ratio ${fmt(perMessage / 1, 4)} of one-call-per-message  (${fmt(calls)} HTTP calls seen by the emulator, ${fmt(reported)} reported, ${fmt(written)} written)`);
}

export async function run() {
  console.log(`\n# CRM backfill (${fmt(MESSAGES)} history messages, ${CUSTOMERS} customers, batches of ${BATCH})`);
  console.log('baseline  naive sync   1.0000 calls/message');
  const { FakeHubSpot } = await import('../test/fakes/hubspot.ts');
  const hs = await FakeHubSpot.start();
  try {
    const c = new HubSpotConnector({ accessToken: 'test-token', basePath: hs.url, portalId: String(hs.portalId), clientSecret: 'x' });
    await c.ensureProperties();
    await measure('HubSpot', c, () => hs.apiRequests().length);
  } finally {
    await hs.close();
  }
  const { FakeWooCommerce } = await import('../test/fakes/woocommerce.ts');
  const woo = await FakeWooCommerce.start({ plugin: { siteKey: 'site-key' } });
  try {
    for (let c = 0; c < CUSTOMERS; c++) woo.addOrder({ billing: { phone: phoneOf(c), first_name: `Client ${c}` } });
    const c = new WooCommerceConnector({ url: woo.url, consumerKey: woo.consumerKey, consumerSecret: woo.consumerSecret, siteKey: 'site-key' });
    await measure('WooCommerce', c, () => woo.requests.length);
  } finally {
    await woo.close();
  }
  const { startOdooFake } = await import('../test/fakes/odoo.ts');
  for (const protocol of ['json2', 'xmlrpc']) {
    const odoo = await startOdooFake();
    try {
      const c = new OdooConnector({ url: odoo.url, db: odoo.db, login: odoo.login, apiKey: odoo.apiKey, protocol });
      await measure(`Odoo ${protocol}`, c, () => odoo.requests.length);
    } finally {
      await odoo.close();
    }
  }
  const { startZohoFake } = await import('../test/fakes/zoho.ts');
  const zoho = await startZohoFake();
  try {
    const c = new ZohoConnector({ apiDomain: zoho.apiUrl, accountsServer: zoho.accountsUrl, clientId: zoho.clientId, clientSecret: zoho.clientSecret, refreshToken: zoho.issueRefreshToken(), module: 'Contacts', orgId: 'org-1', allowedAccountsServers: [zoho.accountsUrl], allowedApiDomains: [zoho.apiUrl] });
    await measure('Zoho', c, () => zoho.requests.length);
  } finally {
    await zoho.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
