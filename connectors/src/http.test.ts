import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseRetryAfter, redactUrl, requestJson } from './http.js';
import { CrmError } from './types.js';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

let server: Server;
let base: string;
let handler: Handler = (_req, _body, res) => res.end();
const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

async function catchCrmError(p: Promise<unknown>): Promise<CrmError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CrmError) return err;
    throw err;
  }
  throw new Error('expected a CrmError');
}

const Thing = z.object({ id: z.string(), n: z.number() });

describe('requestJson', () => {
  it('sends a JSON body and parses the response with the schema', async () => {
    handler = (_req, body, res) => json(res, 201, { id: 'a1', n: JSON.parse(body).n + 1 }, { 'x-extra': 'yes' });
    const res = await requestJson('hubspot', `${base}/things`, { method: 'POST', body: { n: 41 }, schema: Thing });
    expect(res.status).toBe(201);
    expect(res.data).toEqual({ id: 'a1', n: 42 });
    expect(res.headers.get('x-extra')).toBe('yes');
    const last = seen.at(-1)!;
    expect(last.method).toBe('POST');
    expect(last.headers['content-type']).toBe('application/json');
    expect(last.headers.accept).toBe('application/json');
    expect(JSON.parse(last.body)).toEqual({ n: 41 });
  });

  it('sends URLSearchParams form-encoded (OAuth token calls)', async () => {
    handler = (_req, _body, res) => json(res, 200, { id: 'tok', n: 1 });
    await requestJson('hubspot', `${base}/oauth`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'r 1' }),
      schema: Thing,
    });
    const last = seen.at(-1)!;
    expect(last.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(last.body).toBe('grant_type=refresh_token&refresh_token=r+1');
  });

  it('keeps a caller-provided content type whatever its casing', async () => {
    handler = (_req, _body, res) => json(res, 200, { id: 'x', n: 0 });
    await requestJson('zoho', `${base}/x`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/vnd.custom+json' },
      body: { a: 1 },
      schema: Thing,
    });
    expect(seen.at(-1)!.headers['content-type']).toBe('application/vnd.custom+json');
  });

  it('gives data null for 204 and for an empty 200 body', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(204);
      res.end();
    };
    const a = await requestJson('zoho', `${base}/search`, { method: 'GET', schema: Thing });
    expect(a).toMatchObject({ status: 204, data: null });
    handler = (_req, _body, res) => {
      res.writeHead(200);
      res.end('');
    };
    const b = await requestJson('zoho', `${base}/search`, { method: 'GET', schema: Thing });
    expect(b).toMatchObject({ status: 200, data: null });
  });

  it('maps 429 to a retryable error with Retry-After seconds', async () => {
    handler = (_req, _body, res) =>
      json(res, 429, { status: 'error', message: 'You have reached your secondly limit.' }, { 'retry-after': '7' });
    const err = await catchCrmError(requestJson('hubspot', `${base}/x`, { method: 'GET', schema: Thing }));
    expect(err.crm).toBe('hubspot');
    expect(err.retryable).toBe(true);
    expect(err.status).toBe(429);
    expect(err.retryAfterSeconds).toBe(7);
    expect(err.message).toContain('secondly limit');
  });

  it.each([500, 502, 503, 504])('maps %i to a retryable error', async (status) => {
    handler = (_req, _body, res) => json(res, status, { message: 'upstream sad' });
    const err = await catchCrmError(requestJson('odoo', `${base}/x`, { method: 'GET', schema: Thing }));
    expect(err).toMatchObject({ retryable: true, status, crm: 'odoo' });
    expect(err.retryAfterSeconds).toBeUndefined();
  });

  it('reads an HTTP-date Retry-After on 503', async () => {
    const at = new Date(Date.now() + 30_000).toUTCString();
    handler = (_req, _body, res) => json(res, 503, { message: 'maintenance' }, { 'retry-after': at });
    const err = await catchCrmError(requestJson('woocommerce', `${base}/x`, { method: 'GET', schema: Thing }));
    expect(err.retryable).toBe(true);
    expect(err.retryAfterSeconds).toBeGreaterThanOrEqual(28);
    expect(err.retryAfterSeconds).toBeLessThanOrEqual(31);
  });

  it.each([400, 401, 403, 404, 409, 422])('maps %i to a non-retryable error', async (status) => {
    handler = (_req, _body, res) => json(res, status, { code: 'nope', message: `bad ${status}` }, { 'retry-after': '5' });
    const err = await catchCrmError(requestJson('woocommerce', `${base}/x`, { method: 'GET', schema: Thing }));
    expect(err).toMatchObject({ retryable: false, status });
    expect(err.retryAfterSeconds).toBeUndefined();
    expect(err.message).toContain(`bad ${status}`);
  });

  it('uses a non-JSON error body as the detail, truncated', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(400, { 'content-type': 'text/html' });
      res.end(`<html>${'x'.repeat(1000)}</html>`);
    };
    const err = await catchCrmError(requestJson('odoo', `${base}/x`, { method: 'GET', schema: Thing }));
    expect(err.retryable).toBe(false);
    expect(err.message.length).toBeLessThan(500);
  });

  it('rejects a 2xx body that does not match the schema (non-retryable)', async () => {
    handler = (_req, _body, res) => json(res, 200, { id: 5 });
    const err = await catchCrmError(requestJson('zoho', `${base}/x`, { method: 'GET', schema: Thing }));
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('unexpected body');
  });

  it('rejects a 2xx non-JSON body (non-retryable)', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello');
    };
    const err = await catchCrmError(requestJson('zoho', `${base}/x`, { method: 'GET', schema: Thing }));
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('non-JSON');
  });

  it('maps a timeout to a retryable error', async () => {
    handler = () => {
      // never answers: the client must give up on its own
    };
    const err = await catchCrmError(requestJson('hubspot', `${base}/slow`, { method: 'GET', schema: Thing, timeoutMs: 100 }));
    expect(err.retryable).toBe(true);
    expect(err.status).toBeUndefined();
    expect(err.message).toContain('timed out');
  });

  it('maps a network error to a retryable error', async () => {
    const refused = async (): Promise<Response> => {
      throw new TypeError('fetch failed');
    };
    const err = await catchCrmError(requestJson('odoo', 'http://127.0.0.1:1/x', { method: 'GET', schema: Thing }, refused));
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('network error');
  });

  it('never puts the query string (credentials) in error messages', async () => {
    handler = (_req, _body, res) => json(res, 401, { message: 'bad key' });
    const err = await catchCrmError(
      requestJson('woocommerce', `${base}/orders?consumer_key=ck_live&consumer_secret=cs_secret`, { method: 'GET', schema: Thing }),
    );
    expect(err.message).not.toContain('cs_secret');
    expect(err.message).not.toContain('ck_live');
  });
});

describe('parseRetryAfter', () => {
  it('parses delta-seconds, dates, and rejects junk', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('12', now)).toBe(12);
    expect(parseRetryAfter('1.2', now)).toBe(2);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now)).toBe(60);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

describe('redactUrl', () => {
  it('drops the query string only', () => {
    expect(redactUrl('https://shop.example/wp-json/wc/v3/orders?consumer_secret=x')).toBe('https://shop.example/wp-json/wc/v3/orders?…');
    expect(redactUrl('https://api.hubapi.com/crm/v3/objects/contacts')).toBe('https://api.hubapi.com/crm/v3/objects/contacts');
  });
});
