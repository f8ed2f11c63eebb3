/**
 * GraphClient, fetchMedia and the error classifier against the Graph API fake over real HTTP:
 * exact request bodies for every send type, every error class, media expiry / re-fetch / checksum,
 * onboarding calls, signed status webhooks, and two processes sharing one number's throughput.
 */
import { execFile, spawn } from 'node:child_process';
import { createHmac, createHash, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GraphClient, type OutboundMessage } from '../core/src/outbound/graph-client.js';
import { classifyError, GraphApiError, MediaDownloadError } from '../core/src/outbound/graph-errors.js';
import { DirectoryBlobStore, fetchMedia, MediaUnavailableError } from '../core/src/outbound/media.js';
import {
  DEFAULT_FAKE_PHONE_NUMBER,
  DEFAULT_FAKE_TEMPLATES,
  DEFAULT_FAKE_TOKEN,
  startGraphApiFake,
  type GraphApiFake,
  type GraphApiFakeOptions,
} from './fakes/graph-api.js';

const PN = DEFAULT_FAKE_PHONE_NUMBER.id;
const WABA = DEFAULT_FAKE_PHONE_NUMBER.wabaId;
const TO = '212612345678';
const VERSION = 'v25.0';
const UA = 'CoEx-test/0.1';

const clock = { ms: Date.parse('2026-11-25T10:00:00Z') };
const now = (): number => clock.ms;

