import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, TEST_ADMIN_TOKEN, TEST_APP_SECRET, type TestServer } from './helpers/runtime.js';
import { hasChromium, launchChromium, requireChromiumUnlessSkipped } from './helpers/browser.js';
import { startGraphApiFake, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import * as P from '../core/src/whatsapp/payloads.js';

const SHOTS = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
/** Screenshots for docs/screenshots, only when asked (COEX_WRITE_SCREENSHOTS=1): a test run leaves the tree clean. */
const shot = async (p: Page, path: string): Promise<void> => {
  if (process.env.COEX_WRITE_SCREENSHOTS === '1') await p.screenshot({ path, fullPage: true });
};
const SDK = 'https://connect.facebook.net/en_US/sdk.js';
const CONFIG_ID = '1234567890123';

/**
 * A stand-in for Meta's JS SDK: FB.init / FB.login as the page calls them. FB.login opens the
 * signup "popup" as an iframe on https://www.facebook.com (served by the test), which posts the
 * session-info message the real flow posts (a JSON string, origin facebook.com); then the login
 * callback receives the code. `outcome` = finish | cancel.
 */
function fakeSdk(code: string, outcome: 'finish' | 'cancel'): string {
  return `
window.FB = {
  init(options) { window.__fbInit = options; },
  login(callback, options) {
    window.__fbLoginOptions = options;
    const frame = document.createElement('iframe');
    frame.style.display = 'none';
    frame.src = 'https://www.facebook.com/v25.0/dialog/oauth?outcome=${outcome}';
    window.addEventListener('message', function done(e) {
      if (e.origin !== 'https://www.facebook.com') return;
      window.removeEventListener('message', done);
      setTimeout(() => callback(${outcome === 'finish' ? `{ status: 'connected', authResponse: { code: ${JSON.stringify(code)}, userID: '42' } }` : `{ status: 'unknown', authResponse: null }`}), 50);
    });
    document.body.appendChild(frame);
  },
};
if (window.fbAsyncInit) window.fbAsyncInit();
`;
}

function facebookFrame(outcome: string): string {
  const message =
    outcome === 'finish'
      ? { data: { phone_number_id: DEFAULT_FAKE_PHONE_NUMBER.id, waba_id: DEFAULT_FAKE_PHONE_NUMBER.wabaId, business_id: '5550001' }, type: 'WA_EMBEDDED_SIGNUP', event: 'FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING', version: '3' }
      : { data: { current_step: 'PHONE_NUMBER_SETUP' }, type: 'WA_EMBEDDED_SIGNUP', event: 'CANCEL', version: '3' };
  return `<!doctype html><script>parent.postMessage(${JSON.stringify(JSON.stringify(message))}, '*');</script>`;
}

const run = requireChromiumUnlessSkipped('onboarding page in Chromium');

describe.skipIf(!run || !hasChromium).each(backends().slice(0, 1))('onboarding page with Embedded Signup in headless Chromium [%s]', (backend) => {
  let graph: GraphApiFake;
  let s: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    graph = await startGraphApiFake({ oauth: { appId: 'coex-app', appSecret: TEST_APP_SECRET } });
    s = await startTestServer(backend, { GRAPH_API_BASE_URL: graph.url, META_APP_ID: 'coex-app', META_CONFIG_ID: CONFIG_ID, COEX_AGENT: 'off' });
    browser = await launchChromium();
    mkdirSync(SHOTS, { recursive: true });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await s?.close();
    await graph?.close();
  });

  async function openPage(code: string, outcome: 'finish' | 'cancel', lang = 'en'): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
    await page.route(SDK, (route) => route.fulfill({ contentType: 'application/javascript', body: fakeSdk(code, outcome) }));
    await page.route('https://www.facebook.com/**', (route) => route.fulfill({ contentType: 'text/html', body: facebookFrame(new URL(route.request().url()).searchParams.get('outcome') ?? '') }));
    await page.goto(`${s.url}/onboarding?lang=${lang}`);
    return page;
  }

  it('runs Embedded Signup v4 (Coexistence), posts the code and ids, shows the steps and the history sync live', async () => {
    const { code } = graph.createSignupCode();
    const page = await openPage(code, 'finish');
    await page.fill('#api-token', TEST_ADMIN_TOKEN);
    await page.fill('#tenant-id', 'atlas');
    await page.click('#start');
    await page.waitForSelector('#steps li[data-step="request_history_sync"]', { timeout: 30_000 });
    expect(await page.evaluate('window.__fbLoginOptions')).toEqual({
      config_id: CONFIG_ID,
      response_type: 'code',
      override_default_response_type: true,
      extras: { setup: {}, featureType: 'whatsapp_business_app_onboarding', sessionInfoVersion: '3' },
    });
    expect(await page.evaluate('window.__fbInit.appId')).toBe('coex-app');
    // exchange_code, subscribe_app, webhook_fields, record_number, request_contact_sync, request_history_sync and the number's own line.
    expect(await page.locator('#steps li.ok').count()).toBe(7);
    expect(await page.textContent('#status')).toBe('Your number is connected.');
    const number = await s.runtime.db.selectFrom('whatsapp_numbers').select('tenant_id').where('phone_number_id', '=', DEFAULT_FAKE_PHONE_NUMBER.id).executeTakeFirstOrThrow();
    expect(number.tenant_id).toBe('atlas');

    // History arrives: the page follows it without a reload.
    const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
    await s.postWebhook(P.historyChunk(N, { phase: 0, chunkOrder: 1, progress: 40 }, []));
    await page.locator('#sync-text', { hasText: '40%' }).waitFor({ timeout: 30_000 });
    await shot(page, `${SHOTS}onboarding-en.png`);
    await page.close();
  });

  it('says so when the business cancels in the signup window, and posts nothing', async () => {
    const before = await s.runtime.db.selectFrom('onboarding_steps').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    const page = await openPage('unused', 'cancel', 'fr');
    await page.fill('#api-token', TEST_ADMIN_TOKEN);
    await page.click('#start');
    await page.locator('#status', { hasText: 'Inscription annulée' }).waitFor({ timeout: 30_000 });
    expect(await page.textContent('#status')).toContain('PHONE_NUMBER_SETUP');
    const after = await s.runtime.db.selectFrom('onboarding_steps').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
    await page.close();
  });

  it('ignores look-alike messages that do not come from facebook.com', async () => {
    const page = await openPage('unused', 'cancel');
    await page.evaluate(`window.postMessage(JSON.stringify({ type: 'WA_EMBEDDED_SIGNUP', event: 'CANCEL', data: { current_step: 'FORGED' } }), '*')`);
    await new Promise((r) => setTimeout(r, 300));
    expect(await page.textContent('#status')).toBe('');
    await page.close();
  });
});

describe.skipIf(!run || !hasChromium).each(backends().slice(0, 1))('onboarding page without META_CONFIG_ID [%s]', (backend) => {
  it('explains what is missing and disables the button', async () => {
    const s = await startTestServer(backend, { COEX_AGENT: 'off' });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${s.url}/onboarding`);
      expect(await page.textContent('#not-configured')).toContain('META_CONFIG_ID');
      expect(await page.isDisabled('#start')).toBe(true);
    } finally {
      await browser.close();
      await s.close();
    }
  }, 120_000);
});
