import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashWooSiteKey, issueWooSiteKey, parseWooWebhook, wooSiteKeyMatches, verifyWooWebhook, WooWebhookError } from './webhook.js';

const SECRET = 'whsec_test';
const sign = (body: string, secret = SECRET) => createHmac('sha256', secret).update(body).digest('base64');

const ORDER = {
  id: 1234,
  number: '1234',
  status: 'processing',
  currency: 'MAD',
  total: '250.00',
  customer_id: 0,
  date_created_gmt: '2026-03-01T10:00:00',
  billing: { first_name: 'Amina', last_name: 'E.', email: 'a@example.ma', phone: '06 12 34 56 78' },
  shipping: { first_name: 'Amina', last_name: 'E.' },
  line_items: [{ id: 1, name: 'Tajine', quantity: 1 }],
};

function headers(body: string, topic = 'order.created', extra: Record<string, string> = {}) {
  return {
    'x-wc-webhook-source': 'https://shop.example/',
    'x-wc-webhook-topic': topic,
    'x-wc-webhook-resource': 'order',
    'x-wc-webhook-event': topic.split('.')[1]!,
    'x-wc-webhook-signature': sign(body),
    'x-wc-webhook-id': '12',
    'x-wc-webhook-delivery-id': 'd-77',
    ...extra,
  };
}

describe('verifyWooWebhook', () => {
  const body = JSON.stringify(ORDER);

  it('accepts the base64 HMAC-SHA256 of the raw body', () => {
    expect(verifyWooWebhook(body, sign(body), SECRET)).toBe(true);
    expect(verifyWooWebhook(Buffer.from(body), [sign(body)], SECRET)).toBe(true);
  });

  it('rejects a wrong secret, a tampered body, and missing or garbage signatures', () => {
    expect(verifyWooWebhook(body, sign(body, 'other'), SECRET)).toBe(false);
    expect(verifyWooWebhook(body.replace('250.00', '1.00'), sign(body), SECRET)).toBe(false);
    expect(verifyWooWebhook(body, undefined, SECRET)).toBe(false);
    expect(verifyWooWebhook(body, 'not base64 at all', SECRET)).toBe(false);
    expect(verifyWooWebhook(body, sign(body), '')).toBe(false);
  });
});

describe('parseWooWebhook', () => {
  it('recognises the unsigned form-encoded ping', () => {
    expect(parseWooWebhook('webhook_id=12', { 'content-type': 'application/x-www-form-urlencoded' }, SECRET)).toEqual({
      kind: 'ping',
      webhookId: 12,
    });
  });

  it('parses a signed order.created / order.updated delivery', () => {
    const body = JSON.stringify(ORDER);
    const created = parseWooWebhook(body, headers(body), SECRET);
    expect(created).toMatchObject({ kind: 'order', topic: 'order.created', webhookId: 12, deliveryId: 'd-77', order: { id: 1234 } });
    if (created.kind !== 'order') throw new Error('unreachable');
    expect(created.order.billing.phone).toBe('06 12 34 56 78');
    expect(parseWooWebhook(body, headers(body, 'order.updated'), SECRET)).toMatchObject({ kind: 'order', topic: 'order.updated' });
  });

  it('parses order.deleted (id only)', () => {
    const body = JSON.stringify({ id: 1234 });
    expect(parseWooWebhook(body, headers(body, 'order.deleted'), SECRET)).toMatchObject({ kind: 'order_deleted', orderId: 1234 });
  });

  it('rejects bad signatures with 401 and malformed payloads with 400', () => {
    const body = JSON.stringify(ORDER);
    const expectError = (fn: () => unknown, status: number) => {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(WooWebhookError);
        expect((err as WooWebhookError).status).toBe(status);
        return;
      }
      throw new Error('expected WooWebhookError');
    };
    expectError(() => parseWooWebhook(body, { ...headers(body), 'x-wc-webhook-signature': sign(body, 'x') }, SECRET), 401);
    // A "ping" that claims a topic is not a ping: it must be signed.
    expectError(() => parseWooWebhook('webhook_id=12', { 'x-wc-webhook-topic': 'order.created' }, SECRET), 401);
    expectError(() => parseWooWebhook(body, headers(body, 'product.created'), SECRET), 400);
    const notJson = 'hello';
    expectError(() => parseWooWebhook(notJson, headers(notJson), SECRET), 400);
    const noBilling = JSON.stringify({ id: 1, status: 'x' });
    expectError(() => parseWooWebhook(noBilling, headers(noBilling), SECRET), 400);
  });
});

describe('site keys', () => {
  it('issues random keys and matches them against the stored hash only', () => {
    const a = issueWooSiteKey();
    const b = issueWooSiteKey();
    expect(a.siteKey).not.toBe(b.siteKey);
    expect(a.siteKey.startsWith('coex_sk_')).toBe(true);
    expect(a.siteKeyHash).toBe(hashWooSiteKey(a.siteKey));
    expect(a.siteKeyHash).toMatch(/^[0-9a-f]{64}$/);
    expect(wooSiteKeyMatches(a.siteKey, a.siteKeyHash)).toBe(true);
    expect(wooSiteKeyMatches(b.siteKey, a.siteKeyHash)).toBe(false);
    expect(wooSiteKeyMatches(a.siteKey, 'not-a-hash')).toBe(false);
    expect(wooSiteKeyMatches('', a.siteKeyHash)).toBe(false);
  });
});