function clientFor(fake: GraphApiFake, overrides: Partial<ConstructorParameters<typeof GraphClient>[0]> = {}): GraphClient {
  return new GraphClient({ baseUrl: fake.url, version: VERSION, accessToken: DEFAULT_FAKE_TOKEN, userAgent: UA, ...overrides });
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

async function graphError(promise: Promise<unknown>): Promise<GraphApiError> {
  const err = await caught(promise);
  expect(err).toBeInstanceOf(GraphApiError);
  return err as GraphApiError;
}

interface Received {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: Buffer;
}

/** A tiny webhook receiver: records POSTs, answers Meta's hub.challenge when the verify token matches. */
async function startReceiver(verifyToken = 'tenant-verify-token'): Promise<{
  url: string;
  received: Received[];
  next(count: number): Promise<Received[]>;
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  const waiters: Array<{ count: number; resolve: (r: Received[]) => void }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://receiver');
      if (req.method === 'GET') {
        const ok = url.searchParams.get('hub.mode') === 'subscribe' && url.searchParams.get('hub.verify_token') === verifyToken;
        res.writeHead(ok ? 200 : 403, { 'content-type': 'text/plain' });
        res.end(ok ? (url.searchParams.get('hub.challenge') ?? '') : 'forbidden');
        return;
      }
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawBody: Buffer.concat(chunks) });
      res.writeHead(200);
      res.end();
      for (const w of [...waiters]) {
        if (received.length >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(received.slice(0, w.count));
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/whatsapp`,
    received,
    next: (count) =>
      received.length >= count ? Promise.resolve(received.slice(0, count)) : new Promise((resolve) => waiters.push({ count, resolve })),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function signatureValid(raw: Buffer, header: string | string[] | undefined, secret: string): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(raw).digest('hex'));
  const given = Buffer.from(header.slice('sha256='.length));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

let fake: GraphApiFake;
const openFakes: GraphApiFake[] = [];
async function freshFake(options: GraphApiFakeOptions = {}): Promise<GraphApiFake> {
  fake = await startGraphApiFake({ now, ...options });
  openFakes.push(fake);
  return fake;
}
afterEach(async () => {
  await Promise.all(openFakes.splice(0).map((f) => f.close()));
});

// ---------------------------------------------------------------------------------------------

describe('every send type builds exactly the body Meta documents', () => {
  const base = { messaging_product: 'whatsapp', recipient_type: 'individual', to: TO };
  const cases: Array<[string, OutboundMessage, Record<string, unknown>]> = [
    [
      'text with reply context',
      { type: 'text', to: TO, body: 'salam, kayn livraison l Marrakech', previewUrl: true, replyTo: 'wamid.IN1' },
      { ...base, type: 'text', text: { body: 'salam, kayn livraison l Marrakech', preview_url: true }, context: { message_id: 'wamid.IN1' } },
    ],
    [
      'template with parameters',
      {
        type: 'template',
        to: TO,
        name: 'order_shipped',
        languageCode: 'fr',
        components: [
          { type: 'header', parameters: [{ type: 'image', image: { link: 'https://shop.example/colis.jpg' } }] },
          { type: 'body', parameters: [{ type: 'text', text: 'Youssef' }] },
          { type: 'button', subType: 'quick_reply', index: 0, parameters: [{ type: 'payload', payload: 'TRACK-991' }] },
        ],
        bizOpaqueCallbackData: 'campaign:7',
      },
      {
        ...base,
        type: 'template',
        template: {
          name: 'order_shipped',
          language: { policy: 'deterministic', code: 'fr' },
          components: [
            { type: 'header', parameters: [{ type: 'image', image: { link: 'https://shop.example/colis.jpg' } }] },
            { type: 'body', parameters: [{ type: 'text', text: 'Youssef' }] },
            { type: 'button', sub_type: 'quick_reply', index: '0', parameters: [{ type: 'payload', payload: 'TRACK-991' }] },
          ],
        },
        biz_opaque_callback_data: 'campaign:7',
      },
    ],
    ['image by id', { type: 'image', to: TO, media: { id: '1013859600285441' }, caption: 'Menu' }, { ...base, type: 'image', image: { id: '1013859600285441', caption: 'Menu' } }],
    ['audio by link', { type: 'audio', to: TO, media: { link: 'https://cdn.example/v.ogg' } }, { ...base, type: 'audio', audio: { link: 'https://cdn.example/v.ogg' } }],
    ['video', { type: 'video', to: TO, media: { id: 'v1' }, caption: 'Demo' }, { ...base, type: 'video', video: { id: 'v1', caption: 'Demo' } }],
    [
      'document',
      { type: 'document', to: TO, media: { link: 'https://shop.example/f.pdf' }, filename: 'facture.pdf', caption: 'Facture' },
      { ...base, type: 'document', document: { link: 'https://shop.example/f.pdf', caption: 'Facture', filename: 'facture.pdf' } },
    ],
    ['sticker', { type: 'sticker', to: TO, media: { id: 's1' } }, { ...base, type: 'sticker', sticker: { id: 's1' } }],
    [
      'reply buttons',
      { type: 'interactive', to: TO, interactive: { type: 'button', header: { type: 'text', text: 'Livraison' }, body: 'Wach bghiti?', buttons: [{ id: 'y', title: 'Iyeh' }, { id: 'n', title: 'La' }] } },
      {
        ...base,
        type: 'interactive',
        interactive: {
          type: 'button',
          header: { type: 'text', text: 'Livraison' },
          body: { text: 'Wach bghiti?' },
          action: { buttons: [{ type: 'reply', reply: { id: 'y', title: 'Iyeh' } }, { type: 'reply', reply: { id: 'n', title: 'La' } }] },
        },
      },
    ],
    [
      'list',
      { type: 'interactive', to: TO, interactive: { type: 'list', body: 'Khtar lmدينة', footer: 'CoEx', button: 'Villes', sections: [{ title: 'Sud', rows: [{ id: 'mrk', title: 'Marrakech', description: '35 dh' }] }] } },
      {
        ...base,
        type: 'interactive',
        interactive: {
          type: 'list',
          body: { text: 'Khtar lmدينة' },
          footer: { text: 'CoEx' },
          action: { button: 'Villes', sections: [{ title: 'Sud', rows: [{ id: 'mrk', title: 'Marrakech', description: '35 dh' }] }] },
        },
      },
    ],
    ['reaction', { type: 'reaction', to: TO, messageId: 'wamid.IN1', emoji: '👍' }, { ...base, type: 'reaction', reaction: { message_id: 'wamid.IN1', emoji: '👍' } }],
  ];

  it.each(cases)('%s', async (_name, message, expected) => {
    await freshFake();
    const result = await clientFor(fake).sendMessage(PN, message);
    const request = fake.requests.at(-1);
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe(`/${VERSION}/${PN}/messages`);
    expect(request?.headers.authorization).toBe(`Bearer ${DEFAULT_FAKE_TOKEN}`);
    expect(request?.headers['user-agent']).toBe(UA);
    expect(request?.json).toEqual(expected);
    expect(result.wamid).toBe(fake.state.sent.at(-1)?.wamid);
    expect(result.wamid).toMatch(/^wamid\./);
    expect(result.waId).toBe(TO);
    expect(result.messageStatus).toBe('accepted');
  });

  it('gives every message a fresh wamid', async () => {
    await freshFake();
    const client = clientFor(fake);
    const a = await client.sendMessage(PN, { type: 'text', to: TO, body: 'a' });
    const b = await client.sendMessage(PN, { type: 'text', to: TO, body: 'b' });
    expect(a.wamid).not.toBe(b.wamid);
  });

  it('marks a message read with the typing indicator', async () => {
    await freshFake();
    await clientFor(fake).markRead(PN, 'wamid.IN1', { typing: true });
    await clientFor(fake).markRead(PN, 'wamid.IN2');
    expect(fake.requests.map((r) => r.json)).toEqual([
      { messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.IN1', typing_indicator: { type: 'text' } },
      { messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.IN2' },
    ]);
    expect(fake.state.readReceipts.map((r) => [r.wamid, r.typing])).toEqual([
      ['wamid.IN1', true],
      ['wamid.IN2', false],
    ]);
  });
});

describe('templates', () => {
  beforeEach(async () => {
    await freshFake({
      templates: [
        ...DEFAULT_FAKE_TEMPLATES,
        { name: 'promo_new', language: 'fr', category: 'MARKETING', held: true },
        { name: 'promo_paused', language: 'fr', category: 'MARKETING', status: 'PAUSED' },
        { name: 'promo_disabled', language: 'fr', status: 'DISABLED' },
      ],
    });
  });

  it("returns 'held_for_quality_assessment' as its own state", async () => {
    const result = await clientFor(fake).sendMessage(PN, { type: 'template', to: TO, name: 'promo_new', languageCode: 'fr' });
    expect(result.messageStatus).toBe('held_for_quality_assessment');
  });

  it('fails an unknown template or language with 132001 (permanent)', async () => {
    const err = await graphError(clientFor(fake).sendMessage(PN, { type: 'template', to: TO, name: 'order_shipped', languageCode: 'ar' }));
    expect(err.code).toBe(132001);
    expect(err.details).toContain('does not exist in ar');
    expect(classifyError(err).kind).toBe('permanent');
  });

  it('fails a parameter count mismatch with 132000, a paused template with 132015, a disabled one with 132016', async () => {
    const client = clientFor(fake);
    const mismatch = await graphError(client.sendMessage(PN, { type: 'template', to: TO, name: 'order_shipped', languageCode: 'fr' }));
    expect([mismatch.code, classifyError(mismatch).kind]).toEqual([132000, 'permanent']);
    const paused = await graphError(client.sendMessage(PN, { type: 'template', to: TO, name: 'promo_paused', languageCode: 'fr' }));
    expect([paused.code, classifyError(paused).kind]).toEqual([132015, 'paused']);
    const disabled = await graphError(client.sendMessage(PN, { type: 'template', to: TO, name: 'promo_disabled', languageCode: 'fr' }));
    expect([disabled.code, classifyError(disabled).kind]).toEqual([132016, 'permanent']);
  });
});

describe('error classes', () => {
  const text = (body = 'x', to = TO): OutboundMessage => ({ type: 'text', to, body });

  it('throughput: 130429 with HTTP 400 past the per-number mps, counted, and free again a second later', async () => {
    await freshFake({ mps: 3 });
    const client = clientFor(fake);
    for (let i = 0; i < 3; i++) await client.sendMessage(PN, text(`m${i}`));
    const err = await graphError(client.sendMessage(PN, text('over')));
    expect([err.httpStatus, err.code]).toEqual([400, 130429]);
    expect(classifyError(err).kind).toBe('retry');
    expect(fake.state.rejections.throughput[PN]).toBe(1);
    clock.ms += 1001;
    await expect(client.sendMessage(PN, text('later'))).resolves.toMatchObject({ messageStatus: 'accepted' });
    expect(fake.state.sent).toHaveLength(4);
  });

  it('throughput counts inbound traffic too', async () => {
    await freshFake({ mps: 3 });
    fake.simulateInbound(PN, 2);
    const client = clientFor(fake);
    await client.sendMessage(PN, text());
    expect((await graphError(client.sendMessage(PN, text()))).code).toBe(130429);
  });

  it('pair rate: 131056 for the same customer only, classified retry_pair with 4^X backoff', async () => {
    await freshFake({ pairRate: { limit: 2, windowMs: 6000 } });
    const client = clientFor(fake);
    await client.sendMessage(PN, text('1'));
    await client.sendMessage(PN, text('2'));
    const err = await graphError(client.sendMessage(PN, text('3')));
    expect(err.code).toBe(131056);
    const c = classifyError(err, { random: () => 0 });
    expect(c.kind).toBe('retry_pair');
    expect([c.backoffMs(0), c.backoffMs(1), c.backoffMs(2)]).toEqual([1000, 4000, 16000]);
    await expect(client.sendMessage(PN, text('other', '212600000001'))).resolves.toBeDefined();
    expect(fake.state.rejections.pairRate[PN]).toBe(1);
    clock.ms += 6001;
    await expect(client.sendMessage(PN, text('4'))).resolves.toBeDefined();
  });

  it('window: 131047 for free-form to a closed window, templates still go through', async () => {
    await freshFake({ windowClosedFor: [TO] });
    const client = clientFor(fake);
    const err = await graphError(client.sendMessage(PN, text()));
    expect(err.code).toBe(131047);
    expect(err.details).toContain('24 hours');
    expect(classifyError(err).kind).toBe('window');
    await expect(client.sendMessage(PN, { type: 'template', to: TO, name: 'hello_world', languageCode: 'en_US' })).resolves.toBeDefined();
    await expect(client.sendMessage(PN, { type: 'reaction', to: TO, messageId: 'wamid.X', emoji: '👍' })).rejects.toMatchObject({ code: 131047 });
    expect(fake.state.rejections.window).toBe(2);
  });

  it('window (async mode): 200 first, then a signed failed status webhook with 131047', async () => {
    const receiver = await startReceiver();
    try {
      await freshFake({ windowClosedFor: [TO], windowErrorMode: 'async', statusWebhook: { callbackUrl: receiver.url, appSecret: 'app-secret' } });
      const { wamid } = await clientFor(fake).sendMessage(PN, text());
      const [delivery] = await receiver.next(1);
      expect(signatureValid(delivery?.rawBody ?? Buffer.alloc(0), delivery?.headers['x-hub-signature-256'], 'app-secret')).toBe(true);
      const status = JSON.parse(delivery?.rawBody.toString() ?? '{}').entry[0].changes[0].value.statuses[0];
      expect(status).toMatchObject({ id: wamid, status: 'failed', recipient_id: TO, errors: [{ code: 131047 }] });
    } finally {
      await receiver.close();
    }
  });

  it('scripted errors: any code and Retry-After, each for the next call only', async () => {
    await freshFake({
      scriptedErrors: [
        { code: 80007, retryAfterSeconds: 7, message: '(#80007) Rate limit issues' },
        { code: 131048, message: '(#131048) Spam rate limit hit' },
        { code: 131049, message: '(#131049) This message was not delivered to maintain healthy ecosystem engagement.' },
        { code: 368, message: 'Temporarily blocked for policies violations' },
        { code: 131026, message: '(#131026) Message undeliverable' },
        { code: 133010, message: '(#133010) Phone number not registered' },
        { code: 131000, httpStatus: 500, message: '(#131000) Something went wrong' },
        { code: 2, httpStatus: 503, message: 'Service temporarily unavailable' },
        { code: 4, message: '(#4) Application request limit reached' },
      ],
    });
    const client = clientFor(fake);
    const kinds: string[] = [];
    for (let i = 0; i < 9; i++) {
      const err = await graphError(client.sendMessage(PN, text()));
      kinds.push(`${err.code}:${classifyError(err).kind}`);
      if (err.code === 80007) {
        expect(err.retryAfterSeconds).toBe(7);
        expect(classifyError(err, { random: () => 0 }).backoffMs(0)).toBe(7000);
      }
    }
    expect(kinds).toEqual([
      '80007:retry',
      '131048:spam',
      '131049:marketing_limit',
      '368:spam',
      '131026:permanent',
      '133010:permanent',
      '131000:retry',
      '2:retry',
      '4:retry',
    ]);
    expect(fake.state.rejections.scripted).toBe(9);
    await expect(client.sendMessage(PN, text())).resolves.toBeDefined();
  });

  it('a scripted error for one endpoint leaves the others alone', async () => {
    await freshFake({ scriptedErrors: [{ code: 131016, httpStatus: 503, endpoint: 'mark_read' }] });
    const client = clientFor(fake);
    await expect(client.sendMessage(PN, text())).resolves.toBeDefined();
    const err = await graphError(client.markRead(PN, 'wamid.A'));
    expect([err.httpStatus, err.code, classifyError(err).kind]).toEqual([503, 131016, 'retry']);
  });

  it('token: 190 with HTTP 401 for a wrong or missing token', async () => {
    await freshFake();
    const err = await graphError(clientFor(fake, { accessToken: 'EAA-wrong' }).sendMessage(PN, text()));
    expect([err.httpStatus, err.code, classifyError(err).kind]).toEqual([401, 190, 'token']);
    const raw = await fetch(`${fake.url}/${VERSION}/${PN}/messages`, { method: 'POST', body: '{}' });
    expect(raw.status).toBe(401);
  });

  it('an unknown phone number id is an unknown object (100/33)', async () => {
    await freshFake();
    const err = await graphError(clientFor(fake).sendMessage('999', text()));
    expect([err.code, err.subcode]).toEqual([100, 33]);
  });
});

describe('the fake validates raw bodies like Meta', () => {
  const post = (body: unknown): Promise<{ status: number; error: { code: number; message: string } }> =>
    fetch(`${fake.url}/${VERSION}/${PN}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEFAULT_FAKE_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, ...((await r.json()) as { error: { code: number; message: string } }) }));

  it('missing to, text over 4096, media without id or link, too many buttons', async () => {
    await freshFake();
    const noTo = await post({ messaging_product: 'whatsapp', recipient_type: 'individual', type: 'text', text: { body: 'x' } });
    expect([noTo.status, noTo.error.code]).toEqual([400, 100]);
    expect(noTo.error.message).toContain('to');
    const long = await post({ messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, type: 'text', text: { body: 'x'.repeat(4097) } });
    expect([long.status, long.error.code]).toEqual([400, 100]);
    expect(long.error.message).toContain('4096');
    const media = await post({ messaging_product: 'whatsapp', recipient_type: 'individual', to: TO, type: 'image', image: {} });
    expect(media.error.code).toBe(100);
    const buttons = await post({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: TO,
      type: 'interactive',
      interactive: { type: 'button', body: { text: 'b' }, action: { buttons: [1, 2, 3, 4].map((i) => ({ type: 'reply', reply: { id: `b${i}`, title: `B${i}` } })) } },
    });
    // Meta's OpenAPI caps reply buttons at 3: refused by the contract layer with 100 (Meta's server
    // says 131009; test/fakes/README.md).
    expect(buttons.error.code).toBe(100);
    expect(JSON.stringify(buttons.error)).toMatch(/more than 3 items/);
    expect(fake.state.sent).toHaveLength(0);
  });
});

