import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/backends.js';
import type { MessageView, ThreadView } from '../store/queries.js';
import { DEMO_LABELS, demoLanguageFromEnv } from './labels.js';
import { renderThreads } from './print.js';
import { runDemo, type DemoResult } from './run.js';
import { OWNER_ECHO_MINUTE } from './scenario.js';

const YOUSSEF = '212612345678';
const KHADIJA = '212661234567';
const CAMILLE = '33612345678';
const HAMZA = '212700112233';

describe.each([['fr', 'postgres'], ['en', 'postgres']] as const)('coex demo, end to end (%s) [%s]', (language, backend) => {
  // Both languages are played through the real server.
  const labels = DEMO_LABELS[language];
  // Whole minutes, so the echo's second-precision timestamp is exact.
  const now = Math.floor(Date.now() / 60_000) * 60_000;
  let database: TestDatabase;
  let result: DemoResult;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    result = await runDemo({
      language,
      now,
      databaseUrl: database.databaseUrl,
      print: () => undefined,
    });
  }, 240_000);
  afterAll(async () => {
    await database?.drop();
  });

  const thread = (waId: string) => result.threads.find((t) => t.thread.wa_id === waId)!;
  const sentTo = (waId: string) => result.sent.filter((s) => (s.body as { to?: string }).to === waId);

  it('the offline agent answers the customers who write text, through the local Graph API stand-in', () => {
    expect(sentTo(YOUSSEF).length).toBeGreaterThanOrEqual(1);
    expect(sentTo(CAMILLE).length).toBeGreaterThanOrEqual(1);
    expect(sentTo(YOUSSEF)[0]!.body).toMatchObject({ messaging_product: 'whatsapp', type: 'text', text: { body: expect.any(String) } });
    const agentLines = result.output.split('\n').filter((l) => l.includes(labels.who.agent));
    expect(agentLines.length).toBeGreaterThanOrEqual(2);
    expect(thread(YOUSSEF).messages.some((m) => m.origin === 'agent' && m.direction === 'outbound')).toBe(true);
  });

  it('never answers over the owner: Khadija, answered from the phone in the same delivery, gets no agent reply', () => {
    expect(sentTo(KHADIJA)).toEqual([]);
    expect(thread(KHADIJA).messages.some((m) => m.origin === 'agent')).toBe(false);
  });

  it('says why the voice note has no transcript when no Whisper model is given, never "(pending)"', () => {
    const voice = thread(HAMZA).messages.find((m) => m.type === 'audio')!;
    expect(voice.media?.state).toBe('stored'); // downloaded from the stand-in, sha256 checked
    expect(voice.transcript_state).toBe('not_transcribed');
    expect(result.output).toContain(labels.voiceNoteNotTranscribed('no transcription provider configured'));
    expect(result.output).not.toMatch(/\(pending\)/);
    expect(result.output).toContain(labels.noTranscriptionNote);
  });

  it('labels the statuses as those of a message from the synced history', () => {
    expect(result.output).toContain(labels.deliveries.historyMessageRead);
    expect(result.output).not.toMatch(/earlier API message/);
  });

  it('"paused until" is the echo time plus the quiet period, not the processing time', () => {
    const echoAt = now + OWNER_ECHO_MINUTE * 60_000;
    const khadija = thread(KHADIJA).thread;
    expect(khadija.bot.state).toBe('paused');
    expect(khadija.bot.paused_until).toBe(new Date(echoAt + result.quietPeriodSeconds * 1000).toISOString());
    const until = new Date(echoAt + result.quietPeriodSeconds * 1000).toISOString().replace('T', ' ').slice(0, 16);
    expect(result.output).toContain(labels.botState('paused', until));
  });

  it(`prints in the owner's language (${language})`, () => {
    expect(result.output).toContain(labels.deliveries.khadijaAndOwnerEcho);
    expect(result.output).toContain(labels.who.owner);
    expect(result.output).toMatch(language === 'fr' ? /Synchronisation de l'historique : terminée, 100 %/ : /History sync: complete, 100%/);
  });
});

describe('coex demo with a Whisper model path', () => {
  it('hands the voice note to the local engine (here a file that is not a ggml model: the engine says so)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coex-demo-model-'));
    const model = join(dir, 'not-a-model.bin');
    writeFileSync(model, Buffer.alloc(4096, 7));
    try {
      const database = await createTestDatabase();
      const result = await runDemo({ language: 'en', databaseUrl: database.databaseUrl, whisperModelPath: model, print: () => undefined }).finally(() => database.drop());
      const voice = result.threads.find((t) => t.thread.wa_id === HAMZA)!.messages.find((m) => m.type === 'audio')!;
      expect(voice.transcript_state).toBe('failed');
      const line = result.output.split('\n').find((l) => l.includes('🎙'))!;
      expect(line).toContain('not transcribed');
      expect(line).not.toContain('no transcription provider configured');
      expect(line).toContain('model_invalid');
      expect(result.output).toContain(DEMO_LABELS.en.transcriptionNote(`whisper.cpp (${model})`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});

describe('demo labels', () => {
  const thread = { id: 't', wa_id: '212600000000', contact_name: 'Sara', bot: { state: 'paused', paused_until: '2026-12-05T10:40:00.000Z', version: 1 } } as unknown as ThreadView;
  const voice = { id: 'm1', direction: 'inbound', origin: 'customer', type: 'audio', text: null, timestamp: '2026-12-05T10:00:00.000Z', status: null, transcript: null, transcript_state: 'failed', media: { id: 'x', mime_type: 'audio/ogg', state: 'stored', voice: true }, revoked: false } as unknown as MessageView;
  const echo = { ...voice, id: 'm2', direction: 'outbound', origin: 'app', type: 'text', text: 'Salam', media: null, status: 'read' } as unknown as MessageView;

  it('renders the same thread in French and in English', () => {
    const fr = renderThreads([{ thread, messages: [voice, echo], transcriptErrors: new Map([['m1', 'opus decode failed']]) }], DEMO_LABELS.fr);
    expect(fr).toContain("agent: en pause jusqu'à 2026-12-05 10:40");
    expect(fr).toContain('🎙 message vocal non transcrit : opus decode failed');
    expect(fr).toContain('📱 gérant (appli)');
    const en = renderThreads([{ thread, messages: [voice, echo] }], DEMO_LABELS.en);
    expect(en).toContain('agent: paused until 2026-12-05 10:40');
    expect(en).toContain('🎙 voice note (failed)');
    expect(en).toContain('📱 owner (phone app)');
  });

  it("takes the owner's language from the locale when no option is given", () => {
    expect(demoLanguageFromEnv({ LANG: 'fr_FR.UTF-8' })).toBe('fr');
    expect(demoLanguageFromEnv({ LC_ALL: 'fr_MA.UTF-8', LANG: 'en_US.UTF-8' })).toBe('fr');
    expect(demoLanguageFromEnv({ LANG: 'en_GB.UTF-8' })).toBe('en');
    expect(demoLanguageFromEnv({})).toBe('en');
  });
});
