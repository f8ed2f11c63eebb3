import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Meta signs each webhook with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(raw body, app secret)>`.
 * The check runs on the exact bytes received (re-serialised JSON would not match) and compares
 * in constant time.
 */
export function signBody(body: Buffer | string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

export function verifySignature(rawBody: Buffer, header: string | undefined, appSecret: string): boolean {
  if (!header) return false;
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!match) return false;
  const given = Buffer.from(match[1]!, 'hex');
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}
