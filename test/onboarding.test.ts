import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, TEST_APP_SECRET, type TestServer } from './helpers/runtime.js';
import { startGraphApiFake, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import * as P from '../core/src/whatsapp/payloads.js';
import { COEX_WEBHOOK_FIELDS, onboardNumber, webhookFieldsTargetOf } from '../core/src/outbound/onboarding.js';

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
      'find_number:ok',
      'store_number:ok',
      'request_contact_sync:ok',
      'request_history_sync:ok',
    ]);
    expect(graph.state.subscriptions.map((x) => x.wabaId)).toEqual([DEFAULT_FAKE_PHONE_NUMBER.wabaId]);
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
    const target = webhookFieldsTargetOf({ PUBLIC_BASE_URL: 'https://coex.atlas.ma/', WHATSAPP_VERIFY_TOKEN: 'verify-me' });
    const result = await onboardNumber(
      { db: s.runtime.db, graph: s.runtime.graph, cipher: s.runtime.cipher, logger: s.runtime.logger },
      { tenantId: 'atlas', code, wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, appId: 'coex-app', appSecret: TEST_APP_SECRET, ...target },
    );
    expect(result.steps.map((st) => `${st.step}:${st.status}`).slice(0, 3)).toEqual(['exchange_code:ok', 'subscribe_app:ok', 'subscribe_fields:ok']);
    expect(graph.state.appSubscriptions).toEqual([{ appId: 'coex-app', object: 'whatsapp_business_account', callbackUrl: 'https://coex.atlas.ma/webhooks/whatsapp', fields: [...COEX_WEBHOOK_FIELDS] }]);
    expect(COEX_WEBHOOK_FIELDS).toContain('user_preferences');
    // Without a public URL there is nothing to subscribe to (the README lists the fields to set by hand).
    expect(webhookFieldsTargetOf({ WHATSAPP_VERIFY_TOKEN: 'verify-me' })).toEqual({});
  });

  it('reports a bad or reused code with the failed step', async () => {
    const res = await s.api('/api/v1/onboarding', { method: 'POST', body: JSON.stringify({ tenant_id: 'atlas', code: 'not-a-code', waba_id: DEFAULT_FAKE_PHONE_NUMBER.wabaId }) });
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: string; steps: Array<{ step: string; status: string }> };
    expect(body.steps).toEqual([expect.objectContaining({ step: 'exchange_code', status: 'failed' })]);
    expect((await s.api('/api/v1/onboarding', { method: 'POST', body: JSON.stringify({ code: 'x' }) })).status).toBe(400);
  });
});
