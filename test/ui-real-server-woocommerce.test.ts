import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import * as P from '../core/src/whatsapp/payloads.js';
import { issueExtensionKey } from '../core/src/api/extension-auth.js';
import * as timeline from '../woocommerce-plugin/assets/js/coex-timeline.js';

const PLUGIN = fileURLToPath(new URL('../woocommerce-plugin/', import.meta.url));
const SITE = 'https://shop.atlas.example.ma';
const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };
const hasPhp = (() => {
  try {
    execFileSync('php', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** The WooCommerce plugin's own PHP client, signing and sending real HTTP to the real server. */
describe.skipIf(!hasPhp && !process.env.CI)('WooCommerce plugin against the real server', () => {
  let s: TestServer;
  let key: string;
  beforeAll(async () => {
    s = await startTestServer('pglite', { COEX_AGENT: 'off' });
    const now = Date.now();
    await s.postWebhook(P.historyChunk(N, { phase: 1, chunkOrder: 1, progress: 100 }, [{ waId: '212612700702', messages: [{ wamid: 'wamid.W-H1', fromCustomer: true, at: now - 3 * 86_400_000, body: P.text('Salam, wach kayn l-caftan f 38?') }] }]));
    await s.postWebhook(P.inboundMessage(N, { waId: '212612700702', name: 'Amina' }, 'wamid.W-1', now - 120_000, P.text('fin wslat commande dyali #1003?')));
    await s.postWebhook(P.echo(N, '212612700702', 'wamid.W-2', now - 60_000, P.text('Rah f triq, ghda inchallah')));
    await s.runtime.waitForInboxDrained();
    await s.runtime.db.insertInto('tenants').values({ id: 'default', name: 'default' }).onConflict((oc) => oc.doNothing()).execute();
    key = (await issueExtensionKey(s.runtime.db, { tenantId: 'default', crm: 'woocommerce', account: SITE, cipher: s.runtime.cipher })).key;
  });
  afterAll(async () => {
    await s?.close();
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
});
