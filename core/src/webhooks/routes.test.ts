import { connect, type AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import express from 'express';
import { pino } from 'pino';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TRUST_PROXY } from '../http/app.js';
import { createMetrics } from '../metrics.js';
import type { InboxDelivery, InboxWriter } from './inbox-writer.js';
import { webhookDirectHandler, webhookRouter, type WebhookRouteOptions } from './routes.js';
import { signBody } from './signature.js';

/**
 * The webhook route alone, with an inbox that records what it is given: the HTTP answers, what is
 * (and is not) handed to the inbox, the metrics and the operator's log lines. No database, so it is
 * quick enough for mutation testing (docs/testing.md); test/webhook-ingest.test.ts covers the route
 * inside a whole runtime.
 */

const SECRET = 'app-secret';
const PN = '106540352242922';
const envelope = (pn = PN) => JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '102290129340398', changes: [{ field: 'messages', value: { metadata: { display_phone_number: '212522123456', phone_number_id: pn } } }] }] });

describe.each(['route', 'direct handler'] as const)('webhook %s', (mode) => {
  let server: Server;
  let base: string;
  let written: InboxDelivery[];
  let answer: (d: InboxDelivery) => Promise<string[]>;
  let accepted: string[][];
  let onAccepted: (keys: string[]) => Promise<void>;
  let logs: Array<{ level: number; msg: string; [k: string]: unknown }>;
  let metrics: ReturnType<typeof createMetrics>;
  let verifyToken: string | undefined;
  let ingressEvents: string[];

  const outcomes = async () => Object.fromEntries((await metrics.webhookRequests.get()).values.map((v) => [v.labels.outcome, v.value]));
  const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json', 'x-hub-signature-256': signBody(body, SECRET) }) => fetch(`${base}/webhooks/whatsapp`, { method: 'POST', headers, body });
  const verify = (query: string) => fetch(`${base}/webhooks/whatsapp?${query}`);

  beforeAll(async () => {
    const inbox = { write: (d: InboxDelivery) => (written.push(d), answer(d)) } as unknown as InboxWriter;
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const app = express();
    app.set('trust proxy', TRUST_PROXY); // as http/app.ts
    // Options made per request, so each test sets its own.
    const options = (): WebhookRouteOptions => ({
      appSecret: SECRET,
      verifyToken,
      maxBodyBytes: 2048,
      inbox,
      onAccepted: (keys) => (accepted.push(keys), onAccepted(keys)),
      logger,
      metrics,
      ingress: { begin: () => void ingressEvents.push('begin'), end: () => void ingressEvents.push('end') },
    });
    app.use((req, res, next) => webhookRouter(options())(req, res, next));
    // As the runtime serves it: the direct handler first, Express for what it leaves.
    server = mode === 'route' ? app.listen(0, '127.0.0.1') : createServer((req, res) => void (webhookDirectHandler(options())(req, res) || app(req, res))).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    written = [];
    accepted = [];
    logs = [];
    metrics = createMetrics();
    verifyToken = 'verify-me';
    answer = async (d) => d.partitionKeys;
    onAccepted = async () => undefined;
    ingressEvents = [];
  });

  it('tells the ingress gauge when each delivery request begins and ends, stored or refused (the worker yields to them)', async () => {
    let release!: () => void;
    const stored = new Promise<void>((resolve) => (release = resolve));
    answer = async (d) => (await stored, d.partitionKeys);
    const pending = post(envelope());
    while (written.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    // Still being stored: begun, not ended.
    expect(ingressEvents).toEqual(['begin']);
    release();
    expect((await pending).status).toBe(200);
    expect((await post(envelope(), { 'x-hub-signature-256': 'sha256=00' })).status).toBe(401);
    expect((await post('x'.repeat(4096))).status).toBe(413);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ingressEvents).toEqual(['begin', 'end', 'begin', 'end', 'begin', 'end']);
    // The handshake is no delivery.
    await verify('hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1');
    expect(ingressEvents).toHaveLength(6);
  });

  it('answers Meta’s verification handshake with the challenge, as plain text', async () => {
    const res = await verify('hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('1158201444');
  });

  it('refuses the handshake with a wrong token or mode, no challenge, repeated parameters, or no token configured', async () => {
    for (const query of [
      'hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1',
      'hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1',
      'hub.verify_token=verify-me&hub.challenge=1',
      'hub.mode=subscribe&hub.verify_token=verify-me',
      'hub.mode=subscribe&hub.verify_token=verify-me&hub.verify_token=verify-me&hub.challenge=1',
      'hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1&hub.challenge=2',
    ]) {
      const res = await verify(query);
      expect(res.status, query).toBe(403);
      expect(res.headers.get('content-type'), query).toMatch(/^text\/plain/);
      expect(await res.text(), query).toBe('Forbidden');
    }
    verifyToken = undefined;
    expect((await verify('hub.mode=subscribe&hub.verify_token=&hub.challenge=1')).status).toBe(403);
    expect((await verify('hub.mode=subscribe&hub.verify_token=undefined&hub.challenge=1')).status).toBe(403);
    verifyToken = '';
    expect((await verify('hub.mode=subscribe&hub.verify_token=&hub.challenge=1')).status).toBe(403);
    expect(logs.filter((l) => l.msg === 'webhook verification refused').map((l) => [l.level, l.mode])).toEqual([
      [40, 'subscribe'],
      [40, 'unsubscribe'],
      [40, undefined],
      [40, 'subscribe'],
      [40, 'subscribe'],
      [40, 'subscribe'],
      [40, 'subscribe'],
      [40, 'subscribe'],
      [40, 'subscribe'],
    ]);
  });

  it('stores a signed delivery under the numbers it names, then answers 200 and wakes a worker', async () => {
    const body = envelope();
    const res = await post(body);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(written).toEqual([{ rawBody: body, partitionKeys: [PN] }]);
    expect(accepted).toEqual([[PN]]);
    expect(await outcomes()).toEqual({ accepted: 1 });
  });

  it('takes any content type: the signature is over the bytes, whatever the header says', async () => {
    const body = envelope();
    const res = await post(body, { 'content-type': 'text/plain; charset=utf-8', 'x-hub-signature-256': signBody(body, SECRET) });
    expect(res.status).toBe(200);
    expect(written.map((w) => w.rawBody)).toEqual([body]);
  });

  it('a duplicate (nothing new stored) is still 200, counted apart, and wakes nobody', async () => {
    answer = async () => [];
    const res = await post(envelope());
    expect(res.status).toBe(200);
    expect(accepted).toEqual([]);
    expect(await outcomes()).toEqual({ duplicate: 1 });
  });

  it('keeps signed JSON that is no envelope it knows, in the unparsed partition', async () => {
    for (const body of ['{"hello":"world"}', '[1,2]', '{"object":"whatsapp_business_account","entry":[]}', '{"object":"page","entry":[{"id":"x","changes":[]}]}']) {
      written = [];
      expect((await post(body)).status, body).toBe(200);
      expect(written, body).toEqual([{ rawBody: body, partitionKeys: ['unparsed'] }]);
    }
  });

  it('refuses a bad or missing signature with 401 and stores nothing', async () => {
    const body = envelope();
    for (const headers of [{ 'x-hub-signature-256': signBody(body, 'other') }, {}, { 'x-hub-signature-256': signBody(`${body} `, SECRET) }] as Array<Record<string, string>>) {
      const res = await post(body, { 'content-type': 'application/json', ...headers });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'invalid signature' });
    }
    expect(written).toEqual([]);
    expect(await outcomes()).toEqual({ bad_signature: 3 });
    expect(logs.filter((l) => l.msg === 'webhook rejected: bad signature').map((l) => [l.level, l.bytes])).toEqual([
      [40, body.length],
      [40, body.length],
      [40, body.length],
    ]);
  });

  it('refuses signed bytes that are not JSON (an empty body too) with 400, and stores nothing', async () => {
    for (const body of ['{"object":', '']) {
      const res = await post(body);
      expect(res.status, body).toBe(400);
      expect(await res.json()).toEqual({ error: 'malformed JSON' });
    }
    expect(written).toEqual([]);
    expect(await outcomes()).toEqual({ malformed: 2 });
    expect(logs.filter((l) => l.msg === 'webhook rejected: malformed JSON').map((l) => [l.level, l.bytes])).toEqual([
      [40, 10],
      [40, 0],
    ]);
  });

  it('refuses a body over the size limit with 413, and stores nothing', async () => {
    const body = JSON.stringify({ object: 'whatsapp_business_account', entry: [], pad: 'x'.repeat(3000) });
    expect((await post(body)).status).toBe(413);
    expect(written).toEqual([]);
  });

  it('answers 503 when the delivery could not be stored (Meta retries), and logs why', async () => {
    answer = async () => {
      throw new Error('database is down');
    };
    const res = await post(envelope());
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'temporarily unavailable' });
    expect(accepted).toEqual([]);
    expect(await outcomes()).toEqual({ error: 1 });
    expect(logs.filter((l) => l.msg === 'webhook not stored').map((l) => [l.level, l.err])).toEqual([[50, 'database is down']]);
    answer = () => Promise.reject('not an Error');
    expect((await post(envelope())).status).toBe(503);
    expect(logs.filter((l) => l.msg === 'webhook not stored').map((l) => l.err)).toEqual(['database is down', 'not an Error']);
  });

  it('a worker that cannot be woken does not change the answer; it is logged', async () => {
    onAccepted = async () => {
      throw new Error('no worker');
    };
    expect((await post(envelope())).status).toBe(200);
    await new Promise((resolve) => setImmediate(resolve));
    expect(logs.filter((l) => l.msg === 'could not wake the inbox worker; the sweep will').map((l) => [l.level, l.err])).toEqual([[40, 'Error: no worker']]);
  });

  // The route's requests are timed by the app's own middleware (http/app.ts, not mounted here); the
  // direct handler, which Express never sees, times its own.
  it('the direct handler records each delivery request it answers in the HTTP duration histogram under its route', async () => {
    await post(envelope());
    await post(envelope(), { 'x-hub-signature-256': 'sha256=00' });
    const counts = (await metrics.httpDuration.get()).values.filter((v) => v.metricName === 'coex_http_request_duration_seconds_count');
    expect(counts.map((v) => [v.labels.route, v.labels.status, v.value]).sort()).toEqual(
      mode === 'direct handler'
        ? [
            ['/webhooks/whatsapp', '200', 1],
            ['/webhooks/whatsapp', '401', 1],
          ]
        : [],
    );
  });

  it('the direct handler takes a delivery with a Content-Length within the limit; a chunked or compressed one is the route\'s, answered alike', async () => {
    const body = envelope();
    const signature = signBody(body, SECRET);
    const plain = await post(body);
    // Express's answers carry an ETag; the direct handler's do not: which one answered.
    expect([plain.status, plain.headers.get('etag') === null]).toEqual([200, mode === 'direct handler']);
    const chunked = await fetch(`${base}/webhooks/whatsapp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature },
      body: new Blob([body]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect([chunked.status, chunked.headers.get('etag') === null]).toEqual([200, false]);
    const gzipped = await fetch(`${base}/webhooks/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-hub-signature-256': signature }, body: gzipSync(body) });
    expect([gzipped.status, gzipped.headers.get('etag') === null]).toEqual([200, false]);
    expect(written.map((w) => w.rawBody)).toEqual([body, body, body]);
  });

  it('logs the client behind a proxy on this machine, as Express does with trust proxy: loopback', async () => {
    const body = envelope();
    for (const forwarded of ['203.0.113.9', '198.51.100.1, 203.0.113.9, 127.0.0.1', '::1']) {
      expect((await post(body, { 'x-hub-signature-256': 'sha256=00', 'x-forwarded-for': forwarded })).status).toBe(401);
    }
    expect((await post(body, { 'x-hub-signature-256': 'sha256=00' })).status).toBe(401);
    expect(logs.filter((l) => l.msg === 'webhook rejected: bad signature').map((l) => l.ip)).toEqual(['203.0.113.9', '203.0.113.9', '::1', '127.0.0.1']);
  });

  it('a client gone halfway through its body is no harm: nothing stored, the next delivery answered', async () => {
    const { port } = new URL(base);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\nX-Hub-Signature-256: sha256=00\r\n\r\n{"object":`);
    await new Promise((resolve) => setTimeout(resolve, 30));
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect((await post(envelope())).status).toBe(200);
    expect(written).toHaveLength(1);
    expect(ingressEvents.filter((e) => e === 'begin').length).toBe(ingressEvents.filter((e) => e === 'end').length);
  });
});
