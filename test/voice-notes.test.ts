import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import { waitFor } from './helpers/wait.js';
import { startGraphApiFake, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER, type GraphApiFake } from './fakes/graph-api.js';
import { startGeminiFake, textResponse, type GeminiFake } from './fakes/gemini.js';
import { FakeHubSpot } from './fakes/hubspot.js';
import * as P from '../core/src/whatsapp/payloads.js';

const N: P.NumberRef = { wabaId: DEFAULT_FAKE_PHONE_NUMBER.wabaId, phoneNumberId: DEFAULT_FAKE_PHONE_NUMBER.id, displayPhoneNumber: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber };
const VOICE = readFileSync(new URL('./fixtures/audio/darija-order-status.ogg', import.meta.url));
const SPOKEN = 'السلام عليكم، بغيت نعرف واش الكوموند ديالي وصلات ولا باقي.';
const profile = JSON.parse(readFileSync(new URL('../examples/knowledge/atlas-shop.json', import.meta.url), 'utf8')) as unknown;

describe.each(backends())('voice notes end to end [%s]', (backend) => {
  let graph: GraphApiFake;
  let gemini: GeminiFake;
  let hs: FakeHubSpot;
  let s: TestServer;
  let seq = 0;

  beforeAll(async () => {
    graph = await startGraphApiFake();
    gemini = await startGeminiFake();
    hs = await FakeHubSpot.start();
    s = await startTestServer(backend, {
      GRAPH_API_BASE_URL: graph.url,
      WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN,
      GEMINI_API_KEY: gemini.apiKey,
      GEMINI_BASE_URL: gemini.url,
      TRANSCRIPT_TIMEOUT_SECONDS: 30,
    });
    await s.runtime.db.insertInto('tenants').values({ id: 'default', name: 'Atlas Boutique', settings: JSON.stringify({ profile }) }).execute();
    const res = await s.api('/api/v1/crm/connections', { method: 'POST', body: JSON.stringify({ tenant_id: 'default', credentials: { crm: 'hubspot', portalId: String(hs.portalId), clientSecret: 'x', accessToken: 'test-token', basePath: hs.url } }) });
    expect(res.status).toBe(201);
  });
  afterAll(async () => {
    await s?.close();
    await Promise.all([graph?.close(), gemini?.close(), hs?.close()]);
  });

  async function sendVoiceNote(mediaId: string) {
    const waId = `2126400${String(++seq).padStart(5, '0')}`;
    const wamid = `wamid.VOICE-${seq}`;
    const sha = createHash('sha256').update(VOICE).digest('hex');
    expect((await s.postWebhook(P.inboundMessage(N, { waId, name: 'Khadija' }, wamid, Date.now(), P.voiceNote(mediaId, sha)))).status).toBe(200);
    return { waId, wamid };
  }
  const messageRow = (wamid: string) => s.runtime.db.selectFrom('messages').selectAll().where('wamid', '=', wamid).executeTakeFirstOrThrow();
  const turnRow = (wamid: string) =>
    waitFor(async () => {
      const t = await s.runtime.db.selectFrom('agent_turns').innerJoin('messages', 'messages.id', 'agent_turns.trigger_message_id').select(['agent_turns.status', 'agent_turns.reason', 'agent_turns.thread_id']).where('messages.wamid', '=', wamid).executeTakeFirst();
      return t && !['pending', 'waiting_transcript', 'generating'].includes(t.status) ? t : undefined;
    }, `turn of ${wamid}`);

  it('downloads, transcribes with Gemini, notes the transcript in the CRM, and the agent answers what was said', async () => {
    const mediaId = graph.addMedia({ bytes: VOICE, mimeType: 'audio/ogg; codecs=opus' });
    gemini.enqueue(
      (req) => {
        expect(req.body?.contents?.[0]?.parts?.some((p) => 'inlineData' in p)).toBe(true);
        return textResponse(JSON.stringify({ text: SPOKEN, language: 'ar-MA', translation: null }));
      },
      (req) => {
        expect(req.rawBody).toContain('الكوموند');
        return textResponse('وعليكم السلام، الكوموند ديالك خرجات البارح، غادي توصلك اليوم إن شاء الله.');
      },
    );
    const { waId, wamid } = await sendVoiceNote(mediaId);
    const turn = await turnRow(wamid);
    expect(turn.status).toBe('sent');
    const row = await messageRow(wamid);
    expect(row).toMatchObject({ media_state: 'stored', transcript_state: 'done', transcript: SPOKEN, transcript_provider: 'gemini', transcript_language: 'ar-MA' });
    expect(row.transcript_duration_seconds).toBeGreaterThan(10);
    const reply = graph.state.sent.find((m) => m.to === waId)!;
    expect((reply.body as { text: { body: string } }).text.body).toContain('الكوموند');
    // The transcript is an internal note in the CRM.
    await waitFor(async () => hs.list('notes').find((n) => String(n.properties.hs_note_body).includes('الكوموند')), 'transcript note in HubSpot');
    const api = (await (await s.api(`/api/v1/threads/${turn.thread_id}/messages`)).json()) as { messages: Array<{ wamid: string; transcript: string | null }> };
    expect(api.messages.find((m) => m.wamid === wamid)?.transcript).toBe(SPOKEN);
  });

  it('expired or missing media: marked unavailable, the agent hands off instead of guessing', async () => {
    const { wamid } = await sendVoiceNote('NO-SUCH-MEDIA-ID');
    const turn = await turnRow(wamid);
    expect(turn.status).toBe('handoff');
    expect(turn.reason).toMatch(/voice_note_not_transcribed/);
    const row = await messageRow(wamid);
    expect(row).toMatchObject({ media_state: 'unavailable', transcript_state: 'failed' });
    expect(row.transcript_error).toMatch(/could not be downloaded/);
    const bot = await s.runtime.db.selectFrom('threads').select('bot_state').where('id', '=', turn.thread_id).executeTakeFirstOrThrow();
    expect(bot.bot_state).toBe('handoff_requested');
  });

  it('provider errors are retried, then surfaced on the message and handed off', async () => {
    const mediaId = graph.addMedia({ bytes: VOICE, mimeType: 'audio/ogg; codecs=opus' });
    gemini.failNext(400, 5);
    const { wamid } = await sendVoiceNote(mediaId);
    const turn = await turnRow(wamid);
    expect(turn.status).toBe('handoff');
    const row = await messageRow(wamid);
    expect(row.transcript_state).toBe('failed');
    expect(row.transcript_error).toBeTruthy();
  });
});

