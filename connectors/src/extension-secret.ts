import { createHash, timingSafeEqual } from 'node:crypto';
import type { VerifyResult } from './types.js';

/**
 * Shared by the Odoo and Zoho connectors. Per-install secrets the in-CRM UIs send us (Odoo addon key, Zoho widget token) are stored as
 * `sha256:<hex>` so a database leak does not hand them out, and compared in constant time.
 */

export function hashExtensionSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
}

const HASH_RE = /^sha256:[0-9a-f]{64}$/;

export function isExtensionSecretHash(value: string): boolean {
  return HASH_RE.test(value);
}

/** A configured secret as it is kept: a stored `sha256:` hash as is, a plain value (env, older rows) hashed, none → null. */
export function storedSecretHash(secret: string | undefined): string | null {
  return secret === undefined ? null : isExtensionSecretHash(secret) ? secret : hashExtensionSecret(secret);
}

/** Constant-time check of `presented` against a stored `sha256:<hex>` hash (digests have equal length). */
export function extensionSecretMatches(presented: string, storedHash: string): boolean {
  if (!isExtensionSecretHash(storedHash)) return false;
  const expected = Buffer.from(storedHash.slice('sha256:'.length), 'hex');
  const actual = createHash('sha256').update(presented, 'utf8').digest();
  return timingSafeEqual(actual, expected);
}

/** One header value, case-insensitively; undefined when absent, repeated, or empty. */
export function singleHeader(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted) continue;
    if (Array.isArray(value)) return value.length === 1 && value[0] !== '' ? value[0] : undefined;
    return value === undefined || value === '' ? undefined : value;
  }
  return undefined;
}

/**
 * Checks the per-install secret a UI sends in `header` against its stored hash: 403 when none is
 * configured (`notConfigured` says what), 401 when missing or wrong; `account` on success.
 */
export function verifyInstallSecret(
  headers: Record<string, string | string[] | undefined>,
  header: string,
  storedHash: string | null,
  account: string,
  notConfigured: string,
): VerifyResult {
  if (storedHash === null) return { ok: false, status: 403, reason: notConfigured };
  const presented = singleHeader(headers, header);
  if (presented === undefined) return { ok: false, status: 401, reason: `missing ${header} header` };
  if (!extensionSecretMatches(presented, storedHash)) return { ok: false, status: 401, reason: `invalid ${header}` };
  return { ok: true, account };
}
