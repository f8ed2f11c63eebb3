import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { blockedPromptResponse, startGeminiFake, textResponse, type GeminiFake } from '../../../test/fakes/gemini.js';
import { GeminiTranscriber, TRANSCRIPTION_RESPONSE_JSON_SCHEMA, buildTranscriptionInstruction } from './gemini-transcriber.js';
import { TranscriptionError, type TranscriptionInput } from './transcriber.js';

let fake: GeminiFake;
beforeAll(async () => {
  fake = await startGeminiFake({ apiKey: 'good-key' });
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => {
  fake.requests.length = 0;
  fake.setDelay(0);
});

/** A minimal OGG/Opus stream: OpusHead page, then one audio page ending at 3.5 s (pre-skip 312). */
function voiceNote(): Buffer {
  const page = (body: Buffer, granule: bigint, seq: number) => {
    const h = Buffer.alloc(28);
    h.write('OggS', 0, 'ascii');
    h.writeBigInt64LE(granule, 6);
    h.writeUInt32LE(7, 14);
    h.writeUInt32LE(seq, 18);
    h.writeUInt8(1, 26);
    h.writeUInt8(body.length, 27);
    return Buffer.concat([h, body]);
  };
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'ascii');
  head.writeUInt8(1, 8);
  head.writeUInt8(1, 9);
  head.writeUInt16LE(312, 10);
  return Buffer.concat([page(head, 0n, 0), page(Buffer.alloc(120, 0x5a), 48_000n * 3n + 24_000n + 312n, 1)]);
}

function input(overrides: Partial<TranscriptionInput> = {}): TranscriptionInput {
  return { audio: voiceNote(), mimeType: 'audio/ogg; codecs=opus', darijaScript: 'arabic', translateTo: null, ...overrides };
}

function transcriber(opts: Partial<ConstructorParameters<typeof GeminiTranscriber>[0]> = {}) {
  return new GeminiTranscriber({ apiKey: 'good-key', baseUrl: fake.url, timeoutMs: 10_000, ...opts });
}

