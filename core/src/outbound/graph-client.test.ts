import { describe, expect, it } from 'vitest';
import { buildMessageRequest, GraphClient, InvalidMessageError, type OutboundMessage } from './graph-client.js';
import { GraphApiError, GraphProtocolError, GraphTransportError, MediaDownloadError } from './graph-errors.js';

const TO = '212612345678';

describe('buildMessageRequest', () => {
  it('addresses a business-scoped user id with `recipient`, never `to` (text, media, template)', () => {
    const bsuid = 'MA.13491208655302741918';
    const text = buildMessageRequest({ type: 'text', to: bsuid, body: 'Salam' });
    expect(text).toMatchObject({ recipient: bsuid, type: 'text' });
    expect(text).not.toHaveProperty('to');
    expect(buildMessageRequest({ type: 'image', to: bsuid, media: { id: '1' } })).toMatchObject({ recipient: bsuid });
    expect(buildMessageRequest({ type: 'template', to: 'US.ENT.11815799212886844830', name: 'hello', languageCode: 'fr' })).toMatchObject({
      recipient: 'US.ENT.11815799212886844830',
    });
    // A phone keeps `to`, whatever its punctuation.
    const phone = buildMessageRequest({ type: 'text', to: TO, body: 'Salam' });
    expect(phone).toMatchObject({ to: TO });
    expect(phone).not.toHaveProperty('recipient');
  });

  it('builds a text message with preview, reply context and callback data', () => {
    expect(
      buildMessageRequest({ type: 'text', to: TO, body: 'Iyeh, kayna.', previewUrl: false, replyTo: 'wamid.Q', bizOpaqueCallbackData: 'agent:42' }),
    ).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: TO,
      type: 'text',
      text: { body: 'Iyeh, kayna.', preview_url: false },
      context: { message_id: 'wamid.Q' },
      biz_opaque_callback_data: 'agent:42',
    });
  });

  it('builds a template with header, body and button parameters of every type', () => {
    const body = buildMessageRequest({
      type: 'template',
      to: TO,
      name: 'order_shipped',
      languageCode: 'fr',
      components: [
        { type: 'header', parameters: [{ type: 'document', document: { link: 'https://shop.example/f.pdf' }, filename: 'facture.pdf' }] },
        {
          type: 'body',
          parameters: [
            { type: 'text', text: 'Youssef' },
            { type: 'currency', fallbackValue: '35 MAD', code: 'MAD', amount1000: 35000 },
            { type: 'date_time', fallbackValue: '25 novembre 2026' },
            { type: 'text', text: 'Casa', parameterName: 'city' },
          ],
        },
        { type: 'button', subType: 'quick_reply', index: 0, parameters: [{ type: 'payload', payload: 'TRACK' }] },
        { type: 'button', subType: 'url', index: 1, parameters: [{ type: 'text', text: 'order/991' }] },
      ],
    });
    expect(body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: TO,
      type: 'template',
      template: {
        name: 'order_shipped',
        language: { policy: 'deterministic', code: 'fr' },
        components: [
          { type: 'header', parameters: [{ type: 'document', document: { link: 'https://shop.example/f.pdf', filename: 'facture.pdf' } }] },
          {
            type: 'body',
            parameters: [
              { type: 'text', text: 'Youssef' },
              { type: 'currency', currency: { fallback_value: '35 MAD', code: 'MAD', amount_1000: 35000 } },
              { type: 'date_time', date_time: { fallback_value: '25 novembre 2026' } },
              { type: 'text', parameter_name: 'city', text: 'Casa' },
            ],
          },
          { type: 'button', sub_type: 'quick_reply', index: '0', parameters: [{ type: 'payload', payload: 'TRACK' }] },
          { type: 'button', sub_type: 'url', index: '1', parameters: [{ type: 'text', text: 'order/991' }] },
        ],
      },
    });
  });

  it('builds image/video/document/audio/sticker by id or link', () => {
    expect(buildMessageRequest({ type: 'image', to: TO, media: { id: '123' }, caption: 'Menu' })).toMatchObject({
      type: 'image',
      image: { id: '123', caption: 'Menu' },
    });
    expect(buildMessageRequest({ type: 'video', to: TO, media: { link: 'https://cdn.example/v.mp4' } })).toMatchObject({
      video: { link: 'https://cdn.example/v.mp4' },
    });
    expect(buildMessageRequest({ type: 'document', to: TO, media: { id: '9' }, caption: 'Devis', filename: 'devis.pdf' })).toMatchObject({
      document: { id: '9', caption: 'Devis', filename: 'devis.pdf' },
    });
    expect(buildMessageRequest({ type: 'audio', to: TO, media: { id: 'a1' } }).audio).toEqual({ id: 'a1' });
    expect(buildMessageRequest({ type: 'sticker', to: TO, media: { id: 's1' } }).sticker).toEqual({ id: 's1' });
  });

  it('builds reply buttons with a media header', () => {
    expect(
      buildMessageRequest({
        type: 'interactive',
        to: TO,
        interactive: {
          type: 'button',
          header: { type: 'image', media: { id: 'img1' } },
          body: 'Bghiti livraison?',
          footer: 'CoEx',
          buttons: [
            { id: 'yes', title: 'Iyeh' },
            { id: 'no', title: 'La' },
          ],
        },
      }).interactive,
    ).toEqual({
      type: 'button',
      header: { type: 'image', image: { id: 'img1' } },
      body: { text: 'Bghiti livraison?' },
      footer: { text: 'CoEx' },
      action: {
        buttons: [
          { type: 'reply', reply: { id: 'yes', title: 'Iyeh' } },
          { type: 'reply', reply: { id: 'no', title: 'La' } },
        ],
      },
    });
  });

  it('builds a list with sections and rows', () => {
    expect(
      buildMessageRequest({
        type: 'interactive',
        to: TO,
        interactive: {
          type: 'list',
          header: 'Menu',
          body: 'Khtar',
          button: 'Chouf',
          sections: [
            { title: 'Tajine', rows: [{ id: 't1', title: 'Tajine kefta', description: '45 dh' }] },
            { title: 'Couscous', rows: [{ id: 'c1', title: 'Couscous 7 khodra' }] },
          ],
        },
      }).interactive,
    ).toEqual({
      type: 'list',
      header: { type: 'text', text: 'Menu' },
      body: { text: 'Khtar' },
      action: {
        button: 'Chouf',
        sections: [
          { title: 'Tajine', rows: [{ id: 't1', title: 'Tajine kefta', description: '45 dh' }] },
          { title: 'Couscous', rows: [{ id: 'c1', title: 'Couscous 7 khodra' }] },
        ],
      },
    });
  });

  it('builds a reaction (no context) and a removal with an empty emoji', () => {
    expect(buildMessageRequest({ type: 'reaction', to: TO, messageId: 'wamid.X', emoji: '👍' })).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: TO,
      type: 'reaction',
      reaction: { message_id: 'wamid.X', emoji: '👍' },
    });
    expect(buildMessageRequest({ type: 'reaction', to: TO, messageId: 'wamid.X', emoji: '' }).reaction).toEqual({
      message_id: 'wamid.X',
      emoji: '',
    });
  });

  const buttons = (n: number, title = 'ok'): Array<{ id: string; title: string }> =>
    Array.from({ length: n }, (_, i) => ({ id: `b${i}`, title: `${title}${i}` }));
  const rows = (n: number): Array<{ id: string; title: string }> => Array.from({ length: n }, (_, i) => ({ id: `r${i}`, title: `row ${i}` }));

  const invalid: Array<[string, unknown, RegExp]> = [
    ['empty recipient', { type: 'text', to: ' ', body: 'x' }, /recipient/],
    ['text over 4096', { type: 'text', to: TO, body: 'x'.repeat(4097) }, /4096/],
    ['empty text', { type: 'text', to: TO, body: '' }, /empty/],
    ['button title over 20', { type: 'interactive', to: TO, interactive: { type: 'button', body: 'b', buttons: [{ id: 'a', title: 'x'.repeat(21) }] } }, /20 characters/],
    ['4 buttons', { type: 'interactive', to: TO, interactive: { type: 'button', body: 'b', buttons: buttons(4) } }, /at most 3/],
    ['duplicate button ids', { type: 'interactive', to: TO, interactive: { type: 'button', body: 'b', buttons: [{ id: 'a', title: 'x' }, { id: 'a', title: 'y' }] } }, /unique/],
    ['11 rows', { type: 'interactive', to: TO, interactive: { type: 'list', body: 'b', button: 'Open', sections: [{ title: 's', rows: rows(11) }] } }, /10 rows/],
    [
      'untitled sections',
      { type: 'interactive', to: TO, interactive: { type: 'list', body: 'b', button: 'Open', sections: [{ rows: rows(1) }, { rows: [{ id: 'z', title: 'z' }] }] } },
      /title/,
    ],
    ['row title over 24', { type: 'interactive', to: TO, interactive: { type: 'list', body: 'b', button: 'Open', sections: [{ rows: [{ id: 'r', title: 'x'.repeat(25) }] }] } }, /24/],
    ['caption on audio', { type: 'audio', to: TO, media: { id: '1' }, caption: 'no' }, /caption/],
    ['non-http link', { type: 'image', to: TO, media: { link: 'file:///etc/passwd' } }, /http/],
    ['id and link together', { type: 'image', to: TO, media: { id: '1', link: 'https://x.example/a.png' } }, /Invalid/],
    ['quick reply with text', { type: 'template', to: TO, name: 't', languageCode: 'fr', components: [{ type: 'button', subType: 'quick_reply', index: 0, parameters: [{ type: 'text', text: 'x' }] }] }, /payload/],
    ['bad currency code', { type: 'template', to: TO, name: 't', languageCode: 'fr', components: [{ type: 'body', parameters: [{ type: 'currency', fallbackValue: '1', code: 'dh', amount1000: 1 }] }] }, /ISO 4217/],
    ['context on a reaction', { type: 'reaction', to: TO, messageId: 'w', emoji: '👍', replyTo: 'w2' }, /replyTo/],
    ['unknown type', { type: 'location', to: TO }, /Invalid/],
  ];
  it.each(invalid)('rejects %s with a clear InvalidMessageError', (_name, message, pattern) => {
    let thrown: unknown;
    try {
      buildMessageRequest(message as OutboundMessage);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidMessageError);
    expect((thrown as Error).message).toMatch(pattern);
  });

  it('accepts the limits themselves', () => {
    expect(() =>
      buildMessageRequest({ type: 'interactive', to: TO, interactive: { type: 'button', body: 'b', buttons: buttons(3, 'x'.repeat(19)) } }),
    ).not.toThrow();
    expect(() =>
      buildMessageRequest({
        type: 'interactive',
        to: TO,
        interactive: { type: 'list', body: 'b', button: 'x'.repeat(20), sections: [{ title: 'a', rows: rows(5) }, { title: 'b', rows: rows(5).map((r) => ({ ...r, id: `${r.id}b` })) }] },
      }),
    ).not.toThrow();
    expect(() => buildMessageRequest({ type: 'text', to: TO, body: 'x'.repeat(4096) })).not.toThrow();
  });
});

