import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, TEST_ADMIN_TOKEN, type TestServer } from './helpers/runtime.js';
import { hasChromium, launchChromium, requireChromiumUnlessSkipped } from './helpers/browser.js';
import * as P from '../core/src/whatsapp/payloads.js';
import { createCampaign } from '../core/src/campaigns/store.js';

const SHOTS = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
/** Screenshots for docs/screenshots, only when asked (COEX_WRITE_SCREENSHOTS=1): a test run leaves the tree clean. */
const shot = async (p: Page, path: string): Promise<void> => {
  if (process.env.COEX_WRITE_SCREENSHOTS === '1') await p.screenshot({ path, fullPage: true });
};
const N: P.NumberRef = { wabaId: '770001', phoneNumberId: '660001', displayPhoneNumber: '+212 522-660001' };
const N2: P.NumberRef = { wabaId: '770001', phoneNumberId: '660002', displayPhoneNumber: '+212 522-660002' };

const run = requireChromiumUnlessSkipped('operator console in Chromium');

describe.skipIf(!run || !hasChromium).each(backends().slice(0, 1))('operator console in headless Chromium [%s]', (backend) => {
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  let connectionId: string;

  beforeAll(async () => {
    s = await startTestServer(backend, { COEX_AGENT: 'on' });
    const db = s.runtime.db;
    await db.insertInto('tenants').values([{ id: 'atlas', name: 'Atlas Boutique' }, { id: 'riad', name: 'Riad Yasmine' }]).execute();
    for (const [n, i] of [[N, 0], [N2, 1]] as const) {
      await s.postWebhook(P.inboundMessage(n, { waId: `21266000000${i}`, name: `Client ${i}` }, `wamid.CON-${i}`, Date.now() - 60_000, P.text('salam, chhal taman dyal l9ftan?')));
    }
    await s.runtime.waitForInboxDrained(60_000);
    // The owner last used the Business App 12 days ago on the first number; history half imported.
    await db.updateTable('whatsapp_numbers').set({ last_echo_at: new Date(Date.now() - 12 * 86_400_000) }).where('phone_number_id', '=', N.phoneNumberId).execute();
    await db.insertInto('sync_state').values({ phone_number_id: N.phoneNumberId, history_status: 'in_progress', history_progress: 55, history_messages: 1200 }).onConflict((oc) => oc.column('phone_number_id').doUpdateSet({ history_status: 'in_progress', history_progress: 55, history_messages: 1200 })).execute();
    const conn = await db.insertInto('crm_connections').values({ tenant_id: 'default', crm: 'woocommerce', account: 'https://shop.example.ma', credentials_enc: s.runtime.cipher.encrypt('{}') }).returning('id').executeTakeFirstOrThrow();
    connectionId = conn.id;
    for (const ref of ['m1', 'm2']) {
      await db.insertInto('crm_outbox').values({ tenant_id: 'default', connection_id: connectionId, kind: 'archive', ref_id: ref, payload: JSON.stringify({}), status: 'dead', attempts: 12, last_error: 'woocommerce: GET orders failed with HTTP 401: woocommerce_rest_authentication_error' }).execute();
    }
    await createCampaign(db, {
      tenantId: 'default', phoneNumberId: N.phoneNumberId, name: 'Argan buyers', template: { name: 'spring_sale', language: 'fr', category: 'marketing' },
      bodyParameters: null, source: 'api', sendAt: null, createdBy: 'test', recipients: [{ phone: '+212612000001', waId: '212612000001', name: 'Amina', variables: [] }],
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    mkdirSync(SHOTS, { recursive: true });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('refuses a wrong token and signs in with the admin token', async () => {
    await page.goto(`${s.url}/console?lang=en`);
    await page.fill('#token', 'not-the-token');
    await page.click('#sign-in');
    await page.waitForSelector('#login-error');
    await shot(page, `${SHOTS}console-login.png`);
    await page.fill('#token', TEST_ADMIN_TOKEN);
    await page.click('#sign-in');
    await page.waitForSelector('#numbers');
    expect(await page.textContent('#tenants')).toContain('Atlas Boutique');
  });

  it('shows numbers with connection, sync progress and the 14-day inactivity warning', async () => {
    const row = page.locator(`tr[data-number="${N.phoneNumberId}"]`);
    expect(await row.textContent()).toContain('connected');
    expect(await row.textContent()).toContain('55%');
    expect(await row.locator('.inactivity').textContent()).toContain('Business App unused for 12 days');
    expect(await page.locator(`tr[data-number="${N2.phoneNumberId}"] .inactivity`).count()).toBe(0);
  });

  it("shows each tenant's agent state and why it did not answer", async () => {
    const agent = await page.locator('tr[data-agent="default"]').textContent();
    expect(agent).toContain('offline FAQ responder');
    expect(agent).toContain('no access token to send with');
  });

  it('shows CRM connections with their counts and last error, and retries the dead letters', async () => {
    const row = page.locator(`tr[data-connection="${connectionId}"]`);
    expect(await row.textContent()).toContain('woocommerce_rest_authentication_error');
    await shot(page, `${SHOTS}console-en.png`);
    await row.locator('button.retry').click();
    await page.waitForSelector('#flash');
    expect(await page.textContent('#flash')).toContain('2 dead letters of https://shop.example.ma queued again');
    const statuses = await s.runtime.db.selectFrom('crm_outbox').select('status').where('connection_id', '=', connectionId).execute();
    expect(statuses.every((r) => r.status !== 'dead')).toBe(true);
  });

  it('shows campaigns with their report', async () => {
    const text = await page.locator('#campaigns').textContent();
    expect(text).toContain('Argan buyers');
    expect(text).toContain('spring_sale (fr)');
  });

  it('shows a hold on business-initiated messaging and the campaign it paused, and lifts it', async () => {
    const db = s.runtime.db;
    const until = new Date(Date.now() + 5 * 86_400_000);
    await db.updateTable('whatsapp_numbers').set({ business_initiated_blocked_until: until }).where('phone_number_id', '=', N.phoneNumberId).execute();
    const reason = `Meta restricted business-initiated messaging until ${until.toISOString()}: templates are held; the campaign resumes by itself when the hold ends`;
    await db.updateTable('campaigns').set({ status: 'paused', paused_for_hold: true, status_reason: reason }).where('name', '=', 'Argan buyers').execute();
    await page.goto(`${s.url}/console?lang=en`);
    const row = page.locator(`tr[data-number="${N.phoneNumberId}"]`);
    expect(await row.locator('.hold').textContent()).toBe(`Meta holds templates and campaigns until ${until.toISOString()}; replies inside the 24-hour window go out.`);
    expect(await page.locator(`tr[data-number="${N2.phoneNumberId}"] .hold`).count()).toBe(0);
    expect(await page.locator('#campaigns .reason').first().textContent()).toBe(reason);
    await row.locator('button.lift-hold').click();
    await page.waitForSelector('#flash');
    expect(await page.textContent('#flash')).toContain(`Hold lifted on ${N.phoneNumberId}: templates go out again, held campaigns resume.`);
    expect(await page.locator(`tr[data-number="${N.phoneNumberId}"] .hold`).count()).toBe(0);
    const number = await db.selectFrom('whatsapp_numbers').select('business_initiated_blocked_until').where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();
    expect(number.business_initiated_blocked_until).toBeNull();
    const lifted = await db.selectFrom('account_events').select(['event', 'initiated_by']).where('phone_number_id', '=', N.phoneNumberId).orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(lifted).toEqual({ event: 'HOLD_LIFTED', initiated_by: 'console (admin)' });
  });

  it('moves a number to another tenant', async () => {
    const row = page.locator(`tr[data-number="${N2.phoneNumberId}"]`);
    await row.locator('select').selectOption('riad');
    await row.locator('button').click();
    await page.waitForSelector('#flash');
    expect(await page.textContent('#flash')).toContain(`Number ${N2.phoneNumberId} moved to riad`);
    expect(await page.locator(`tr[data-number="${N2.phoneNumberId}"] td:nth-child(2)`).textContent()).toBe('riad');
    const thread = await s.runtime.db.selectFrom('threads').select('tenant_id').where('phone_number_id', '=', N2.phoneNumberId).executeTakeFirstOrThrow();
    expect(thread.tenant_id).toBe('riad');
  });

  it('speaks French, and Arabic right to left', async () => {
    await page.goto(`${s.url}/console?lang=fr`);
    expect(await page.textContent('#numbers h2')).toBe('Numéros');
    expect(await page.locator(`tr[data-number="${N.phoneNumberId}"] .inactivity`).textContent()).toContain('App Business inutilisée depuis 12 jours');
    await shot(page, `${SHOTS}console-fr.png`);
    await page.goto(`${s.url}/console?lang=ar`);
    expect(await page.getAttribute('html', 'dir')).toBe('rtl');
    expect(await page.textContent('#numbers h2')).toBe('الأرقام');
    await shot(page, `${SHOTS}console-ar.png`);
  });

  it('a tenant token sees only its tenant and cannot move numbers', async () => {
    const { sha256Hex } = await import('../core/src/crypto.js');
    await s.runtime.db.insertInto('api_tokens').values({ token_hash: sha256Hex('riad-token-0123456789'), tenant_id: 'riad', label: 'console' }).execute();
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    await p.goto(`${s.url}/console?lang=en`);
    await p.fill('#token', 'riad-token-0123456789');
    await p.click('#sign-in');
    await p.waitForSelector('#numbers');
    expect(await p.locator('tr[data-number]').count()).toBe(1);
    expect(await p.locator('tr[data-number] select').count()).toBe(0);
    expect(await p.textContent('#tenants')).not.toContain('Atlas');
    const res = await p.request.post(`${s.url}/console/numbers/${N2.phoneNumberId}/move`, { form: { tenant_id: 'atlas' } });
    expect(res.status()).toBe(403);
    await ctx.close();
  });
});