describe('GeminiTranscriber request', () => {
  it('sends the voice note inline as audio/ogg with the verbatim instruction and a JSON schema', async () => {
    fake.enqueue(textResponse(JSON.stringify({ text: 'واش الطلبية ديالي وصلات؟', language: 'ar-MA', translation: null })));
    const audio = voiceNote();
    const result = await transcriber().transcribe(input({ audio }));

    expect(result).toEqual({
      text: 'واش الطلبية ديالي وصلات؟',
      language: 'ar-MA',
      provider: 'gemini',
      model: 'gemini-2.5-flash',
      durationSeconds: 3.5,
      translation: null,
    });
    const req = fake.requests[0];
    expect(req?.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(req?.headers['x-goog-api-key']).toBe('good-key');
    expect(req?.body?.contents).toEqual([
      { role: 'user', parts: [{ inlineData: { mimeType: 'audio/ogg', data: audio.toString('base64') } }, { text: 'Transcribe this voice note.' }] },
    ]);
    expect(req?.body?.systemInstruction?.parts).toEqual([{ text: buildTranscriptionInstruction('arabic', null) }]);
    expect(req?.body?.generationConfig).toMatchObject({
      responseMimeType: 'application/json',
      responseJsonSchema: TRANSCRIPTION_RESPONSE_JSON_SCHEMA,
      temperature: 0,
    });
    expect(req?.body?.generationConfig?.responseJsonSchema).toMatchObject({ required: ['text', 'language', 'translation'] });
  });

  it('asks for Darija in Latin letters with digits and a translation when the tenant wants them', async () => {
    fake.enqueue(textResponse(JSON.stringify({ text: 'wach la commande dyali wslat?', language: 'ar-MA', translation: 'Ma commande est-elle arrivée ?' })));
    const result = await transcriber({ model: 'gemini-2.5-pro' }).transcribe(input({ darijaScript: 'latin', translateTo: 'fr' }));
    expect(result).toMatchObject({ text: 'wach la commande dyali wslat?', translation: 'Ma commande est-elle arrivée ?', model: 'gemini-2.5-pro' });

    const instruction = fake.requests[0]?.body?.systemInstruction?.parts[0]?.text ?? '';
    expect(fake.requests[0]?.path).toBe('/v1beta/models/gemini-2.5-pro:generateContent');
    expect(instruction).toMatch(/Darija is written in Latin letters .* 3 = ع, 7 = ح, 9 = ق/);
    expect(instruction).toMatch(/faithful French translation/);
    expect(instruction).toMatch(/word for word/);
    expect(instruction).toMatch(/do not summarise/);
    expect(instruction).toMatch(/do not answer/);
    expect(instruction).toMatch(/\[inaudible\]/);
  });

  it('the default instruction keeps Darija in Arabic letters and asks for no translation', () => {
    const instruction = buildTranscriptionInstruction('arabic', null);
    expect(instruction).toMatch(/Darija is written in Arabic letters/);
    expect(instruction).toMatch(/Set translation to null/);
    expect(instruction).not.toMatch(/Latin letters/);
  });

  it('drops a translation nobody asked for and normalises empty language', async () => {
    fake.enqueue(textResponse(JSON.stringify({ text: ' Bonjour ', language: '', translation: 'Hello' })));
    const result = await transcriber().transcribe(input());
    expect(result).toMatchObject({ text: 'Bonjour', language: null, translation: null });
  });

  it("works end to end with the fake's default JSON answer", async () => {
    const audio = voiceNote();
    const result = await transcriber().transcribe(input({ audio }));
    expect(result.text).toBe(`[fake transcript: ${audio.length} bytes of audio/ogg]`);
    expect(result.durationSeconds).toBe(3.5);
  });

  it('sends other audio types under their base MIME type without an OGG duration', async () => {
    fake.enqueue(textResponse(JSON.stringify({ text: 'hello', language: 'en', translation: null })));
    const result = await transcriber().transcribe(input({ mimeType: 'audio/mpeg', audio: Buffer.from('ID3 fake mp3') }));
    expect(fake.requests[0]?.body?.contents?.[0]?.parts[0]?.inlineData?.mimeType).toBe('audio/mpeg');
    expect(result.durationSeconds).toBeNull();
  });
});

describe('GeminiTranscriber input checks (no request sent)', () => {
  it('rejects audio over the 20 MB inline limit with a clear non-retryable error', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024); // 16 MB raw is ~21.3 MB once base64-encoded
    const err = await transcriber()
      .transcribe(input({ audio: big }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TranscriptionError);
    expect(err).toMatchObject({ retryable: false, code: 'audio_too_large' });
    expect((err as Error).message).toMatch(/20 MB inline request limit/);
    expect(fake.requests).toHaveLength(0);
  });

  it('rejects empty audio and non-audio types', async () => {
    await expect(transcriber().transcribe(input({ audio: Buffer.alloc(0) }))).rejects.toMatchObject({ code: 'empty_audio', retryable: false });
    await expect(transcriber().transcribe(input({ mimeType: 'image/jpeg' }))).rejects.toMatchObject({ code: 'unsupported_media', retryable: false });
    expect(fake.requests).toHaveLength(0);
  });
});

describe('GeminiTranscriber errors', () => {
  it.each([
    [429, 'rate_limited'],
    [500, 'unavailable'],
    [503, 'unavailable'],
  ] as const)('%i → retryable TranscriptionError', async (status, code) => {
    fake.failNext(status, 1);
    const err = await transcriber()
      .transcribe(input())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TranscriptionError);
    expect(err).toMatchObject({ retryable: true, code });
  });

  it('a wrong API key is not retryable', async () => {
    await expect(transcriber({ apiKey: 'nope' }).transcribe(input())).rejects.toMatchObject({ name: 'TranscriptionError', retryable: false, code: 'auth' });
  });

  it('a blocked voice note is not retryable; a non-JSON answer is', async () => {
    fake.enqueue(blockedPromptResponse('PROHIBITED_CONTENT'));
    await expect(transcriber().transcribe(input())).rejects.toMatchObject({ code: 'blocked', retryable: false });
    fake.enqueue(textResponse('Sure! Here is the transcript: ...'));
    await expect(transcriber().transcribe(input())).rejects.toMatchObject({ code: 'bad_response', retryable: true });
    fake.enqueue(textResponse(JSON.stringify({ transcript: 'wrong key' })));
    await expect(transcriber().transcribe(input())).rejects.toMatchObject({ code: 'bad_response', retryable: true });
  });

  it('timeouts are retryable, caller aborts are not', async () => {
    fake.setDelay(30_000);
    await expect(transcriber({ timeoutMs: 100 }).transcribe(input())).rejects.toMatchObject({ code: 'timeout', retryable: true });

    const controller = new AbortController();
    const before = fake.requests.length;
    const pending = transcriber().transcribe(input(), controller.signal);
    while (fake.requests.length === before) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'aborted', retryable: false });
  });
});