// A fetch stand-in that records calls and answers from a script; the real wire is tested against the fake in test/.
interface Call {
  url: string;
  init: RequestInit;
}
function stubFetch(answer: (call: Call) => Response | Promise<Response>): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const fn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const call = { url: String(input), init: init ?? {} };
    calls.push(call);
    return answer(call);
  };
  return { fetch: fn as typeof fetch, calls };
}
const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
const sendOk = { messaging_product: 'whatsapp', contacts: [{ input: TO, wa_id: TO }], messages: [{ id: 'wamid.OK' }] };

describe('GraphClient', () => {
  it('validates its configuration', () => {
    expect(() => new GraphClient({ version: '25', accessToken: 't', userAgent: 'ua' })).toThrow(/v25\.0/);
    expect(() => new GraphClient({ version: 'v25.0', userAgent: 'ua' })).toThrow(/accessToken or tokenProvider/);
    expect(() => new GraphClient({ version: 'v25.0', accessToken: 't', userAgent: ' ' })).toThrow(/userAgent/);
  });

  it('POSTs to /{version}/{phone-number-id}/messages with bearer token, user agent and JSON', async () => {
    const stub = stubFetch(() => json(200, sendOk));
    const client = new GraphClient({ baseUrl: 'https://graph.example/', version: 'v25.0', accessToken: 'tok', userAgent: 'CoEx/0.1', fetch: stub.fetch });
    const result = await client.sendMessage('1065', { type: 'text', to: TO, body: 'salam' });
    expect(result).toEqual({ wamid: 'wamid.OK', messageStatus: 'accepted', waId: TO });
    const call = stub.calls[0];
    expect(call?.url).toBe('https://graph.example/v25.0/1065/messages');
    expect(call?.init.method).toBe('POST');
    expect(call?.init.headers).toMatchObject({ authorization: 'Bearer tok', 'user-agent': 'CoEx/0.1', 'content-type': 'application/json' });
    expect(JSON.parse(String(call?.init.body))).toMatchObject({ to: TO, text: { body: 'salam' } });
  });

  it('asks the token provider for the sending number, and for null on WABA-level calls', async () => {
    const asked: Array<string | null> = [];
    const stub = stubFetch((call) => (call.url.includes('subscribed_apps') ? json(200, { success: true }) : json(200, sendOk)));
    const client = new GraphClient({
      version: 'v25.0',
      userAgent: 'ua',
      fetch: stub.fetch,
      tokenProvider: async (id) => {
        asked.push(id);
        return `token-for-${id ?? 'app'}`;
      },
    });
    await client.sendMessage('111', { type: 'text', to: TO, body: 'x' });
    await client.subscribeApp('waba-1');
    await client.subscribeApp('waba-1', { accessToken: 'business-token' });
    expect(asked).toEqual(['111', null]);
    expect(stub.calls.map((c) => (c.init.headers as Record<string, string>).authorization)).toEqual([
      'Bearer token-for-111',
      'Bearer token-for-app',
      'Bearer business-token',
    ]);
  });

  it('maps an empty wa_id to null and an unknown message_status to accepted (the wamid is kept)', async () => {
    const stub = stubFetch(() => json(200, { contacts: [{ input: TO, wa_id: '' }], messages: [{ id: 'wamid.N', message_status: 'brand_new' }] }));
    const client = new GraphClient({ version: 'v25.0', accessToken: 't', userAgent: 'ua', fetch: stub.fetch });
    expect(await client.sendMessage('1', { type: 'text', to: TO, body: 'x' })).toEqual({ wamid: 'wamid.N', messageStatus: 'accepted', waId: null });
  });

  it('throws GraphApiError with Retry-After for an error answer', async () => {
    const stub = stubFetch(() => json(400, { error: { message: '(#130429) Rate limit hit', code: 130429, fbtrace_id: 'T' } }, { 'retry-after': '3' }));
    const client = new GraphClient({ version: 'v25.0', accessToken: 't', userAgent: 'ua', fetch: stub.fetch });
    const err = await client.sendMessage('1', { type: 'text', to: TO, body: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphApiError);
    expect(err).toMatchObject({ code: 130429, httpStatus: 400, retryAfterSeconds: 3, fbtraceId: 'T' });
  });

  it('throws GraphProtocolError for a 2xx body that is not the documented shape', async () => {
    const client = new GraphClient({ version: 'v25.0', accessToken: 't', userAgent: 'ua', fetch: stubFetch(() => json(200, { messages: [] })).fetch });
    await expect(client.sendMessage('1', { type: 'text', to: TO, body: 'x' })).rejects.toBeInstanceOf(GraphProtocolError);
    const notJson = new GraphClient({ version: 'v25.0', accessToken: 't', userAgent: 'ua', fetch: stubFetch(() => new Response('<html>', { status: 200 })).fetch });
    await expect(notJson.getMedia('m')).rejects.toThrow(/not JSON/);
  });

  it('throws GraphTransportError when the network fails, and lets the caller abort through', async () => {
    const failing = new GraphClient({
      version: 'v25.0',
      accessToken: 't',
      userAgent: 'ua',
      fetch: stubFetch(() => {
        throw new TypeError('fetch failed', { cause: new Error('ECONNRESET') });
      }).fetch,
    });
    const err = await failing.markRead('1', 'wamid.A').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphTransportError);
    expect((err as Error).message).toContain('ECONNRESET');

    const controller = new AbortController();
    const hanging = new GraphClient({
      version: 'v25.0',
      accessToken: 't',
      userAgent: 'ua',
      fetch: ((_input: unknown, init?: RequestInit) =>
        new Promise((_resolve, reject) => {
          // Like real fetch: an already-aborted signal rejects at once.
          if (init?.signal?.aborted) reject(init.signal.reason);
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
        })) as typeof fetch,
    });
    const pending = hanging.markRead('1', 'wamid.A', { signal: controller.signal });
    controller.abort(new Error('shutting down'));
    await expect(pending).rejects.toThrow('shutting down');
  });

  it('times out a request that never answers, as a transport error', async () => {
    const client = new GraphClient({
      version: 'v25.0',
      accessToken: 't',
      userAgent: 'ua',
      timeoutMs: 20,
      fetch: ((_input: unknown, init?: RequestInit) =>
        new Promise((_resolve, reject) => {
          // Like real fetch: an already-aborted signal rejects at once.
          if (init?.signal?.aborted) reject(init.signal.reason);
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
        })) as typeof fetch,
    });
    await expect(client.getMedia('m')).rejects.toBeInstanceOf(GraphTransportError);
  });

  it('sends exchangeCode without a bearer token and without redirect_uri', async () => {
    const stub = stubFetch(() => json(200, { access_token: 'EAAB', token_type: 'bearer' }));
    const client = new GraphClient({ version: 'v25.0', accessToken: 't', userAgent: 'ua', fetch: stub.fetch });
    expect(await client.exchangeCode({ appId: 'app', appSecret: 'sec', code: 'c0de' })).toEqual({
      accessToken: 'EAAB',
      tokenType: 'bearer',
      expiresInSeconds: null,
    });
    const url = new URL(stub.calls[0]?.url ?? '');
    expect(url.pathname).toBe('/v25.0/oauth/access_token');
    expect(Object.fromEntries(url.searchParams)).toEqual({ client_id: 'app', client_secret: 'sec', code: 'c0de' });
    expect((stub.calls[0]?.init.headers as Record<string, string>).authorization).toBeUndefined();
  });

  it('does not put the app secret in error messages', async () => {
    const stub = stubFetch(() => json(400, { error: { message: 'Error validating client secret.', code: 1 } }));
    const client = new GraphClient({ version: 'v25.0', accessToken: 't', userAgent: 'ua', fetch: stub.fetch });
    const err = await client.exchangeCode({ appId: 'app', appSecret: 'super-secret-value', code: 'c' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphApiError);
    expect(String((err as Error).message)).not.toContain('super-secret-value');
  });

  it('requires overrideCallbackUri and verifyToken together', async () => {
    const client = new GraphClient({ version: 'v25.0', accessToken: 't', userAgent: 'ua', fetch: stubFetch(() => json(200, { success: true })).fetch });
    await expect(client.subscribeApp('w', { overrideCallbackUri: 'https://x.example/hook' })).rejects.toThrow(/together/);
  });

  it('refuses to send the token to a media host that is not Meta', async () => {
    const stub = stubFetch(() => new Response('bytes'));
    const client = new GraphClient({ version: 'v25.0', accessToken: 't', userAgent: 'ua', fetch: stub.fetch });
    await expect(client.downloadMedia('https://evil.example/lookaside')).rejects.toThrow(/untrusted media host/);
    await expect(client.downloadMedia('http://lookaside.fbsbx.com/x')).rejects.toThrow(/untrusted/); // not https
    expect(stub.calls).toHaveLength(0);
    const bytes = await client.downloadMedia('https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1');
    expect(bytes.toString()).toBe('bytes');
    expect(stub.calls[0]?.init.headers).toMatchObject({ authorization: 'Bearer t', 'user-agent': 'ua' });
  });

  it('stops a download over maxBytes, by Content-Length or while streaming', async () => {
    const declared = new GraphClient({
      version: 'v25.0',
      accessToken: 't',
      userAgent: 'ua',
      fetch: stubFetch(() => new Response('0123456789', { headers: { 'content-length': '10' } })).fetch,
    });
    const err = await declared.downloadMedia('https://lookaside.fbsbx.com/a', { maxBytes: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaDownloadError);
    expect((err as MediaDownloadError).kind).toBe('too_large');

    const streamed = new GraphClient({
      version: 'v25.0',
      accessToken: 't',
      userAgent: 'ua',
      fetch: stubFetch(
        () =>
          new Response(
            new ReadableStream({
              start(c) {
                c.enqueue(new Uint8Array(4));
                c.enqueue(new Uint8Array(4));
                c.close();
              },
            }),
          ),
      ).fetch,
    });
    await expect(streamed.downloadMedia('https://lookaside.fbsbx.com/a', { maxBytes: 6 })).rejects.toMatchObject({ kind: 'too_large' });
  });

  it('reports the HTTP status of a failed download', async () => {
    const client = new GraphClient({ version: 'v25.0', accessToken: 't', userAgent: 'ua', fetch: stubFetch(() => new Response('nope', { status: 404 })).fetch });
    await expect(client.downloadMedia('https://lookaside.fbsbx.com/a')).rejects.toMatchObject({ kind: 'http', httpStatus: 404 });
  });

  it('rejects unknown phone-number fields and bad sync types before calling Meta', async () => {
    const stub = stubFetch(() => json(200, {}));
    const client = new GraphClient({ version: 'v25.0', accessToken: 't', userAgent: 'ua', fetch: stub.fetch });
    await expect(client.getPhoneNumber('1', ['nope' as 'id'])).rejects.toThrow(/unknown phone number field/);
    await expect(client.getPhoneNumber('1', [])).rejects.toThrow(/at least one/);
    await expect(client.requestSmbAppData('1', 'contacts' as 'history')).rejects.toThrow(/syncType/);
    expect(stub.calls).toHaveLength(0);
  });
});
