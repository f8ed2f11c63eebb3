import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signBody, verifySignature } from './signature.js';

// Meta's X-Hub-Signature-256 over the raw bytes (coex-spec.md §1).
describe('webhook signature', () => {
  const secret = 'app-secret';
  const raw = Buffer.from('{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}],"t":"\\u00e9"}');
  const hex = createHmac('sha256', secret).update(raw).digest('hex');

  it('signs as Meta does: sha256=<hex HMAC-SHA256 of the bytes>', () => {
    expect(signBody(raw, secret)).toBe(`sha256=${hex}`);
    expect(signBody(raw.toString('utf8'), secret)).toBe(`sha256=${hex}`);
  });

  it('accepts the right signature, in either hex case and with surrounding spaces', () => {
    expect(verifySignature(raw, `sha256=${hex}`, secret)).toBe(true);
    expect(verifySignature(raw, `sha256=${hex.toUpperCase()}`, secret)).toBe(true);
    expect(verifySignature(raw, `  sha256=${hex} `, secret)).toBe(true);
  });

  it('refuses a missing, malformed, truncated, padded or wrong signature, and other bytes or secrets', () => {
    expect(verifySignature(raw, undefined, secret)).toBe(false);
    expect(verifySignature(raw, '', secret)).toBe(false);
    expect(verifySignature(raw, hex, secret)).toBe(false);
    expect(verifySignature(raw, `sha1=${hex}`, secret)).toBe(false);
    expect(verifySignature(raw, `sha256=${hex.slice(0, 63)}`, secret)).toBe(false);
    expect(verifySignature(raw, `sha256=${hex}0`, secret)).toBe(false);
    expect(verifySignature(raw, `xsha256=${hex}`, secret)).toBe(false);
    expect(verifySignature(raw, `sha256=${hex.slice(0, 62)}zz`, secret)).toBe(false);
    expect(verifySignature(raw, `sha256=${'0'.repeat(64)}`, secret)).toBe(false);
    expect(verifySignature(Buffer.from(JSON.stringify(JSON.parse(raw.toString('utf8')))), `sha256=${hex}`, secret)).toBe(false);
    expect(verifySignature(raw, `sha256=${hex}`, 'other-secret')).toBe(false);
  });
});
