import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EXTENSION_MAX_SKEW_MS, normalizeExtensionAccount, parseCoexHeaders, signExtensionRequest } from './extension-auth.js';

// The worked example of docs/extension-api.md; the same hex was produced by openssl and PHP hash_hmac.
const KEY = 'coex_ext_Q29FeCBleGFtcGxlIGtleSwgbm90IGEgcmVhbCBvbmUhISE';
const TS = '1767225600000';
const NONCE = '4f9b2c1e8a7d6f305e1c9b2a';

describe('signExtensionRequest', () => {
  it('matches the documented GET example', () => {
    expect(signExtensionRequest({ key: KEY, method: 'get', pathWithQuery: '/ext/v1/woocommerce/thread?phone=%2B212612345678&limit=50', body: '', timestamp: TS, nonce: NONCE })).toBe(
      'b821366a0474a8717a092960ccd850f580da06509dfb5cea6f26e055fa1437e0',
    );
  });

  it('matches the documented POST example, for a string or a Buffer body', () => {
    const body = '{"text":"Salam, rah tsiftat l commande dyalk.","actor":"admin@shop.ma"}';
    const input = { key: KEY, method: 'POST', pathWithQuery: '/ext/v1/woocommerce/threads/7f1c2a9e-4b1d-4c53-9a0e-2f4a8b6c1d11/messages', timestamp: Number(TS), nonce: NONCE };
    const expected = 'a1fbafbbc554cbe75737914c57a4d7189b95c8cca67316379f832abd3d6e8b86';
    expect(signExtensionRequest({ ...input, body })).toBe(expected);
    expect(signExtensionRequest({ ...input, body: Buffer.from(body) })).toBe(expected);
  });

  it('covers every part: changing method, path, timestamp, nonce or one body byte changes the signature', () => {
    const base = { key: KEY, method: 'POST', pathWithQuery: '/ext/v1/zoho/threads/x/bot', body: '{"action":"pause"}', timestamp: TS, nonce: NONCE };
    const reference = signExtensionRequest(base);
    for (const variant of [
      { method: 'PUT' },
      { pathWithQuery: '/ext/v1/zoho/threads/y/bot' },
      { timestamp: '1767225600001' },
      { nonce: `${NONCE}0` },
      { body: '{"action":"resume"}' },
      { key: `${KEY}x` },
    ]) {
      expect(signExtensionRequest({ ...base, ...variant })).not.toBe(reference);
    }
  });

  it('hashes raw bytes, so a non-UTF-8 body is signed as sent', () => {
    const body = Buffer.from([0xff, 0xfe, 0x41]);
    const head = `POST\n/p\n${TS}\n${NONCE}\n`;
    const expected = createHmac('sha256', KEY).update(Buffer.concat([Buffer.from(head), body])).digest('hex');
    expect(signExtensionRequest({ key: KEY, method: 'POST', pathWithQuery: '/p', body, timestamp: TS, nonce: NONCE })).toBe(expected);
  });
});

describe('parseCoexHeaders', () => {
  const now = Number(TS);
  const good = { 'x-coex-account': 'https://shop.example.ma/', 'x-coex-timestamp': TS, 'x-coex-nonce': NONCE, 'x-coex-signature': 'A'.repeat(64) };

  it('accepts well-formed headers, normalizing the account and the signature case', () => {
    expect(parseCoexHeaders('woocommerce', good, now)).toEqual({ ok: true, value: { account: 'https://shop.example.ma', timestamp: TS, nonce: NONCE, signature: 'a'.repeat(64) } });
  });

  it('refuses missing, repeated or malformed headers with 401', () => {
    for (const name of Object.keys(good)) {
      const { [name]: _dropped, ...rest } = good as Record<string, string>;
      expect(parseCoexHeaders('woocommerce', rest, now)).toMatchObject({ ok: false, status: 401, code: 'missing_credentials' });
    }
    expect(parseCoexHeaders('zoho', { ...good, 'x-coex-nonce': [NONCE, NONCE] }, now)).toMatchObject({ ok: false, code: 'missing_credentials' });
    expect(parseCoexHeaders('zoho', { ...good, 'x-coex-nonce': 'short' }, now)).toMatchObject({ ok: false, code: 'malformed_credentials' });
    expect(parseCoexHeaders('zoho', { ...good, 'x-coex-timestamp': '2026-01-01T00:00:00Z' }, now)).toMatchObject({ ok: false, code: 'malformed_credentials' });
    expect(parseCoexHeaders('zoho', { ...good, 'x-coex-signature': 'zz' }, now)).toMatchObject({ ok: false, code: 'malformed_credentials' });
  });

  it('refuses timestamps more than 5 minutes in the past or the future as expired', () => {
    expect(parseCoexHeaders('odoo', good, now + EXTENSION_MAX_SKEW_MS)).toMatchObject({ ok: true });
    expect(parseCoexHeaders('odoo', good, now + EXTENSION_MAX_SKEW_MS + 1)).toMatchObject({ ok: false, status: 401, code: 'expired', reason: expect.stringMatching(/expired/) });
    expect(parseCoexHeaders('odoo', good, now - EXTENSION_MAX_SKEW_MS - 1)).toMatchObject({ ok: false, code: 'expired' });
  });
});

describe('normalizeExtensionAccount', () => {
  it('spells accounts like the CRM connections do', () => {
    expect(normalizeExtensionAccount('woocommerce', ' https://shop.example.ma// ')).toBe('https://shop.example.ma');
    expect(normalizeExtensionAccount('odoo', 'https://erp.example.ma/#atlas')).toBe('https://erp.example.ma#atlas');
    expect(normalizeExtensionAccount('odoo', 'https://erp.example.ma/')).toBe('https://erp.example.ma');
    expect(normalizeExtensionAccount('zoho', ' 778899 ')).toBe('778899');
  });
});