describe('voice notes without any transcription provider', () => {
  it('are stored as "not transcribed" with the reason, and the agent hands off', async () => {
    const graph = await startGraphApiFake();
    const s = await startTestServer('postgres', { GRAPH_API_BASE_URL: graph.url, WHATSAPP_ACCESS_TOKEN: DEFAULT_FAKE_TOKEN });
    try {
      const mediaId = graph.addMedia({ bytes: VOICE, mimeType: 'audio/ogg; codecs=opus' });
      await s.postWebhook(P.inboundMessage(N, { waId: '212650000001' }, 'wamid.NOPROV', Date.now(), P.voiceNote(mediaId, createHash('sha256').update(VOICE).digest('hex'))));
      const row = await waitFor(async () => {
        const r = await s.runtime.db.selectFrom('messages').selectAll().where('wamid', '=', 'wamid.NOPROV').executeTakeFirst();
        return r?.transcript_state === 'not_transcribed' ? r : undefined;
      }, 'not transcribed');
      expect(row.transcript_error).toMatch(/no transcription provider configured/);
      await waitFor(async () => {
        const t = await sql<{ status: string }>`select status from agent_turns where trigger_message_id = ${row.id}`.execute(s.runtime.db);
        return t.rows[0]?.status === 'handoff' ? true : undefined;
      }, 'hand-off');
    } finally {
      await s.close();
      await graph.close();
    }
  });
});
