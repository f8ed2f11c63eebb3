import { describe, expect, it } from 'vitest';
import { graphContract } from './fakes/graph-openapi.js';
import { startGraphApiFake, DEFAULT_FAKE_PHONE_NUMBER, DEFAULT_FAKE_TOKEN } from './fakes/graph-api.js';

/** The Graph fake's contract layer against Meta's OpenAPI: what the spec forbids is refused. */
describe("Meta's OpenAPI as the Graph fake's contract", () => {
  const contract = graphContract();
  const headers = { authorization: 'Bearer test-access-token', 'content-type': 'application/json', 'user-agent': 'CoEx/0.1.0' };
  const send = (body: unknown, h: Record<string, string> = headers) => contract.checkRequest('sendMessage', { headers: h, body: JSON.parse(JSON.stringify(body)), rawBody: JSON.stringify(body) });
  const text = { messaging_product: 'whatsapp', recipient_type: 'individual', to: '212612345678', type: 'text', text: { body: 'salam' } };
  const template = (components: unknown[]) => ({
    messaging_product: 'whatsapp',
    recipient_type: 'individual',
    to: '212612345678',
    type: 'template',
    template: { name: 'order_shipped', language: { policy: 'deterministic', code: 'fr' }, components },
  });

  it('accepts the messages the Cloud API documents', () => {
    expect(send(text)).toBeNull();
    expect(send({ ...text, type: 'image', text: undefined, image: { id: 'MEDIA-1', caption: 'had l model' } })).toBeNull();
    expect(send(template([{ type: 'body', parameters: [{ type: 'text', text: 'CMD-1001' }] }]))).toBeNull();
    expect(send({ ...text, type: 'reaction', text: undefined, reaction: { message_id: 'wamid.X', emoji: '👍' } })).toBeNull();
  });

  it('refuses what the spec forbids on /messages', () => {
    const { recipient_type: _r, ...noRecipientType } = text;
    expect(send(noRecipientType)?.errors.join('\n')).toMatch(/recipient_type/);
    const { type: _t, ...noType } = text;
    expect(send(noType)).not.toBeNull();
    expect(send({ ...text, bogus: 1 })?.errors.join('\n')).toMatch(/bogus|unevaluated/);
    expect(send({ ...text, text: { body: 'x', colour: 'red' } })).not.toBeNull();
    expect(send({ ...text, type: 'image', text: undefined, image: { id: 'MEDIA-1', link: 'https://cdn.example/a.jpg' } })).not.toBeNull();
    expect(send(template([{ type: 'footer', parameters: [] }]))).not.toBeNull();
    expect(send(template([{ type: 'body', parameters: [{ type: 'sticker', sticker: {} }] }]))).not.toBeNull();
    expect(send(template([{ type: 'body', parameters: [{ type: 'text' }] }]))).not.toBeNull();
    expect(send({ ...template([]), template: { name: 'x', language: { code: 'fr' } } })?.errors.join('\n')).toMatch(/policy/);
  });

  it('checks the headers: bearer token and JSON content type (any user agent, as the Graph API does)', () => {
    expect(send(text, { ...headers, 'content-type': 'text/plain' })).not.toBeNull();
    expect(send(text, { ...headers, 'content-type': 'application/json; charset=utf-8' })).toBeNull();
    const { authorization: _a, ...noAuth } = headers;
    expect(send(text, noAuth)?.errors.join('\n')).toMatch(/authorization/);
    expect(send(text, { ...headers, 'user-agent': 'CoEx/0.1 (+https://github.com/coex)' })).toBeNull();
  });

  it('checks answers against the response schemas', () => {
    expect(contract.checkResponse('sendMessage', 200, { messaging_product: 'whatsapp', contacts: [{ input: '212612345678', wa_id: '212612345678' }], messages: [{ id: 'wamid.X', message_status: 'accepted' }] })).toBeNull();
    expect(contract.checkResponse('sendMessage', 200, { messaging_product: 'whatsapp', contacts: [{ input: '212612345678', wa_id: '212612345678' }], messages: [{ id: 42 }] })).not.toBeNull();
    expect(contract.checkResponse('subscribeToWaba', 200, { success: true })).toBeNull();
    expect(contract.checkResponse('subscribeToWaba', 200, { ok: true })).not.toBeNull();
  });

  it('is what the fake applies: a send the spec forbids gets Meta\'s 400 / code 100 and is not sent', async () => {
    const fake = await startGraphApiFake();
    try {
      const post = (body: unknown, contentType = 'application/json') =>
        fetch(`${fake.url}/v23.0/${DEFAULT_FAKE_PHONE_NUMBER.id}/messages`, { method: 'POST', headers: { authorization: `Bearer ${DEFAULT_FAKE_TOKEN}`, 'content-type': contentType }, body: JSON.stringify(body) });
      const both = await post({ ...text, type: 'image', text: undefined, image: { id: 'MEDIA-1', link: 'https://cdn.example/a.jpg' } });
      expect(both.status).toBe(400);
      const error = ((await both.json()) as { error: { code: number; error_data: { details: string } } }).error;
      expect(error.code).toBe(100);
      expect(error.error_data.details).toContain("Meta's OpenAPI");
      expect((await post(text, 'text/plain')).status).toBe(400);
      expect(fake.contractViolations).toHaveLength(2);
      expect(fake.state.sent).toHaveLength(0);
      expect((await post(text)).status).toBe(200);
      expect(fake.state.sent).toHaveLength(1);
      expect(fake.contractViolations).toHaveLength(2);
    } finally {
      await fake.close();
    }
  });
});
