import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, TEST_APP_SECRET, TEST_VERIFY_TOKEN, type TestServer } from './helpers/runtime.js';
import { startGraphApiFake, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import * as P from '../core/src/whatsapp/payloads.js';
import { onboardNumber } from '../core/src/outbound/onboarding.js';
import { REQUIRED_WEBHOOK_FIELDS } from '../core/src/outbound/embedded-signup.js';

describe.each(backends())('onboarding a Coexistence number [%s]', (backend) => {
  let graph: GraphApiFake;
  let s: TestServer;
  beforeAll(async () => {
    graph = await startGraphApiFake({ oauth: { appId: 'coex-app', appSecret: TEST_APP_SECRET } });
    s = await startTestServer(backend, { GRAPH_API_BASE_URL: graph.url, META_APP_ID: 'coex-app', COEX_AGENT: 'off' });
  });
  afterAll(async () => {
    await s?.close();
    await graph?.close();
  });

  it('exchanges the code, subscribes, stores the number (20 msg/s, token encrypted), requests contact then history sync, never /register', async () => {
    const { code, businessToken } = graph.createSignupCode();
    const res = await s.api('/api/v1/onboarding', { method: 'POST', body: JSON.stringify({ tenant_id: 'atlas', code, waba_id: DEFAULT_FAKE_PHONE_NUMBER.wabaId }) });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { phoneNumberId: string; isCoexistence: boolean; steps: Array<{ step: string; status: string }> };
    expect(body).toMatchObject({ phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, isCoexistence: true });
    expect(body.steps.map((st) => `${st.step}:${st.status}`)).toEqual([
      'exchange_code:ok',
      'subscribe_app:ok',
      'webhook_fields:ok',
      'find_number:ok',
      'store_number:ok',
      'request_contact_sync:ok',
      'request_history_sync:ok',
    ]);
    expect(graph.state.subscriptions.map((x) => x.wabaId)).toEqual([DEFAULT_FAKE_PHONE_NUMBER.wabaId]);
    // The app's webhook fields now include the customer's marketing preference and Meta's agent's
    // (standby, messaging_handovers), the others kept.
    expect(body.steps.find((st) => st.step === 'webhook_fields')).toMatchObject({ detail: 'subscribed user_preferences, standby, messaging_handovers' });
    expect(graph.state.appSubscriptions).toEqual([
      expect.objectContaining({
        object: 'whatsapp_business_account',
        callbackUrl: 'https://coex.example.com/webhooks/whatsapp',
        fields: ['messages', 'smb_message_echoes', 'history', 'smb_app_state_sync', 'account_update', 'user_preferences', 'standby', 'messaging_handovers'],
        verifyToken: TEST_VERIFY_TOKEN,
      }),
    ]);
    expect(graph.state.smbAppDataRequests.map((r) => r.syncType)).toEqual(['smb_app_state_sync', 'history']);
    expect(graph.requests.some((r) => r.path.endsWith('/register'))).toBe(false);
    const number = await s.runtime.db.selectFrom('whatsapp_numbers').selectAll().where('phone_number_id', '=', DEFAULT_FAKE_PHONE_NUMBER.id).executeTakeFirstOrThrow();
    expect(number).toMatchObject({ tenant_id: 'atlas', is_coexistence: true, throughput_mps: 20, connection_status: 'connected' });
    expect(number.access_token_enc).not.toContain(businessToken);
    expect(s.runtime.cipher.decrypt(number.access_token_enc!)).toBe(businessToken);
    const sync = (await (await s.api(`/api/v1/numbers/${DEFAULT_FAKE_PHONE_NUMBER.id}/sync`)).json()) as { history: { status: string; request_id: string }; contacts: { status: string } };
    expect(sync.history.status).toBe('requested');
    expect(sync.history.request_id).toBeTruthy();
    expect(sync.contacts.status).toBe('requested');
    // Sync may be requested only once: a second request is refused by Meta and recorded, not crashed on.
    const again = await s.api(`/api/v1/numbers/${DEFAULT_FAKE_PHONE_NUMBER.id}/sync-requests`, { method: 'POST', body: JSON.stringify({ type: 'history' }) });
    expect(again.status).toBe(502);
    // Chunks then move it along.
    const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
    await s.postWebhook(P.historyChunk(N, { phase: 0, chunkOrder: 1, progress: 30 }, []));
    await s.runtime.waitForInboxDrained();
    const progressed = (await (await s.api(`/api/v1/numbers/${DEFAULT_FAKE_PHONE_NUMBER.id}/sync`)).json()) as { history: { status: string; progress: number } };
    expect(progressed.history).toMatchObject({ status: 'in_progress', progress: 30 });
  });

  it('with a public URL, subscribes the app to every webhook field CoEx needs, user_preferences included', async () => {
    const { code } = graph.createSignupCode();
    const result = await onboardNumber(
      { db: s.runtime.db, graph: s.runtime.graph, cipher: s.runtime.cipher, logger: s.runtime.logger },
      { tenantId: 'atlas', code, wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, appId: 'coex-app', appSecret: TEST_APP_SECRET, webhookCallbackUrl: 'https://coex.atlas.ma/webhooks/whatsapp', webhookVerifyToken: 'verify-me' },
    );
    expect(result.steps.find((st) => st.step === 'webhook_fields')?.status).toBe('ok');
    const subscription = graph.state.appSubscriptions.find((x) => x.object === 'whatsapp_business_account');
    expect(subscription?.fields).toEqual(expect.arrayContaining([...REQUIRED_WEBHOOK_FIELDS]));
    expect(REQUIRED_WEBHOOK_FIELDS).toContain('user_preferences');
  });

  it('reports a bad or reused code with the failed step', async () => {
    const res = await s.api('/api/v1/onboarding', { method: 'POST', body: JSON.stringify({ tenant_id: 'atlas', code: 'not-a-code', waba_id: DEFAULT_FAKE_PHONE_NUMBER.wabaId }) });
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: string; steps: Array<{ step: string; status: string }> };
    expect(body.steps).toEqual([expect.objectContaining({ step: 'exchange_code', status: 'failed' })]);
    expect((await s.api('/api/v1/onboarding', { method: 'POST', body: JSON.stringify({ code: 'x' }) })).status).toBe(400);
  });

  it('Embedded Signup v4: the page config, and the finish event forwarded as is (phone_number_id taken from it)', async () => {
    const config = (await (await s.api('/api/v1/onboarding/embedded-signup')).json()) as Record<string, unknown>;
    expect(config).toMatchObject({
      version: 'v4',
      app_id: 'coex-app',
      message_origin: 'https://www.facebook.com',
      finish_event: 'FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING',
      login_options: { response_type: 'code', override_default_response_type: true, extras: { setup: {}, featureType: 'whatsapp_business_app_onboarding', sessionInfoVersion: '3' } },
    });
    expect(config.webhook_fields).toEqual(expect.arrayContaining(['standby', 'messaging_handovers']));

    const { code } = graph.createSignupCode();
    const sessionEvent = {
      type: 'WA_EMBEDDED_SIGNUP',
      event: 'FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING',
      version: 3,
      data: { waba_id: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phone_number_id: DEFAULT_FAKE_PHONE_NUMBER.id, business_id: '2729063490586005' },
    };
    const res = await s.api('/api/v1/onboarding', { method: 'POST', body: JSON.stringify({ tenant_id: 'atlas', code, session_event: sessionEvent }) });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { phoneNumberId: string; steps: Array<{ step: string; status: string; detail?: string }> };
    expect(body.phoneNumberId).toBe(DEFAULT_FAKE_PHONE_NUMBER.id);
    // Fields already complete: nothing posted again.
    expect(body.steps.find((st) => st.step === 'webhook_fields')).toMatchObject({ status: 'ok', detail: 'all required fields subscribed' });

    // A phone number id from the event that is not in the WABA is refused at find_number.
    const other = graph.createSignupCode();
    const wrong = await s.api('/api/v1/onboarding', { method: 'POST', body: JSON.stringify({ tenant_id: 'atlas', code: other.code, session_event: { ...sessionEvent, data: { ...sessionEvent.data, phone_number_id: '999999999' } } }) });
    expect(wrong.status).toBe(502);
    expect(((await wrong.json()) as { steps: Array<{ step: string; status: string }> }).steps.at(-1)).toMatchObject({ step: 'find_number', status: 'failed' });
  });

  it('Embedded Signup v4: a cancelled or failed session is reported with Meta\'s step or message, nothing is called', async () => {
    const before = graph.requests.length;
    const cancelled = await s.api('/api/v1/onboarding', { method: 'POST', body: JSON.stringify({ tenant_id: 'atlas', code: 'c', session_event: { type: 'WA_EMBEDDED_SIGNUP', event: 'CANCEL', version: 3, data: { current_step: 'PHONE_NUMBER_VERIFICATION' } } }) });
    expect(cancelled.status).toBe(422);
    expect(await cancelled.json()).toMatchObject({ code: 'signup_cancelled', current_step: 'PHONE_NUMBER_VERIFICATION' });
    const failed = await s.api('/api/v1/onboarding', {
      method: 'POST',
      body: JSON.stringify({ tenant_id: 'atlas', code: 'c', session_event: { type: 'WA_EMBEDDED_SIGNUP', event: 'CANCEL', version: 3, data: { error_message: 'Your WhatsApp Business App version is too old', error_id: '524126', session_id: 'f34b2b', timestamp: '1763990000' } } }),
    });
    expect(failed.status).toBe(422);
    expect(await failed.json()).toMatchObject({ code: 'signup_error', error_id: '524126', session_id: 'f34b2b' });
    const bogus = await s.api('/api/v1/onboarding', { method: 'POST', body: JSON.stringify({ tenant_id: 'atlas', code: 'c', session_event: { type: 'WA_EMBEDDED_SIGNUP', event: 'FINISH', data: {} } }) });
    expect(bogus.status).toBe(400);
    expect(graph.requests.length).toBe(before);
  });

  it('missing webhook fields that cannot be added here are reported, and onboarding goes on', async () => {
    graph.state.appSubscriptions.length = 0; // the app has no WhatsApp subscription, and no PUBLIC_BASE_URL is set
    const { code } = graph.createSignupCode();
    const res = await s.api('/api/v1/onboarding', { method: 'POST', body: JSON.stringify({ tenant_id: 'atlas', code, waba_id: DEFAULT_FAKE_PHONE_NUMBER.wabaId }) });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { steps: Array<{ step: string; status: string; detail?: string }> };
    const step = body.steps.find((st) => st.step === 'webhook_fields')!;
    expect(step.status).toBe('failed');
    expect(step.detail).toMatch(/standby, messaging_handovers.*App Dashboard/);
    expect(body.steps.find((st) => st.step === 'store_number')).toMatchObject({ status: 'ok' });
  });
});
