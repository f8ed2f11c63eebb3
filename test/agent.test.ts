import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import { startGraphApiFake, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import * as P from '../core/src/whatsapp/payloads.js';
import { resumeExpiredPauses } from '../core/src/store/bot.js';

const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
const profile = JSON.parse(readFileSync(new URL('../examples/knowledge/atlas-shop.json', import.meta.url), 'utf8')) as unknown;

describe.each(backends())('agent with the offline FAQ responder [%s]', (backend) => {
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

  const newCustomer = () => `2126200${String(++seq).padStart(5, '0')}`;
  const sentTo = (waId: string) => graph.state.sent.filter((m) => m.to === waId);
  async function say(waId: string, text: string, at = Date.now()) {
    const wamid = `wamid.AG-${waId}-${at}-${Math.random().toString(36).slice(2, 8)}`;
    expect((await s.postWebhook(P.inboundMessage(N, { waId, name: 'Client' }, wamid, at, P.text(text)))).status).toBe(200);
    return wamid;
  }
  async function turnOf(wamid: string) {
    return waitFor(
      async () => {
        const row = await s.runtime.db.selectFrom('agent_turns').innerJoin('messages', 'messages.id', 'agent_turns.trigger_message_id').select(['agent_turns.status', 'agent_turns.reason', 'agent_turns.thread_id']).where('messages.wamid', '=', wamid).executeTakeFirst();
        return row && !['pending', 'generating', 'waiting_transcript'].includes(row.status) ? row : undefined;
      },
      `agent turn for ${wamid}`,
    );
  }
  async function botOf(threadId: string) {
    return s.runtime.db.selectFrom('threads').select(['bot_state', 'bot_version']).where('id', '=', threadId).executeTakeFirstOrThrow();
  }

  it('answers from the FAQ in the customer’s language and script', async () => {
    const latin = newCustomer();
    const turn = await turnOf(await say(latin, 'wach kayn livraison l marrakech?'));
    expect(turn.status).toBe('sent');
    expect(sentTo(latin)).toHaveLength(1);
    const body = (sentTo(latin)[0]!.body as { text: { body: string } }).text.body;
    expect(body).toMatch(/Marrakech/);
    expect(body).not.toMatch(/[\u0600-\u06FF]/);

    const arabic = newCustomer();
    const turn2 = await turnOf(await say(arabic, 'واش كاين التوصيل لمراكش؟'));
    expect(turn2.status).toBe('sent');
    expect((sentTo(arabic)[0]!.body as { text: { body: string } }).text.body).toMatch(/[\u0600-\u06FF]/);
    const msgs = await s.runtime.db.selectFrom('messages').select(['origin', 'actor', 'status']).where('thread_id', '=', turn2.thread_id).where('direction', '=', 'outbound').execute();
    expect(msgs).toEqual([{ origin: 'agent', actor: 'offline-faq', status: 'accepted' }]);
  });

  it('hands off when the customer asks for a person (Darija, Arabizi, French) and then stays quiet', async () => {
    for (const text of ['bghit nhder m3a chi wahed', 'بغيت نهضر مع شي واحد', 'je veux parler à un conseiller']) {
      const c = newCustomer();
      const turn = await turnOf(await say(c, text));
      expect(turn.status, text).toBe('handoff');
      expect((await botOf(turn.thread_id)).bot_state).toBe('handoff_requested');
      expect(sentTo(c)).toHaveLength(1);
      const next = await turnOf(await say(c, 'wach kayn livraison l marrakech?', Date.now() + 1000));
      expect(next).toMatchObject({ status: 'skipped', reason: 'agent handoff_requested' });
      expect(sentTo(c)).toHaveLength(1);
    }
  });

  it('steps aside when the owner answers from the phone, and resumes after the quiet period', async () => {
    const c = newCustomer();
    const first = await say(c, 'salam');
    await turnOf(first);
    const before = sentTo(c).length;
    await s.postWebhook(P.echo(N, c, `wamid.OWNER-${c}`, Date.now(), P.text('Salam khouya, ana m3ak')));
    await s.runtime.waitForInboxDrained();
    const turn = await turnOf(await say(c, 'wach kayn livraison l marrakech?', Date.now() + 1000));
    expect(turn).toMatchObject({ status: 'skipped', reason: 'agent paused' });
    expect(sentTo(c)).toHaveLength(before);
    // Quiet period over: the agent is active again (cause recorded).
    await s.runtime.db.updateTable('threads').set({ bot_paused_until: new Date(Date.now() - 1000) }).where('id', '=', turn.thread_id).execute();
    expect(await resumeExpiredPauses(s.runtime.db)).toBeGreaterThanOrEqual(1);
    const events = await s.runtime.db.selectFrom('bot_events').select(['cause', 'to_state']).where('thread_id', '=', turn.thread_id).orderBy('id').execute();
    expect(events.map((e) => e.cause)).toEqual(['app_echo', 'quiet_period_elapsed']);
    expect((await turnOf(await say(c, 'wach kayn livraison l marrakech?', Date.now() + 2000))).status).toBe('sent');
  });

  it('never answers history imports, echoes, statuses or reactions, and only the latest of a burst', async () => {
    const c = newCustomer();
    await s.postWebhook(P.historyChunk(N, { phase: 0, chunkOrder: 100 + seq, progress: 50 }, [{ waId: c, messages: [{ wamid: `wamid.HX-${c}`, fromCustomer: true, at: Date.now() - 3600_000, body: P.text('wach kayn livraison?') }] }]));
    await s.postWebhook(P.inboundMessage(N, { waId: c }, `wamid.RX-${c}`, Date.now(), { type: 'reaction', reaction: { message_id: `wamid.HX-${c}`, emoji: '👍' } }));
    await s.postWebhook(P.statusUpdate(N, `wamid.HX-${c}`, 'read', Date.now(), c));
    await s.runtime.waitForInboxDrained();
    const turns = await s.runtime.db.selectFrom('agent_turns').innerJoin('threads', 'threads.id', 'agent_turns.thread_id').innerJoin('contacts', 'contacts.id', 'threads.contact_id').select('agent_turns.id').where('contacts.wa_id', '=', c).execute();
    expect(turns).toHaveLength(0);
    // Two messages in one delivery (Meta batches them): one answer, to the latest.
    const now = Date.now();
    const burst = P.inboundMessage(N, { waId: c }, `wamid.B1-${c}`, now, P.text('salam'));
    const value = burst.entry[0]!.changes[0]!.value as { messages: unknown[] };
    value.messages.push({ from: c, id: `wamid.B2-${c}`, timestamp: String(Math.floor(now / 1000) + 1), type: 'text', text: { body: 'wach kayn livraison l marrakech?' } });
    expect((await s.postWebhook(burst)).status).toBe(200);
    const [ta, tb] = [await turnOf(`wamid.B1-${c}`), await turnOf(`wamid.B2-${c}`)];
    expect(ta).toMatchObject({ status: 'skipped', reason: 'a newer customer message has its own turn' });
    expect(tb.status).toBe('sent');
    expect(sentTo(c)).toHaveLength(1);
  });

  it('does not answer a message delivered after its 24-hour window closed', async () => {
    const c = newCustomer();
    const turn = await turnOf(await say(c, 'wach kayn livraison l marrakech?', Date.now() - 25 * 3600_000));
    expect(turn).toMatchObject({ status: 'skipped', reason: 'outside the 24-hour window' });
    expect(sentTo(c)).toHaveLength(0);
  });

  it('manual toggles from the API: pause, resume, off', async () => {
    const c = newCustomer();
    const turn = await turnOf(await say(c, 'salam'));
    const toggle = async (action: string) => (await (await s.api(`/api/v1/threads/${turn.thread_id}/bot`, { method: 'POST', body: JSON.stringify({ action, actor: 'sara@atlas.ma' }) })).json()) as { bot: { state: string } };
    expect((await toggle('pause')).bot.state).toBe('paused');
    expect((await turnOf(await say(c, 'ch7al livraison?', Date.now() + 1000))).reason).toBe('agent paused');
    expect((await toggle('resume')).bot.state).toBe('active');
    expect((await turnOf(await say(c, 'ch7al livraison?', Date.now() + 2000))).status).toBe('sent');
    expect((await toggle('off')).bot.state).toBe('off');
    expect((await turnOf(await say(c, 'ch7al livraison?', Date.now() + 3000))).reason).toBe('agent off');
    const history = (await (await s.api(`/api/v1/threads/${turn.thread_id}`)).json()) as { bot_history: Array<{ cause: string; actor: string }> };
    expect(history.bot_history.map((h) => h.cause)).toEqual(['manual_off', 'manual_resume', 'manual_pause']);
    expect(history.bot_history[0]!.actor).toBe('sara@atlas.ma');
  });
});