describe('media', () => {
  const VOICE = Buffer.from('OggS\u0000\u0002 fake opus payload for a Darija voice note');
  const sha = createHash('sha256').update(VOICE).digest();

  it('downloads with bearer token and user agent, file_size given as a string', async () => {
    await freshFake();
    const id = fake.addMedia({ bytes: VOICE, mimeType: 'audio/ogg; codecs=opus', fileSizeAsString: true, phoneNumberId: PN });
    const client = clientFor(fake);
    const info = await client.getMedia(id, { phoneNumberId: PN });
    expect(info).toMatchObject({ id, mimeType: 'audio/ogg; codecs=opus', sha256: sha.toString('hex'), fileSize: VOICE.length });
    expect(info.url.startsWith(`${fake.url}/lookaside/`)).toBe(true);
    const media = await fetchMedia(client, id, { maxBytes: 16 * 1024 * 1024, expectedSha256: sha.toString('base64'), expectedMime: 'audio/ogg', phoneNumberId: PN });
    expect(media.bytes.equals(VOICE)).toBe(true);
    const download = fake.requests.filter((r) => r.path.startsWith('/lookaside/')).at(-1);
    expect(download?.headers.authorization).toBe(`Bearer ${DEFAULT_FAKE_TOKEN}`);
    expect(download?.headers['user-agent']).toBe(UA);
    expect(fake.requests.find((r) => r.path === `/${VERSION}/${id}`)?.query.phone_number_id).toBe(PN);
  });

  it('the lookaside host wants the bearer token', async () => {
    await freshFake();
    const id = fake.addMedia({ bytes: VOICE, mimeType: 'audio/ogg' });
    const { url } = await clientFor(fake).getMedia(id);
    expect((await fetch(url)).status).toBe(401);
  });

  it('re-fetches a URL that expired between lookup and download (clock moves past the TTL)', async () => {
    await freshFake({ mediaTtlMs: 5 * 60 * 1000 });
    const id = fake.addMedia({ bytes: VOICE, mimeType: 'audio/ogg' });
    let lookups = 0;
    // A slow worker: six minutes pass after the first lookup answers.
    const slowFetch = (async (input: string | URL | Request, init?: RequestInit) => {
      const res = await fetch(input, init);
      if (String(input).includes(`/${VERSION}/${id}`) && ++lookups === 1) clock.ms += 6 * 60 * 1000;
      return res;
    }) as typeof fetch;
    const media = await fetchMedia(clientFor(fake, { fetch: slowFetch }), id, { maxBytes: 1024 });
    expect(media.bytes.equals(VOICE)).toBe(true);
    expect(fake.state.mediaLookups).toBe(2);
    expect(fake.state.mediaDownloads).toBe(1);
    const lookaside = fake.requests.filter((r) => r.path.startsWith('/lookaside/')).map((r) => r.responseStatus);
    expect(lookaside).toEqual([404, 200]);
  });

  it("gives up with 'expired' when every URL is already stale", async () => {
    await freshFake({ mediaTtlMs: 0 });
    const id = fake.addMedia({ bytes: VOICE, mimeType: 'audio/ogg' });
    const err = await caught(fetchMedia(clientFor(fake), id, { maxBytes: 1024 }));
    expect(err).toBeInstanceOf(MediaUnavailableError);
    expect((err as MediaUnavailableError).reason).toBe('expired');
    expect(fake.state.mediaLookups).toBe(2);
    expect(fake.state.mediaDownloads).toBe(0);
  });

  it('expireMediaUrls() turns issued URLs into 404s', async () => {
    await freshFake();
    const id = fake.addMedia({ bytes: VOICE, mimeType: 'audio/ogg' });
    const client = clientFor(fake);
    const { url } = await client.getMedia(id);
    fake.expireMediaUrls();
    await expect(client.downloadMedia(url)).rejects.toMatchObject({ name: 'MediaDownloadError', httpStatus: 404 });
    const again = await client.getMedia(id);
    expect((await client.downloadMedia(again.url)).equals(VOICE)).toBe(true);
  });

  it("reports 'checksum_mismatch' when the bytes do not hash to what Meta or the webhook said", async () => {
    await freshFake();
    const lying = fake.addMedia({ bytes: VOICE, mimeType: 'audio/ogg', declaredSha256: createHash('sha256').update('other').digest('hex') });
    const err = await caught(fetchMedia(clientFor(fake), lying, { maxBytes: 1024 }));
    expect((err as MediaUnavailableError).reason).toBe('checksum_mismatch');

    const honest = fake.addMedia({ bytes: VOICE, mimeType: 'audio/ogg' });
    const wrongWebhookHash = createHash('sha256').update('else').digest('base64');
    const err2 = await caught(fetchMedia(clientFor(fake), honest, { maxBytes: 1024, expectedSha256: wrongWebhookHash }));
    expect((err2 as MediaUnavailableError).reason).toBe('checksum_mismatch');
  });

  it("reports 'too_large' before downloading, and 'not_found' for an unknown id", async () => {
    await freshFake();
    const id = fake.addMedia({ bytes: Buffer.alloc(2048, 1), mimeType: 'image/jpeg' });
    expect(((await caught(fetchMedia(clientFor(fake), id, { maxBytes: 1024 }))) as MediaUnavailableError).reason).toBe('too_large');
    expect(fake.state.mediaDownloads).toBe(0);
    expect(((await caught(fetchMedia(clientFor(fake), '424242', { maxBytes: 1024 }))) as MediaUnavailableError).reason).toBe('not_found');
  });

  it('a 5xx from the lookaside host is not hidden as unavailability', async () => {
    await freshFake({ scriptedErrors: [{ code: 0, httpStatus: 502, endpoint: 'lookaside' }] });
    const id = fake.addMedia({ bytes: VOICE, mimeType: 'audio/ogg' });
    const err = await caught(fetchMedia(clientFor(fake), id, { maxBytes: 1024 }));
    expect(err).toBeInstanceOf(MediaDownloadError);
    expect(classifyError(err).kind).toBe('retry');
  });

  it('stores fetched media in a DirectoryBlobStore', async () => {
    await freshFake();
    const root = await mkdtemp(path.join(tmpdir(), 'coex-media-'));
    try {
      const id = fake.addMedia({ bytes: VOICE, mimeType: 'audio/ogg; codecs=opus' });
      const media = await fetchMedia(clientFor(fake), id, { maxBytes: 1024 });
      const store = new DirectoryBlobStore(root);
      const ref = await store.put(`media/${id}`, media.bytes, media.mimeType);
      expect(ref).toBe(`sha256:${media.sha256}`);
      expect((await store.get(ref))?.bytes.equals(VOICE)).toBe(true);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('onboarding', () => {
  it('exchanges the signup code (no redirect_uri), once', async () => {
    await freshFake({ oauth: { appId: 'app-1', appSecret: 'app-secret-1' } });
    const { code, businessToken } = fake.createSignupCode();
    const client = clientFor(fake);
    const token = await client.exchangeCode({ appId: 'app-1', appSecret: 'app-secret-1', code });
    expect(token).toEqual({ accessToken: businessToken, tokenType: 'bearer', expiresInSeconds: null });
    const request = fake.requests.at(-1);
    expect(request?.path).toBe(`/${VERSION}/oauth/access_token`);
    expect(request?.query).toEqual({ client_id: 'app-1', client_secret: 'app-secret-1', code });
    expect(request?.headers.authorization).toBeUndefined();

    const reused = await graphError(client.exchangeCode({ appId: 'app-1', appSecret: 'app-secret-1', code }));
    expect([reused.code, reused.subcode]).toEqual([100, 36009]);
    const badSecret = await graphError(client.exchangeCode({ appId: 'app-1', appSecret: 'nope', code: fake.createSignupCode().code }));
    expect(badSecret.code).toBe(1);

    // The business token now works on the WABA.
    await expect(clientFor(fake, { accessToken: 'unused' }).subscribeApp(WABA, { accessToken: businessToken })).resolves.toBeUndefined();
  });

  it('subscribes the app with an override callback that Meta verifies with the verify token', async () => {
    const receiver = await startReceiver('tenant-verify-token');
    try {
      await freshFake({ verifyOverrideCallbacks: true });
      const client = clientFor(fake);
      await client.subscribeApp(WABA, { overrideCallbackUri: receiver.url, verifyToken: 'tenant-verify-token' });
      expect(fake.requests.at(-1)?.json).toEqual({ override_callback_uri: receiver.url, verify_token: 'tenant-verify-token' });
      expect(fake.state.subscriptions).toEqual([{ wabaId: WABA, overrideCallbackUri: receiver.url, verifyToken: 'tenant-verify-token' }]);

      const refused = await graphError(client.subscribeApp(WABA, { overrideCallbackUri: receiver.url, verifyToken: 'wrong' }));
      expect(refused.code).toBe(2200);
      await expect(client.subscribeApp(WABA)).resolves.toBeUndefined();
      expect(fake.requests.at(-1)?.rawBody).toBe('');
    } finally {
      await receiver.close();
    }
  });

  it('lists phone numbers across pages and reads Coexistence fields of one', async () => {
    const numbers = ['1001', '1002', '1003'].map((id, i) => ({ ...DEFAULT_FAKE_PHONE_NUMBER, id, displayPhoneNumber: `21252200000${i}` }));
    await freshFake({ phoneNumbers: numbers, phoneNumbersPageSize: 2 });
    const client = clientFor(fake);
    const listed = await client.listPhoneNumbers(WABA);
    expect(listed.map((p) => p.id)).toEqual(['1001', '1002', '1003']);
    expect(listed[0]).toMatchObject({ displayPhoneNumber: '212522000000', verifiedName: 'CoEx Test Shop', platformType: 'CLOUD_API', throughput: { level: 'STANDARD' } });
    const pages = fake.requests.filter((r) => r.path === `/${VERSION}/${WABA}/phone_numbers`);
    expect(pages).toHaveLength(2);
    expect(pages[1]?.query.after).toBeDefined();

    const one = await client.getPhoneNumber('1002', ['is_on_biz_app', 'platform_type', 'display_phone_number', 'verified_name', 'throughput']);
    expect(one).toEqual({
      id: '1002',
      isOnBizApp: true,
      platformType: 'CLOUD_API',
      displayPhoneNumber: '212522000001',
      verifiedName: 'CoEx Test Shop',
      throughput: { level: 'STANDARD' },
    });
    expect(fake.requests.at(-1)?.query.fields).toBe('is_on_biz_app,platform_type,display_phone_number,verified_name,throughput');
  });

  it('lists message templates across pages, filtered by status, with their components', async () => {
    const many = Array.from({ length: 130 }, (_, i) => ({ name: `t_${String(i).padStart(3, '0')}`, language: 'fr', bodyParameters: i % 3 }));
    await freshFake({ templates: [...many, { name: 'paused_one', language: 'fr', status: 'PAUSED' as const }, { name: 'promo', language: 'ar', parameterFormat: 'NAMED' as const, body: 'Salam {{name}}', header: { format: 'IMAGE' as const }, buttons: [{ type: 'QUICK_REPLY' as const, text: 'Stop' }] }] });
    const client = clientFor(fake);
    const approved = await client.listMessageTemplates(WABA, { status: 'APPROVED' });
    expect(approved).toHaveLength(131);
    expect(approved.some((t) => t.name === 'paused_one')).toBe(false);
    const pages = fake.requests.filter((r) => r.path === `/${VERSION}/${WABA}/message_templates`);
    expect(pages).toHaveLength(2);
    expect(pages[0]?.query).toMatchObject({ status: 'APPROVED', limit: '100', fields: 'name,language,status,category,parameter_format,components' });
    expect(pages[1]?.query.after).toBeDefined();
    expect(approved.find((t) => t.name === 't_002')?.components).toEqual([{ type: 'BODY', text: 'Template t_002 {{1}} {{2}}', example: { body_text: [['example 1', 'example 2']] } }]);
    expect(approved.find((t) => t.name === 'promo')).toMatchObject({
      parameter_format: 'NAMED',
      components: [{ type: 'HEADER', format: 'IMAGE' }, { type: 'BODY', text: 'Salam {{name}}', example: { body_text_named_params: [{ param_name: 'name', example: 'name example' }] } }, { type: 'BUTTONS', buttons: [{ type: 'QUICK_REPLY', text: 'Stop' }] }],
    });
    expect(await client.listMessageTemplates(WABA)).toHaveLength(132);
    const unknown = await graphError(client.listMessageTemplates('999999999'));
    expect(unknown.code).toBe(100);
  });

  it('requests contact sync then history, each only once', async () => {
    await freshFake();
    const client = clientFor(fake);
    const contacts = await client.requestSmbAppData(PN, 'smb_app_state_sync');
    const history = await client.requestSmbAppData(PN, 'history');
    expect(contacts.requestId).not.toBe(history.requestId);
    expect(fake.requests.map((r) => r.json)).toEqual([
      { messaging_product: 'whatsapp', sync_type: 'smb_app_state_sync' },
      { messaging_product: 'whatsapp', sync_type: 'history' },
    ]);
    const again = await graphError(client.requestSmbAppData(PN, 'history'));
    expect(again.httpStatus).toBe(400);
    expect(classifyError(again).kind).toBe('permanent');
    expect(fake.state.smbAppDataRequests.map((r) => r.syncType)).toEqual(['smb_app_state_sync', 'history']);
  });
});

describe('status webhooks from the fake', () => {
  const SECRET = 'whatsapp-app-secret';
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });
  beforeEach(() => {
    receiver.received.length = 0;
  });

  it("posts sent → delivered → read in Meta's shape, signed over the raw bytes", async () => {
    await freshFake();
    const { wamid } = await clientFor(fake).sendMessage(PN, { type: 'text', to: TO, body: 'x', bizOpaqueCallbackData: 'تذكير/1' });
    const deliveries = await fake.emitStatuses(receiver.url, SECRET, wamid, ['sent', 'delivered', 'read']);
    expect(deliveries.map((d) => d.status)).toEqual([200, 200, 200]);
    expect(receiver.received).toHaveLength(3);

    const statuses = receiver.received.map((r) => {
      expect(signatureValid(r.rawBody, r.headers['x-hub-signature-256'], SECRET)).toBe(true);
      const body = JSON.parse(r.rawBody.toString('utf8'));
      expect(body.object).toBe('whatsapp_business_account');
      expect(body.entry[0].id).toBe(WABA);
      expect(body.entry[0].changes[0].field).toBe('messages');
      expect(body.entry[0].changes[0].value.metadata).toEqual({ display_phone_number: DEFAULT_FAKE_PHONE_NUMBER.displayPhoneNumber, phone_number_id: PN });
      return body.entry[0].changes[0].value.statuses[0];
    });
    expect(statuses.map((s: { status: string }) => s.status)).toEqual(['sent', 'delivered', 'read']);
    expect(statuses.every((s: { id: string; recipient_id: string; biz_opaque_callback_data: string }) => s.id === wamid && s.recipient_id === TO && s.biz_opaque_callback_data === 'تذكير/1')).toBe(true);
    expect(statuses.filter((s: { pricing?: unknown }) => s.pricing !== undefined)).toHaveLength(1);
    expect(typeof statuses[0].timestamp).toBe('string');

    // Meta escapes non-ASCII and "/", so a re-serialised body would not match the signature.
    const raw = receiver.received[0]?.rawBody ?? Buffer.alloc(0);
    expect(raw.toString()).toContain('\\u062a');
    expect(raw.toString()).toContain('\\/');
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(raw.toString())));
    expect(signatureValid(reserialised, receiver.received[0]?.headers['x-hub-signature-256'], SECRET)).toBe(false);
  });

  it('posts a failed status with Meta errors', async () => {
    await freshFake();
    const { wamid } = await clientFor(fake).sendMessage(PN, { type: 'text', to: TO, body: 'x' });
    await fake.emitStatuses(receiver.url, SECRET, wamid, [
      { status: 'failed', errors: [{ code: 131026, title: 'Message undeliverable', details: 'Receiver is incapable of receiving this message' }] },
    ]);
    const status = JSON.parse(receiver.received[0]?.rawBody.toString() ?? '{}').entry[0].changes[0].value.statuses[0];
    expect(status).toMatchObject({
      id: wamid,
      status: 'failed',
      errors: [{ code: 131026, title: 'Message undeliverable', error_data: { details: 'Receiver is incapable of receiving this message' } }],
    });
  });
});

describe('use from other processes', () => {
  const execFileAsync = promisify(execFile);

  it('enforces one throughput budget for senders in two processes', async () => {
    await freshFake({ mps: 10 }); // fixed clock: every send lands in the same second
    const client = clientFor(fake);
    for (let i = 0; i < 4; i++) await client.sendMessage(PN, { type: 'text', to: TO, body: `parent ${i}` });

    const childScript = `
      const [url, token, pn, to] = process.argv.slice(1);
      const statuses = [];
      for (let i = 0; i < 10; i++) {
        const res = await fetch(url + '/v25.0/' + pn + '/messages', {
          method: 'POST',
          headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
          body: JSON.stringify({ messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'text', text: { body: 'child ' + i } }),
        });
        const body = await res.json();
        statuses.push(res.ok ? 'ok' : String(body.error.code));
      }
      console.log(JSON.stringify(statuses));`;
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', childScript, fake.url, DEFAULT_FAKE_TOKEN, PN, TO]);
    const childStatuses = JSON.parse(stdout) as string[];
    expect(childStatuses.filter((s) => s === 'ok')).toHaveLength(6);
    expect(childStatuses.filter((s) => s === '130429')).toHaveLength(4);
    expect(fake.state.rejections.throughput[PN]).toBe(4);
    expect(fake.state.sent).toHaveLength(10);
  });

  it('runs standalone with `node test/fakes/graph-api.ts`', async () => {
    const script = fileURLToPath(new URL('./fakes/graph-api.ts', import.meta.url));
    const child = spawn(process.execPath, [script, JSON.stringify({ mps: 5 })], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code) => reject(new Error(`fake exited early with ${code}`)));
        createInterface({ input: child.stdout }).once('line', resolve);
      });
      const { url } = JSON.parse(line) as { url: string };
      const standalone = new GraphClient({ baseUrl: url, version: VERSION, accessToken: DEFAULT_FAKE_TOKEN, userAgent: UA });
      await expect(standalone.sendMessage(PN, { type: 'text', to: TO, body: 'from another process' })).resolves.toMatchObject({ waId: TO });
      await expect(standalone.getPhoneNumber(PN, ['is_on_biz_app'])).resolves.toEqual({ id: PN, isOnBizApp: true });
    } finally {
      child.kill('SIGTERM');
    }
  });
});
