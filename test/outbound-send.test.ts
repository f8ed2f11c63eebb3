import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, TEST_APP_SECRET, type TestServer } from './helpers/runtime.js';
import { startGraphApiFake, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import * as P from '../core/src/whatsapp/payloads.js';

const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };

describe.each(backends())('sending through the Cloud API [%s]', (backend) => {
  let graph: GraphApiFake;
  let s: TestServer;
  let seq = 0;

  beforeAll(async () => {
    graph = await startGraphApiFake();
    s = await startTestServer(backend, { GRAPH_API_BASE_URL: graph.url, WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN });
  });
  afterAll(async () => {
    await s?.close();
    await graph?.close();
  });

  /** A thread whose customer wrote `minutesAgo` minutes ago (or only echoes/history when told). */
  async function threadWith(kind: 'live' | 'echo-only' | 'history-only', minutesAgo = 1): Promise<{ id: string; waId: string }> {
    seq += 1;
    const waId = `2126100${String(seq).padStart(5, '0')}`;
    const at = Date.now() - minutesAgo * 60_000;
    if (kind === 'live') await s.postWebhook(P.inboundMessage(N, { waId, name: `C${seq}` }, `wamid.IN-${seq}`, at, P.text('salam')));
    if (kind === 'echo-only') await s.postWebhook(P.echo(N, waId, `wamid.EC-${seq}`, at, P.text('Salam, chno bghiti?')));
    if (kind === 'history-only') await s.postWebhook(P.historyChunk(N, { phase: 0, chunkOrder: seq, progress: 10 }, [{ waId, messages: [{ wamid: `wamid.HI-${seq}`, fromCustomer: true, at, body: P.text('salam') }] }]));
    await s.runtime.waitForInboxDrained();
    const res = (await (await s.api(`/api/v1/threads?wa_id=${waId}`)).json()) as { threads: Array<{ id: string }> };
    return { id: res.threads[0]!.id, waId };
  }

  const reply = (threadId: string, body: unknown) => s.api(`/api/v1/threads/${threadId}/messages`, { method: 'POST', body: JSON.stringify(body) });

  it('sends a reply inside the window with Meta’s exact body, pauses the agent, and reconciles statuses', async () => {
    const t = await threadWith('live');
    const before = graph.state.sent.length;
    const res = await reply(t.id, { text: 'Iyeh, kayna livraison l Marrakech, 20 dh.', actor: 'agent@shop.ma' });
    expect(res.status).toBe(201);
    const { message } = (await res.json()) as { message: { id: string; wamid: string; status: string } };
    expect(message.status).toBe('accepted');
    expect(graph.state.sent.length).toBe(before + 1);
    expect(graph.state.sent.at(-1)!.body).toEqual({ messaging_product: 'whatsapp', recipient_type: 'individual', to: t.waId, type: 'text', text: { body: 'Iyeh, kayna livraison l Marrakech, 20 dh.' } });
    const thread = (await (await s.api(`/api/v1/threads/${t.id}`)).json()) as { thread: { bot: { state: string } }; bot_history: Array<{ cause: string; actor: string | null }> };
    expect(thread.thread.bot.state).toBe('paused');
    expect(thread.bot_history[0]).toMatchObject({ cause: 'crm_reply', actor: 'agent@shop.ma' });

    const deliveries = await graph.emitStatuses(`${s.url}/webhooks/whatsapp`, TEST_APP_SECRET, message.wamid, ['sent', 'delivered', 'read']);
    expect(deliveries.every((d) => d.status === 200)).toBe(true);
    await s.runtime.waitForInboxDrained();
    const msgs = (await (await s.api(`/api/v1/threads/${t.id}/messages`)).json()) as { messages: Array<{ wamid: string; origin: string; status: string }> };
    expect(msgs.messages.find((m) => m.wamid === message.wamid)).toMatchObject({ origin: 'api', status: 'read' });
  });

  it('refuses free-form text outside the window before calling Meta (inside, outside, echo-only, history-only)', async () => {
    const stale = await threadWith('live', 25 * 60);
    const echoOnly = await threadWith('echo-only');
    const historyOnly = await threadWith('history-only');
    const before = graph.requests.length;
    for (const t of [stale, echoOnly, historyOnly]) {
      const res = await reply(t.id, { text: 'Salam!' });
      expect(res.status).toBe(409);
      const body = (await res.json()) as { code: string; error: string };
      expect(body.code).toBe('window_closed');
      expect(body.error).toMatch(/template/);
    }
    expect(graph.requests.length).toBe(before);
    expect(graph.state.rejections.window).toBe(0);
    // A template may always be sent.
    const res = await reply(stale.id, { template: { name: 'order_shipped', language: 'fr', body_parameters: ['Youssef'] } });
    expect(res.status).toBe(201);
    expect(graph.state.sent.at(-1)!.body).toMatchObject({ type: 'template', template: { name: 'order_shipped', language: { code: 'fr' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Youssef' }] }] } });
  });

  it('retries a throughput error with backoff and succeeds; surfaces permanent errors without retrying', async () => {
    const t = await threadWith('live');
    // Each scripted error waits for its own send (by text): an agent reply in flight does not take it.
    graph.setBehaviour({ scriptedErrors: [{ code: 130429, message: '(#130429) Rate limit hit', retryAfterSeconds: 0, text: 'rah wslat' }] });
    const ok = await reply(t.id, { text: 'rah wslat', client_ref: 'retry-1' });
    expect(ok.status).toBe(201);
    const row = await s.runtime.db.selectFrom('messages').select(['send_attempts', 'status']).where('client_ref', '=', 'retry-1').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ send_attempts: 2, status: 'accepted' });

    graph.setBehaviour({ scriptedErrors: [{ code: 131026, message: 'Message undeliverable', text: 'wach wslatk?' }] });
    const sentBefore = graph.requests.filter((r) => r.path.endsWith('/messages')).length;
    const failed = await reply(t.id, { text: 'wach wslatk?' });
    expect(failed.status).toBe(502);
    const body = (await failed.json()) as { code: number; kind: string; message_id: string };
    expect(body).toMatchObject({ code: 131026, kind: 'permanent' });
    expect(graph.requests.filter((r) => r.path.endsWith('/messages')).length).toBe(sentBefore + 1);
    const failedRow = await s.runtime.db.selectFrom('messages').select(['status', 'error']).where('id', '=', body.message_id).executeTakeFirstOrThrow();
    expect(failedRow.status).toBe('failed');
    expect(JSON.stringify(failedRow.error)).toContain('131026');
  });

  it('defers a long backoff (pair rate, Retry-After) to the retry job instead of failing or blocking', async () => {
    const t = await threadWith('live');
    graph.setBehaviour({ scriptedErrors: [{ code: 131056, message: '(#131056) Pair rate limit hit', retryAfterSeconds: 120, text: 'ghadi nrje3 lik' }] });
    const res = await reply(t.id, { text: 'ghadi nrje3 lik', client_ref: 'deferred-1' });
    expect(res.status).toBe(201);
    const { message } = (await res.json()) as { message: { id: string; status: string } };
    expect(message.status).toBe('retry_scheduled');
    const scheduled = await s.runtime.db.selectFrom('messages').select(['status', 'error']).where('id', '=', message.id).executeTakeFirstOrThrow();
    expect(scheduled.status).toBe('retry_scheduled');
    expect(JSON.stringify(scheduled.error)).toContain('131056');
    // What the job does when it comes due:
    const resent = await s.runtime.sender.resend(message.id);
    expect(resent).toMatchObject({ status: 'sent', messageStatus: 'accepted' });
    const row = await s.runtime.db.selectFrom('messages').select(['status', 'wamid', 'send_attempts']).where('id', '=', message.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('accepted');
    expect(row.wamid.startsWith('wamid.')).toBe(true);
    expect(row.send_attempts).toBe(2);
    // A second run of the job (at-least-once delivery) does nothing.
    expect(await s.runtime.sender.resend(message.id)).toBeNull();
  });

  it('is idempotent on client_ref', async () => {
    const t = await threadWith('live');
    const first = await reply(t.id, { text: 'merci', client_ref: 'crm-note-77' });
    const second = await reply(t.id, { text: 'merci', client_ref: 'crm-note-77' });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    const a = (await first.json()) as { message: { id: string } };
    const b = (await second.json()) as { message: { id: string; duplicate: boolean } };
    expect(b.message).toMatchObject({ id: a.message.id, duplicate: true });
  });

  it('stops sending when the number is disconnected and resumes when reconnected', async () => {
    const t = await threadWith('live');
    await s.runtime.db.updateTable('whatsapp_numbers').set({ waba_id: N.wabaId }).where('phone_number_id', '=', N.phoneNumberId).execute();
    await s.postWebhook(P.accountUpdate(N, 'ACCOUNT_OFFBOARDED'));
    await s.runtime.waitForInboxDrained();
    const before = graph.requests.length;
    const res = await reply(t.id, { text: 'salam' });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { code: string }).code).toBe('number_not_connected');
    expect(graph.requests.length).toBe(before);
    await s.postWebhook(P.accountUpdate(N, 'ACCOUNT_RECONNECTED'));
    await s.runtime.waitForInboxDrained();
    expect((await reply(t.id, { text: 'salam' })).status).toBe(201);
  });

  it('answers bad requests clearly', async () => {
    const t = await threadWith('live');
    expect((await reply(t.id, {})).status).toBe(400);
    expect((await reply(t.id, { text: 'a', template: { name: 'x', language: 'fr' } })).status).toBe(400);
    expect((await reply('00000000-0000-0000-0000-000000000000', { text: 'a' })).status).toBe(404);
    expect((await s.api(`/api/v1/threads/${t.id}/messages`, { method: 'POST', body: JSON.stringify({ text: 'a' }), token: 'wrong' })).status).toBe(401);
  });
});
