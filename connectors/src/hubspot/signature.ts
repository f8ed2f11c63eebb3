import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ExtensionRequest, VerifyResult } from '../types.js';

/**
 * HubSpot request signature v3 (app cards calling us through `hubspot.fetch`, webhooks):
 * base64(HMAC-SHA256(clientSecret, METHOD + URI + rawBody + timestamp)), timestamp in ms from
 * X-HubSpot-Request-Timestamp. HubSpot signs the URI after decoding these percent-encodings, so we
 * decode exactly the same set (and nothing else) before hashing.
 */
const DECODED_IN_URI: ReadonlyArray<readonly [RegExp, string]> = [
  [/%3A/gi, ':'],
  [/%2F/gi, '/'],
  [/%3F/gi, '?'],
  [/%40/gi, '@'],
  [/%21/gi, '!'],
  [/%24/gi, '$'],
  [/%27/gi, "'"],
  [/%28/gi, '('],
  [/%29/gi, ')'],
  [/%2A/gi, '*'],
  [/%2C/gi, ','],
  [/%3B/gi, ';'],
];

export const HUBSPOT_SIGNATURE_MAX_AGE_MS = 5 * 60 * 1000;

export function decodeHubSpotUri(uri: string): string {
  let out = uri;
  for (const [pattern, char] of DECODED_IN_URI) out = out.replace(pattern, char);
  return out;
}

/** The v3 signature HubSpot would send for this request (also used by tests and the fake). */
export function signHubSpotV3(clientSecret: string, method: string, uri: string, rawBody: Buffer | string, timestamp: string): string {
  const body = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
  return createHmac('sha256', clientSecret)
    .update(`${method.toUpperCase()}${decodeHubSpotUri(uri)}${body}${timestamp}`, 'utf8')
    .digest('base64');
}

function header(headers: ExtensionRequest['headers'], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted) continue;
    return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/** Constant-time string comparison; unequal lengths fail without comparing contents. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ab.length !== bb.length) return false;
  return timingSafeEqual(ab, bb);
}

/**
 * The v3 check itself, on header values the caller extracted: both present, a numeric timestamp
 * within 5 minutes either way (older is a replay; far in the future is forged or badly skewed), and
 * the signature over METHOD + URL + raw body + timestamp, compared in constant time.
 */
export function checkHubSpotV3Signature(
  req: { method: string; url: string; rawBody: Buffer | string; signature: string | undefined; timestamp: string | undefined; now?: number | undefined },
  clientSecret: string,
): { ok: true } | { ok: false; reason: string } {
  const { signature, timestamp } = req;
  if (!signature || !timestamp) return { ok: false, reason: 'missing HubSpot v3 signature headers' };
  if (!/^\d{1,16}$/.test(timestamp)) return { ok: false, reason: 'malformed X-HubSpot-Request-Timestamp' };
  if (Math.abs((req.now ?? Date.now()) - Number(timestamp)) > HUBSPOT_SIGNATURE_MAX_AGE_MS) return { ok: false, reason: 'HubSpot request timestamp outside the 5-minute window' };
  const expected = signHubSpotV3(clientSecret, req.method, req.url, req.rawBody, timestamp);
  if (!constantTimeEqual(expected, signature)) return { ok: false, reason: 'bad HubSpot v3 signature' };
  return { ok: true };
}

/**
 * Verifies a v3-signed request. account = the `portalId` query parameter, trusted only because it is
 * covered by the signature. Does not check which portal it is: callers map the portal to a tenant.
 */
export function verifyHubSpotRequest(req: ExtensionRequest, clientSecret: string): VerifyResult {
  const checked = checkHubSpotV3Signature(
    { method: req.method, url: req.url, rawBody: req.rawBody, signature: header(req.headers, 'x-hubspot-signature-v3'), timestamp: header(req.headers, 'x-hubspot-request-timestamp'), now: req.now },
    clientSecret,
  );
  if (!checked.ok) return { ok: false, status: 401, reason: checked.reason };

  let portalId: string | null;
  try {
    portalId = new URL(req.url).searchParams.get('portalId');
  } catch {
    return { ok: false, status: 401, reason: 'request URL is not absolute' };
  }
  if (!portalId || !/^\d+$/.test(portalId)) return { ok: false, status: 403, reason: 'signed request carries no portalId' };
  return { ok: true, account: portalId };
}
