import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import { startGraphApiFake, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import * as P from '../core/src/whatsapp/payloads.js';
import { CampaignRunner, createCampaignSender } from '../core/src/campaigns/index.js';

/**
 * README: "`account_update` disconnections stop sending until reconnected" — for every sender, not
 * only the API: the agent, the deferred-retry job and campaigns. The disconnection arrives as Meta
 * sends it, a signed account_update webhook.
 */

const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
const profile = JSON.parse(readFileSync(new URL('../examples/knowledge/atlas-shop.json', import.meta.url), 'utf8')) as unknown;

describe.each(backends())('README promise: a disconnected number sends nothing, whoever sends [%s]', (backend) => {
  let graph: GraphApiFake;
  let s: TestServer;
  let seq = 0;

  beforeAll(async () => {
    graph = await startGraphApiFake();
    s = await startTestServer(backend, { GRAPH_API_BASE_URL: graph.url, WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN });
    await s.runtime.db.insertInto('tenants').values({ id: 'default', name: 'Atlas Boutique', settings: JSON.stringify({ profile }) }).execute();
  });
  afterAll(async () => {
    await s?.close();
    await graph?.close();
  });

  const customer = () => `2126300${String(++seq).padStart(5, '0')}`;
  async function setConnected(connected: boolean): Promise<void> {
    // The number learns its WABA from its first webhook; account_update is addressed to the WABA.
    await s.runtime.db.updateTable('whatsapp_numbers').set({ waba_id: N.wabaId }).where('phone_number_id', '=', N.phoneNumberId).execute();
    // Each update carries its entry time, as Meta's do: repeated updates are not byte-identical.
    const update = P.accountUpdate(N, connected ? 'ACCOUNT_RECONNECTED' : 'ACCOUNT_OFFBOARDED');
    const timed = { ...update, entry: update.entry.map((e) => ({ ...e, time: Math.floor(Date.now() / 1000) + ++seq })) };
    expect((await s.postWebhook(timed)).status).toBe(200);
    await s.runtime.waitForInboxDrained();
    const row = await s.runtime.db.selectFrom('whatsapp_numbers').select('connection_status').where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();
    expect(row.connection_status === 'connected').toBe(connected);
  }
  async function say(waId: string, text: string): Promise<string> {
    const wamid = `wamid.DC-${waId}-${Date.now()}`;
    expect((await s.postWebhook(P.inboundMessage(N, { waId, name: 'Client' }, wamid, Date.now(), P.text(text)))).status).toBe(200);
    await s.runtime.waitForInboxDrained();
    return wamid;
  }
  const turnOf = (wamid: string) =>
    waitFor(async () => {
      const row = await s.runtime.db.selectFrom('agent_turns').innerJoin('messages', 'messages.id', 'agent_turns.trigger_message_id').select(['agent_turns.status', 'agent_turns.reason']).where('messages.wamid', '=', wamid).executeTakeFirst();
      return row && !['pending', 'generating', 'waiting_transcript'].includes(row.status) ? row : undefined;
    }, `agent turn for ${wamid}`);
  const sendsTo = (waId: string) => graph.state.sent.filter((m) => m.to === waId);

  it('the agent does not answer while the number is disconnected, and answers again once reconnected', async () => {
    // Control: connected, the same question is answered.
    const first = customer();
    await say(first, 'wach kayn livraison l marrakech?');
    await waitFor(async () => sendsTo(first).length === 1, 'the agent reply while connected');

    await setConnected(false);
    const second = customer();
    const asked = await say(second, 'wach kayn livraison l marrakech?');
    // The agent takes the message up (a turn exists) but sends nothing while disconnected: its
    // sends are refused before Meta is called (the turn's job retries meanwhile).
    await waitFor(
      async () => s.runtime.db.selectFrom('agent_turns').innerJoin('messages', 'messages.id', 'agent_turns.trigger_message_id').select('agent_turns.id').where('messages.wamid', '=', asked).executeTakeFirst(),
      'the agent turn of the message asked while disconnected',
    );
    const quietUntil = Date.now() + 3000;
    while (Date.now() < quietUntil) {
      expect(sendsTo(second)).toHaveLength(0);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(graph.requests.filter((r) => r.path.endsWith('/messages') && JSON.stringify(r.json).includes(second))).toHaveLength(0);

    await setConnected(true);
    await say(second, 'wach kayn livraison l casa?');
    await waitFor(async () => sendsTo(second).length >= 1, 'an agent reply once reconnected');
  });

  it('the deferred-retry job does not send a message scheduled before the disconnection', async () => {
    await setConnected(true);
    const waId = customer();
    await say(waId, 'salam');
    const thread = ((await (await s.api(`/api/v1/threads?wa_id=${waId}`)).json()) as { threads: Array<{ id: string }> }).threads[0]!;
    // For this send only: the agent's reply to 'salam' may be in flight and must not take it.
    graph.setBehaviour({ scriptedErrors: [{ code: 131056, message: '(#131056) Pair rate limit hit', retryAfterSeconds: 3600, text: 'ghadi nrje3 lik' }] });
    const res = await s.api(`/api/v1/threads/${thread.id}/messages`, { method: 'POST', body: JSON.stringify({ text: 'ghadi nrje3 lik' }) });
    expect(res.status).toBe(201);
    const { message } = (await res.json()) as { message: { id: string; status: string } };
    expect(message.status).toBe('retry_scheduled');
    await setConnected(false);
    const before = sendsTo(waId).length;
    // What the retry job runs when it comes due.
    expect(await s.runtime.sender.resend(message.id)).toBeNull();
    expect(sendsTo(waId)).toHaveLength(before);
    const row = await s.runtime.db.selectFrom('messages').select(['status', 'error']).where('id', '=', message.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('failed');
    expect(JSON.stringify(row.error)).toMatch(/not connected/);
    await setConnected(true);
  });

  it('a campaign pauses with the reason instead of sending while the number is disconnected', async () => {
    await setConnected(true);
    const recipients = [customer(), customer()];
    const created = await s.api('/api/v1/campaigns', {
      method: 'POST',
      body: JSON.stringify({ phone_number_id: N.phoneNumberId, name: 'disconnected', template: { name: 'hello_world', language: 'en_US' }, recipients: recipients.map((phone) => ({ phone: `+${phone}` })) }),
    });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { campaign: { id: string } }).campaign.id;
    await setConnected(false);
    expect((await s.api(`/api/v1/campaigns/${id}/start`, { method: 'POST', body: '{}' })).status).toBe(200);
    const runner = new CampaignRunner({ db: s.runtime.db, sender: createCampaignSender(s.runtime.db, s.runtime.graph, pino({ level: 'silent' })), logger: pino({ level: 'silent' }) });
    await runner.runUntilIdle();
    for (const waId of recipients) expect(sendsTo(waId)).toHaveLength(0);
    const campaign = await s.runtime.db.selectFrom('campaigns').select(['status', 'status_reason']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(campaign.status).toBe('paused');
    expect(campaign.status_reason).toMatch(/cannot send|not connected|offboarded/i);
    await setConnected(true);
  });
});
