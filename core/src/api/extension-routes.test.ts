import express from 'express';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { actorOf, DEFAULT_ZOHO_ORIGINS, parseJsonBody, toThreadMessage, zohoCors } from './extension-routes.js';
import type { ExtensionCaller } from './extension-auth.js';

describe('toThreadMessage', () => {
  it('maps text and templates (with body parameters) to the send service shape', () => {
    expect(toThreadMessage({ text: 'salam' })).toEqual({ type: 'text', body: 'salam' });
    expect(toThreadMessage({ template: { name: 'order_shipped', language: 'fr', body_parameters: ['Youssef'] } })).toEqual({
      type: 'template',
      name: 'order_shipped',
      languageCode: 'fr',
      components: [{ type: 'body', parameters: [{ type: 'text', text: 'Youssef' }] }],
    });
    expect(toThreadMessage({ template: { name: 'hello_world', language: 'en_US' } })).toEqual({ type: 'template', name: 'hello_world', languageCode: 'en_US' });
  });
});

describe('actorOf', () => {
  const caller = (crm: ExtensionCaller['crm'], verifiedUser: string | null): ExtensionCaller => ({ crm, tenantId: 't', account: 'acct', connectionId: 'c', verifiedUser });
  it('prefers the CRM-verified user, trusts a signed claim only from keyed installs, else names the install', () => {
    expect(actorOf(caller('hubspot', 'rep@shop.ma'), 'someone@else')).toBe('rep@shop.ma');
    expect(actorOf(caller('hubspot', null), 'someone@else')).toBe('hubspot:acct');
    expect(actorOf(caller('woocommerce', null), 'admin@shop.ma')).toBe('admin@shop.ma');
    expect(actorOf(caller('odoo', null), undefined)).toBe('odoo:acct');
  });
});

describe('parseJsonBody', () => {
  const schema = z.object({ action: z.enum(['pause']) });
  it('parses valid JSON and reports malformed or invalid bodies as 400', () => {
    expect(parseJsonBody(Buffer.from('{"action":"pause"}'), schema)).toEqual({ ok: true, value: { action: 'pause' } });
    expect(parseJsonBody(Buffer.from('{"action":'), schema)).toMatchObject({ ok: false, status: 400, body: { code: 'malformed_json' } });
    expect(parseJsonBody(Buffer.alloc(0), schema)).toMatchObject({ ok: false, status: 400 });
    expect(parseJsonBody(Buffer.from('{"action":"dance"}'), schema)).toMatchObject({ ok: false, status: 400, body: { code: 'invalid_request' } });
  });
});

describe('zohoCors', () => {
  let url = '';
  let server: ReturnType<express.Express['listen']>;
  beforeAll(async () => {
    const app = express();
    app.use('/ext/v1/zoho', zohoCors(DEFAULT_ZOHO_ORIGINS));
    app.get('/ext/v1/zoho/thread', (_req, res) => void res.json({ ok: true }));
    await new Promise<void>((resolve) => {
      server = app.listen(0, '127.0.0.1', () => resolve());
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('answers the preflight of a Zoho widget origin with the custom headers allowed', async () => {
    for (const origin of ['https://127890.zappsusercontent.com', 'https://crm.zoho.eu', 'https://crm.zoho.com.au']) {
      const res = await fetch(`${url}/ext/v1/zoho/thread`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-coex-signature' } });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
      expect(res.headers.get('access-control-allow-headers')).toMatch(/X-Coex-Signature/);
      expect(res.headers.get('access-control-allow-headers')).toMatch(/X-Coex-Nonce/);
    }
  });

  it('gives other origins no CORS grant', async () => {
    for (const origin of ['https://evil.example', 'http://crm.zoho.com', 'https://crm.zoho.com.evil.example', 'https://x.zappsusercontent.com.evil.example']) {
      const pre = await fetch(`${url}/ext/v1/zoho/thread`, { method: 'OPTIONS', headers: { origin } });
      expect(pre.status).toBe(403);
      const get = await fetch(`${url}/ext/v1/zoho/thread`, { headers: { origin } });
      expect(get.headers.get('access-control-allow-origin')).toBeNull();
    }
  });
});
