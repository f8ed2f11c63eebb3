import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { wooOrder, type WooOrder } from './schemas.js';

/**
 * WooCommerce webhooks: `X-WC-Webhook-Signature` = base64(HMAC-SHA256(secret, raw body)). The
 * first delivery after a webhook is created is an unsigned, form-encoded ping (`webhook_id=12`):
 * answer it 200 and do nothing, or WooCommerce never activates the webhook. WooCommerce disables a
 * webhook after 5 failed deliveries in a row, so answer 200 quickly and work asynchronously.
 */

export function verifyWooWebhook(rawBody: Buffer | string, signatureHeader: string | string[] | undefined, secret: string): boolean {
  const signature = Array.isArray(signatureHeader) ? signatureHeader[0] : signatureHeader;
  if (!signature || !secret) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  let given: Buffer;
  try {
    given = Buffer.from(signature.trim(), 'base64');
  } catch {
    return false;
  }
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const ORDER_TOPICS = ['order.created', 'order.updated', 'order.deleted', 'order.restored'] as const;
export type WooOrderTopic = (typeof ORDER_TOPICS)[number];

export type WooWebhookEvent =
  | { kind: 'ping'; webhookId: number }
  | { kind: 'order'; topic: WooOrderTopic; webhookId: number | null; deliveryId: string | null; order: WooOrder }
  | { kind: 'order_deleted'; topic: 'order.deleted'; webhookId: number | null; deliveryId: string | null; orderId: number };

export class WooWebhookError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 401,
  ) {
    super(message);
    this.name = 'WooWebhookError';
  }
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === wanted) return Array.isArray(v) ? v[0] : v;
  return undefined;
}

/**
 * Classifies and checks one webhook delivery. Throws WooWebhookError (401 bad signature, 400
 * malformed) so an HTTP handler can answer with its status; never trusts an unsigned order body.
 */
export function parseWooWebhook(
  rawBody: Buffer | string,
  headers: Record<string, string | string[] | undefined>,
  secret: string,
): WooWebhookEvent {
  const text = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
  const ping = /^webhook_id=(\d+)$/.exec(text.trim());
  if (ping && header(headers, 'x-wc-webhook-topic') === undefined) return { kind: 'ping', webhookId: Number(ping[1]) };

  if (!verifyWooWebhook(rawBody, header(headers, 'x-wc-webhook-signature'), secret)) {
    throw new WooWebhookError('bad or missing X-WC-Webhook-Signature', 401);
  }
  const topic = header(headers, 'x-wc-webhook-topic');
  if (!topic || !(ORDER_TOPICS as readonly string[]).includes(topic)) {
    throw new WooWebhookError(`unsupported webhook topic: ${topic ?? '(none)'}`, 400);
  }
  const webhookId = Number(header(headers, 'x-wc-webhook-id')) || null;
  const deliveryId = header(headers, 'x-wc-webhook-delivery-id') ?? null;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WooWebhookError('webhook body is not JSON', 400);
  }
  if (topic === 'order.deleted') {
    // Deletions carry only the id.
    const del = z.looseObject({ id: z.number().int().positive() }).safeParse(json);
    if (!del.success) throw new WooWebhookError('order.deleted payload without an id', 400);
    return { kind: 'order_deleted', topic, webhookId, deliveryId, orderId: del.data.id };
  }
  const order = wooOrder.safeParse(json);
  if (!order.success) throw new WooWebhookError(`unexpected order payload: ${z.prettifyError(order.error)}`, 400);
  return { kind: 'order', topic: topic as WooOrderTopic, webhookId, deliveryId, order: order.data };
}

// ── the companion plugin's site key ─────────────────────────────────────────────────────────

/** SHA-256 hex of a site key: what CoEx stores, so a database leak does not leak usable keys. */
export function hashWooSiteKey(siteKey: string): string {
  return createHash('sha256').update(siteKey, 'utf8').digest('hex');
}

/** A new random site key for a WooCommerce install, and the hash to store. */
export function issueWooSiteKey(): { siteKey: string; siteKeyHash: string } {
  const siteKey = `coex_sk_${randomBytes(32).toString('base64url')}`;
  return { siteKey, siteKeyHash: hashWooSiteKey(siteKey) };
}

/** Constant-time check of a presented key against the stored hash (equal-length digests). */
export function wooSiteKeyMatches(presented: string, storedHash: string): boolean {
  const a = Buffer.from(hashWooSiteKey(presented), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && b.length === 32 && timingSafeEqual(a, b);
}
