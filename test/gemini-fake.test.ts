/**
 * The Gemini fake driven by the real @google/genai SDK: if the SDK can talk to it, our providers'
 * tests exercise the real client code path. Also checks the wire details the SDK hides (SSE framing,
 * error bodies, key handling).
 */
import { ApiError, GoogleGenAI } from '@google/genai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { functionCallResponse, startGeminiFake, textResponse, type GeminiFake } from './fakes/gemini.js';

let fake: GeminiFake;
beforeAll(async () => {
  fake = await startGeminiFake({ apiKey: 'k-good', knownModels: ['gemini-2.5-flash', 'gemini-2.5-pro'] });
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => {
  fake.requests.length = 0;
  fake.setDelay(0);
});

function sdk(apiKey = 'k-good'): GoogleGenAI {
  return new GoogleGenAI({ apiKey, vertexai: false, apiVersion: 'v1beta', httpOptions: { baseUrl: fake.url, apiVersion: 'v1beta' } });
}

async function post(path: string, body: unknown, headers: Record<string, string> = { 'x-goog-api-key': 'k-good' }) {
  return fetch(`${fake.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

const hello = [{ role: 'user', parts: [{ text: 'salam' }] }];

describe('gemini fake: generateContent', () => {
  it('echoes the last user turn in Gemini’s response shape and records the request', async () => {
    const res = await sdk().models.generateContent({ model: 'gemini-2.5-flash', contents: hello, config: { systemInstruction: 'be nice' } });
    expect(res.text).toBe('echo: salam');
    expect(res.candidates?.[0]).toMatchObject({ content: { role: 'model' }, finishReason: 'STOP', index: 0 });
    expect(res.usageMetadata?.totalTokenCount).toBe((res.usageMetadata?.promptTokenCount ?? 0) + (res.usageMetadata?.candidatesTokenCount ?? 0));
    expect(res.modelVersion).toBe('gemini-2.5-flash');

    const req = fake.requests[0];
    expect(req).toMatchObject({ method: 'generateContent', model: 'gemini-2.5-flash', apiVersion: 'v1beta', httpMethod: 'POST' });
    expect(req?.headers['x-goog-api-key']).toBe('k-good');
    expect(req?.body?.systemInstruction?.parts).toEqual([{ text: 'be nice' }]);
    expect(req?.body?.contents).toEqual(hello);
  });

  it('answers queued responses first, including factories that see the request', async () => {
    fake.enqueue(textResponse('first'), (req) => textResponse(`saw ${req.body?.contents?.length ?? 0} turns`));
    expect((await sdk().models.generateContent({ model: 'gemini-2.5-flash', contents: hello })).text).toBe('first');
    const contents = [...hello, { role: 'model', parts: [{ text: 'x' }] }, { role: 'user', parts: [{ text: 'y' }] }];
    expect((await sdk().models.generateContent({ model: 'gemini-2.5-flash', contents })).text).toBe('saw 3 turns');
    expect((await sdk().models.generateContent({ model: 'gemini-2.5-flash', contents: hello })).text).toBe('echo: salam');
  });

  it('returns function calls the SDK understands', async () => {
    fake.enqueue(functionCallResponse([{ name: 'lookup_order', args: { order_id: '7' }, id: 'c1' }]));
    const res = await sdk().models.generateContent({ model: 'gemini-2.5-flash', contents: hello });
    expect(res.functionCalls).toEqual([{ name: 'lookup_order', args: { order_id: '7' }, id: 'c1' }]);
  });

  it('in JSON mode answers an object shaped by responseJsonSchema', async () => {
    const res = await sdk().models.generateContent({
      model: 'gemini-2.5-flash',
      contents: hello,
      config: {
        responseMimeType: 'application/json',
        responseJsonSchema: {
          type: 'object',
          properties: { text: { type: 'string' }, language: { type: ['string', 'null'] }, n: { type: 'integer' }, tags: { type: 'array' } },
        },
      },
    });
    expect(JSON.parse(res.text ?? '')).toEqual({ text: 'echo: salam', language: 'echo: salam', n: 0, tags: [] });
  });
});

describe('gemini fake: streamGenerateContent', () => {
  it('streams SSE chunks the SDK reassembles, finishReason and usage on the last chunk', async () => {
    fake.enqueue(textResponse('Salam, kifach n3awnek lyoum?'));
    const chunks = [];
    for await (const chunk of await sdk().models.generateContentStream({ model: 'gemini-2.5-flash', contents: hello })) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.map((c) => c.text).join('')).toBe('Salam, kifach n3awnek lyoum?');
    expect(chunks.at(-1)?.candidates?.[0]?.finishReason).toBe('STOP');
    expect(chunks.at(-1)?.usageMetadata?.totalTokenCount).toBeGreaterThan(0);
    expect(fake.requests[0]).toMatchObject({ method: 'streamGenerateContent', query: { alt: 'sse' } });
  });

  it('frames events as `data: {json}` blocks on the wire, and a JSON array without alt=sse', async () => {
    const sse = await post('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', { contents: hello });
    expect(sse.headers.get('content-type')).toBe('text/event-stream');
    const events = (await sse.text()).split('\n\n').filter((e) => e !== '');
    expect(events.every((e) => e.startsWith('data: '))).toBe(true);
    const joined = events.map((e) => JSON.parse(e.slice(6)).candidates[0].content.parts[0].text).join('');
    expect(joined).toBe('echo: salam');

    const array = await post('/v1beta/models/gemini-2.5-flash:streamGenerateContent', { contents: hello });
    const body = (await array.json()) as unknown[];
    expect(Array.isArray(body)).toBe(true);
    expect(body.length).toBeGreaterThan(1);
  });
});

describe('gemini fake: errors like Google', () => {
  it('rejects a wrong key with 400 API_KEY_INVALID and a missing key with 403', async () => {
    const err = await sdk('bad')
      .models.generateContent({ model: 'gemini-2.5-flash', contents: hello })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(400);
    const body = JSON.parse((err as ApiError).message);
    expect(body.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT', message: 'API key not valid. Please pass a valid API key.' });
    expect(body.error.details[0]).toMatchObject({ reason: 'API_KEY_INVALID', domain: 'googleapis.com' });

    const missing = await post('/v1beta/models/gemini-2.5-flash:generateContent', { contents: hello }, {});
    expect(missing.status).toBe(403);
    expect(await missing.json()).toMatchObject({ error: { code: 403, status: 'PERMISSION_DENIED' } });
  });

  it('accepts the key as ?key= too', async () => {
    const res = await post('/v1beta/models/gemini-2.5-flash:generateContent?key=k-good', { contents: hello }, {});
    expect(res.status).toBe(200);
  });

  it('failNext gives Google error bodies for the next N calls and keeps the queue', async () => {
    fake.enqueue(textResponse('after the storm'));
    fake.failNext(429, 2);
    for (let i = 0; i < 2; i++) {
      const err = await sdk()
        .models.generateContent({ model: 'gemini-2.5-flash', contents: hello })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).status).toBe(429);
      expect(JSON.parse((err as ApiError).message)).toEqual({
        error: { code: 429, message: 'Resource has been exhausted (e.g. check quota).', status: 'RESOURCE_EXHAUSTED' },
      });
    }
    expect((await sdk().models.generateContent({ model: 'gemini-2.5-flash', contents: hello })).text).toBe('after the storm');
  });

  it.each([
    [500, 'INTERNAL'],
    [503, 'UNAVAILABLE'],
  ])('failNext(%i) answers status %s', async (code, status) => {
    fake.failNext(code);
    const res = await post('/v1beta/models/gemini-2.5-flash:generateContent', { contents: hello });
    expect(res.status).toBe(code);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.json()).toMatchObject({ error: { code, status } });
  });

  it('validates requests the way the API does', async () => {
    const empty = await post('/v1beta/models/gemini-2.5-flash:generateContent', { contents: [] });
    expect(empty.status).toBe(400);
    const role = await post('/v1beta/models/gemini-2.5-flash:generateContent', { contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] });
    expect(await role.json()).toMatchObject({ error: { code: 400, message: 'Please use a valid role: user, model.' } });
    const orphan = await post('/v1beta/models/gemini-2.5-flash:generateContent', {
      contents: [{ role: 'user', parts: [{ functionResponse: { name: 'lookup_order', response: { output: {} } } }] }],
    });
    expect(await orphan.json()).toMatchObject({ error: { code: 400, status: 'INVALID_ARGUMENT' } });
    const notJson = await fetch(`${fake.url}/v1beta/models/gemini-2.5-flash:generateContent`, {
      method: 'POST',
      headers: { 'x-goog-api-key': 'k-good' },
      body: '{nope',
    });
    expect(notJson.status).toBe(400);
    expect(fake.requests.map((r) => r.body === null)).toEqual([false, false, false, true]);
  });

  it('answers 404 for unknown models and paths', async () => {
    const model = await post('/v1beta/models/gemini-9-ultra:generateContent', { contents: hello });
    expect(model.status).toBe(404);
    expect(await model.json()).toMatchObject({ error: { status: 'NOT_FOUND', message: expect.stringContaining('models/gemini-9-ultra is not found') } });
    expect((await post('/v1beta/models/gemini-2.5-flash:embedContent', {})).status).toBe(404);
  });

  it('a delayed answer can be aborted by the client, and the fake keeps serving', async () => {
    fake.setDelay(30_000);
    fake.enqueue(textResponse('kept for later'));
    const controller = new AbortController();
    const pending = sdk().models.generateContent({ model: 'gemini-2.5-flash', contents: hello, config: { abortSignal: controller.signal } });
    while (fake.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });

    fake.setDelay(0);
    // The aborted call did not consume the queued answer.
    expect((await sdk().models.generateContent({ model: 'gemini-2.5-flash', contents: hello })).text).toBe('kept for later');
  });
});
