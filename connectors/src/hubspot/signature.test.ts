import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, decodeHubSpotUri, signHubSpotV3, verifyHubSpotRequest } from './signature.js';

const SECRET = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy';
const NOW = Date.parse('2026-03-01T12:00:00Z');

function signed(url: string, body: string, opts: { method?: string; ts?: number; secret?: string } = {}) {
  const method = opts.method ?? 'POST';
  const ts = String(opts.ts ?? NOW - 1000);
  return {
    method,
    url,
    rawBody: Buffer.from(body),
    now: NOW,
    headers: {
      'x-hubspot-signature-v3': signHubSpotV3(opts.secret ?? SECRET, method, url, body, ts),
      'x-hubspot-request-timestamp': ts,
    } as Record<string, string | string[] | undefined>,
  };
}

describe('decodeHubSpotUri', () => {
  it('decodes exactly the characters HubSpot decodes before signing', () => {
    expect(decodeHubSpotUri('https://x.test/a%3Ab%2Fc%3Fd%40e%21f%24g%27h%28i%29j%2Ak%2Cl%3Bm')).toBe(
      "https://x.test/a:b/c?d@e!f$g'h(i)j*k,l;m",
    );
    // Lower-case hex too.
    expect(decodeHubSpotUri('a%3ab%2fc')).toBe('a:b/c');
  });

  it('leaves other encodings alone', () => {
    expect(decodeHubSpotUri('https://x.test/?q=a%20b%26c%3Dd%2Be%23')).toBe('https://x.test/?q=a%20b%26c%3Dd%2Be%23');
  });
});

describe('signHubSpotV3', () => {
  it('is base64 HMAC-SHA256 of method + uri + body + timestamp', () => {
    const expected = createHmac('sha256', SECRET)
      .update('POSThttps://www.example.com/webhook_uri{"example_field":"example_value"}1700000000000')
      .digest('base64');
    expect(signHubSpotV3(SECRET, 'post', 'https://www.example.com/webhook_uri', '{"example_field":"example_value"}', '1700000000000')).toBe(
      expected,
    );
  });
});

describe('verifyHubSpotRequest', () => {
  const url = 'https://coex.example/api/hubspot/card?portalId=12345&userId=7&userEmail=a%40b.co&appId=99';

  it('accepts a valid signature and returns the portal', () => {
    expect(verifyHubSpotRequest(signed(url, '{"a":1}'), SECRET)).toEqual({ ok: true, account: '12345' });
  });

  it('accepts a GET with an empty body', () => {
    expect(verifyHubSpotRequest(signed(url, '', { method: 'GET' }), SECRET)).toEqual({ ok: true, account: '12345' });
  });

  it('verifies against the decoded URI even when the server saw it encoded', () => {
    // HubSpot signs "userEmail=a@b.co"; our server receives "a%40b.co": both must verify.
    const ts = String(NOW - 1000);
    const sig = createHmac('sha256', SECRET)
      .update(`GEThttps://coex.example/card?portalId=1&userEmail=a@b.co${ts}`)
      .digest('base64');
    const res = verifyHubSpotRequest(
      {
        method: 'GET',
        url: 'https://coex.example/card?portalId=1&userEmail=a%40b.co',
        rawBody: Buffer.alloc(0),
        now: NOW,
        headers: { 'X-HubSpot-Signature-v3': sig, 'X-HubSpot-Request-Timestamp': ts },
      },
      SECRET,
    );
    expect(res).toEqual({ ok: true, account: '1' });
  });

  it('rejects a signature made with another secret', () => {
    expect(verifyHubSpotRequest(signed(url, '{}', { secret: 'wrong' }), SECRET)).toMatchObject({ ok: false, status: 401 });
  });

  it('rejects a tampered body', () => {
    const req = signed(url, '{"amount":1}');
    req.rawBody = Buffer.from('{"amount":9}');
    expect(verifyHubSpotRequest(req, SECRET)).toMatchObject({ ok: false, status: 401, reason: 'bad HubSpot v3 signature' });
  });

  it('rejects a tampered portalId', () => {
    const req = signed(url, '{}');
    req.url = url.replace('12345', '99999');
    expect(verifyHubSpotRequest(req, SECRET)).toMatchObject({ ok: false, status: 401 });
  });

  it('rejects a request older than 5 minutes, and one far in the future', () => {
    expect(verifyHubSpotRequest(signed(url, '{}', { ts: NOW - 5 * 60 * 1000 - 1 }), SECRET)).toMatchObject({
      ok: false,
      status: 401,
      reason: expect.stringContaining('5-minute'),
    });
    expect(verifyHubSpotRequest(signed(url, '{}', { ts: NOW + 10 * 60 * 1000 }), SECRET)).toMatchObject({ ok: false, status: 401 });
    expect(verifyHubSpotRequest(signed(url, '{}', { ts: NOW - 4 * 60 * 1000 }), SECRET)).toMatchObject({ ok: true });
  });

  it('rejects missing or malformed headers', () => {
    const req = signed(url, '{}');
    expect(verifyHubSpotRequest({ ...req, headers: {} }, SECRET)).toMatchObject({ ok: false, status: 401 });
    expect(
      verifyHubSpotRequest({ ...req, headers: { ...req.headers, 'x-hubspot-request-timestamp': 'yesterday' } }, SECRET),
    ).toMatchObject({ ok: false, status: 401 });
    expect(verifyHubSpotRequest({ ...req, headers: { ...req.headers, 'x-hubspot-signature-v3': 'short' } }, SECRET)).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it('refuses a validly signed request without a portalId', () => {
    const noPortal = 'https://coex.example/api/hubspot/card?userId=7';
    expect(verifyHubSpotRequest(signed(noPortal, '{}'), SECRET)).toMatchObject({ ok: false, status: 403 });
  });
});

describe('constantTimeEqual', () => {
  it('compares contents and lengths', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
  });
});
