import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COEX_SERVER_URL } from './config.js';
import { botRequest, CoexApiError, createCoexClient, describeError, normalizeServerUrl, replyRequest, resolveServerUrl, threadRequest } from './requests.js';
import { emulateHubSpotFetch, startCoexExtApiStub, type CoexExtApiStub } from '../../../../test/coex-ext-api-stub.js';
import { sampleThread } from '../../../../test/fixtures.js';

// Request building, and the client over an emulation of hubspot.fetch against the extension API stub.

describe('requests', () => {
  it('accepts only HTTPS servers (plain HTTP on loopback for development)', () => {
    expect(normalizeServerUrl('https://coex.example.com/')).toBe('https://coex.example.com');
    expect(normalizeServerUrl('https://example.com/coex//')).toBe('https://example.com/coex');
    expect(normalizeServerUrl('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    expect(() => normalizeServerUrl('http://coex.example.com')).toThrow(/must use https/);
    expect(() => normalizeServerUrl('coex.example.com')).toThrow(/not a valid URL/);
    expect(() => normalizeServerUrl('https://coex.example.com/?token=1')).toThrow(/query/);
  });

  it('takes the server URL from a config-profile variable when one is set', () => {
    expect(resolveServerUrl({ COEX_SERVER_URL: 'https://staging.coex.example.com/' }, COEX_SERVER_URL)).toBe('https://staging.coex.example.com');
    expect(resolveServerUrl({ COEX_SERVER_URL: '  ' }, COEX_SERVER_URL)).toBe(COEX_SERVER_URL);
    expect(resolveServerUrl({ COEX_SERVER_URL: 42 }, COEX_SERVER_URL)).toBe(COEX_SERVER_URL);
    expect(resolveServerUrl(undefined, COEX_SERVER_URL)).toBe(COEX_SERVER_URL);
  });

  it('builds the three calls of the contract', () => {
    expect(threadRequest('https://coex.example.com', '+212 612')).toEqual({
      url: 'https://coex.example.com/ext/v1/hubspot/thread?phone=%2B212%20612',
      options: { method: 'GET', timeout: 10_000 },
    });
    expect(botRequest('https://coex.example.com', 'a/b', 'pause')).toEqual({
      url: 'https://coex.example.com/ext/v1/hubspot/threads/a%2Fb/bot',
      options: { method: 'POST', body: { action: 'pause' }, timeout: 15_000 },
    });
    expect(replyRequest('https://coex.example.com', 't1', { kind: 'text', text: '  Salam  ' }, 'ref-1').options.body).toEqual({ text: 'Salam', client_ref: 'ref-1' });
    expect(replyRequest('https://coex.example.com', 't1', { kind: 'template', name: 'follow_up', language: 'fr' }, 'ref-2')).toEqual({
      url: 'https://coex.example.com/ext/v1/hubspot/threads/t1/messages',
      options: { method: 'POST', body: { template: { name: 'follow_up', language: 'fr' }, client_ref: 'ref-2' }, timeout: 15_000 },
    });
  });

  it('refuses empty or over-long replies before sending', () => {
    expect(() => replyRequest('https://c.example', 't', { kind: 'text', text: '   ' }, 'r')).toThrow('the reply is empty');
    expect(() => replyRequest('https://c.example', 't', { kind: 'text', text: 'x'.repeat(4097) }, 'r')).toThrow(/4097 characters; WhatsApp allows 4096/);
    expect(() => replyRequest('https://c.example', 't', { kind: 'template', name: '', language: 'fr' }, 'r')).toThrow('choose a template');
    expect(() => threadRequest('https://c.example', ' ')).toThrow(/phone number is required/);
  });
});

describe('client over hubspot.fetch (emulated) against the extension API stub', () => {
  let stub: CoexExtApiStub;
  beforeEach(async () => {
    stub = await startCoexExtApiStub({ threads: { '+212612345678': sampleThread() } });
  });
  afterEach(async () => {
    await stub.close();
  });

  it('loads and validates a thread; HubSpot adds who is asking, the card does not', async () => {
    const hs = emulateHubSpotFetch({ permittedUrls: [stub.url] });
    const client = createCoexClient({ serverUrl: stub.url, fetch: hs.fetch });
    const data = await client.loadThread('+212612345678');
    expect(data.thread?.contact_name).toBe('Salma Benali');
    expect(data.messages).toHaveLength(7);
    expect(stub.requests[0]).toMatchObject({ method: 'GET', path: '/ext/v1/hubspot/thread', query: { phone: '+212612345678', portalId: '123', userId: '456', userEmail: 'agent@example.com', appId: '789' } });
    expect((await client.loadThread('0600000000')).thread).toBeNull();
  });

  it('sends one message even when HubSpot retries after a 5xx (client_ref)', async () => {
    const hs = emulateHubSpotFetch({ permittedUrls: [stub.url] });
    const client = createCoexClient({ serverUrl: stub.url, fetch: hs.fetch, clientRef: () => 'fixed-ref' });
    // The first attempt is lost behind a 502 after the server may have acted; HubSpot retries it.
    stub.failNext(1, 502, { error: 'bad gateway' });
    await client.sendReply(sampleThread().id, { kind: 'text', text: 'Salam' });
    expect(hs.sent.map((s) => s.method)).toEqual(['POST', 'POST']);
    expect(hs.sent[0]!.body).toBe(hs.sent[1]!.body);
    expect(JSON.parse(hs.sent[1]!.body!)).toEqual({ text: 'Salam', client_ref: 'fixed-ref' });
    await client.sendReply(sampleThread().id, { kind: 'text', text: 'Salam' });
    expect(stub.threads.get('212612345678')!.messages.filter((m) => m.text === 'Salam')).toHaveLength(1);
  });

  it('turns server refusals into errors a person can act on', async () => {
    const hs = emulateHubSpotFetch({ permittedUrls: [stub.url] });
    const client = createCoexClient({ serverUrl: stub.url, fetch: hs.fetch });
    stub.threads.get('212612345678')!.window = { open: false, closes_at: '2026-11-24T10:00:00.000Z' };
    const refused = await client.sendReply(sampleThread().id, { kind: 'text', text: 'late' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CoexApiError);
    expect(refused).toMatchObject({ kind: 'http', status: 409, code: 'window_closed' });
    expect(describeError(refused)).toMatch(/only an approved template/);

    stub.failNext(1, 403, { error: 'portal 123 is not connected', code: 'unknown_account' });
    expect(describeError(await client.loadThread('+212612345678').catch((e: unknown) => e))).toBe('This HubSpot account is not connected to a CoEx workspace.');
    stub.failNext(1, 401, { error: 'wrong signature', code: 'bad_signature' });
    expect(describeError(await client.loadThread('+212612345678').catch((e: unknown) => e))).toMatch(/app secret on the server does not match/);
    stub.failNext(1, 401, { error: 'this signature was already used', code: 'replayed' });
    expect(describeError(await client.loadThread('+212612345678').catch((e: unknown) => e))).toMatch(/already received this request/);
    // An error without a code still reads by its status.
    stub.failNext(1, 401, { error: 'nope' });
    expect(describeError(await client.loadThread('+212612345678').catch((e: unknown) => e))).toMatch(/not connected to a CoEx workspace, or the app's secret/);
    expect(describeError(await client.loadThread('12-34').catch((e: unknown) => e))).toBe('The phone number on this record is not a valid phone number.');

    stub.failNext(2, 503, { error: 'down' });
    expect(describeError(await client.loadThread('+212612345678').catch((e: unknown) => e))).toBe('The CoEx server had a problem (HTTP 503). Try again in a moment.');

    stub.rawThreadResponse = { thread: null, messages: [{ id: 1 }], sync: {} };
    const bad = await client.loadThread('+212612345678').catch((e: unknown) => e);
    expect(bad).toMatchObject({ kind: 'bad_response' });
    expect((bad as Error).message).toMatch(/unexpected thread response at messages\.0\./);

    expect(await client.setBot('no-such-thread', 'pause').catch((e: unknown) => describeError(e))).toMatch(/does not know this conversation/);
  });

  it('reports an unreachable server as a network problem', async () => {
    const url = stub.url;
    await stub.close();
    const client = createCoexClient({ serverUrl: url, fetch: emulateHubSpotFetch({ permittedUrls: [url] }).fetch });
    const error = await client.loadThread('+212612345678').catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'network', status: null });
    expect(describeError(error)).toMatch(/Could not reach the CoEx server/);
    stub = await startCoexExtApiStub(); // for afterEach
  });

  it('is refused by hubspot.fetch for a URL outside permittedUrls', async () => {
    const client = createCoexClient({ serverUrl: stub.url, fetch: emulateHubSpotFetch({ permittedUrls: ['https://coex.example.com'] }).fetch });
    await expect(client.loadThread('+212612345678')).rejects.toMatchObject({ kind: 'network', message: expect.stringContaining('not in permittedUrls.fetch') });
    expect(stub.requests).toHaveLength(0);
  });
});
