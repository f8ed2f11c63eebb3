import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COEX_SERVER_URL } from './config.js';
import {
  botRequest,
  campaignsRequest,
  CoexApiError,
  createCoexClient,
  describeCampaignsError,
  describeError,
  describeTemplatesError,
  normalizeServerUrl,
  replyRequest,
  resolveServerUrl,
  templatesRequest,
  threadRequest,
  type CoexFetch,
} from './requests.js';
import { emulateHubSpotFetch, startCoexExtApiStub, STUB_PHONE_NUMBER_ID, type CoexExtApiStub } from '../../../../test/coex-ext-api-stub.js';
import { sampleCampaigns, sampleTemplates, sampleThread } from '../../../../test/fixtures.js';

// Request building, and the client over an emulation of hubspot.fetch against the extension API stub.

const SAMPLE_PHONE = '+212612345678';

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

  it('builds the template and campaign reads', () => {
    expect(templatesRequest('https://coex.example.com/', '106540352242922')).toEqual({
      url: 'https://coex.example.com/ext/v1/hubspot/templates?phone_number_id=106540352242922',
      options: { method: 'GET', timeout: 10_000 },
    });
    expect(templatesRequest('https://coex.example.com', null).url).toBe('https://coex.example.com/ext/v1/hubspot/templates');
    expect(() => templatesRequest('https://coex.example.com', '1065&x=1')).toThrow(/not a WhatsApp phone number id/);
    expect(campaignsRequest('https://coex.example.com', '+212 612')).toEqual({
      url: 'https://coex.example.com/ext/v1/hubspot/campaigns?phone=%2B212%20612&limit=5',
      options: { method: 'GET', timeout: 10_000 },
    });
    expect(() => campaignsRequest('https://coex.example.com', '')).toThrow(/phone number is required/);
  });

  it('sends template body parameters as the contract says: array (positional) or object (named)', () => {
    const body = (reply: Parameters<typeof replyRequest>[2]) => replyRequest('https://c.example', 't1', reply, 'ref').options.body;
    expect(body({ kind: 'template', name: 'order_shipped', language: 'fr', bodyParameters: ['Salma', 'CMD-1042'] })).toEqual({
      template: { name: 'order_shipped', language: 'fr', body_parameters: ['Salma', 'CMD-1042'] },
      client_ref: 'ref',
    });
    expect(body({ kind: 'template', name: 'delivery_slot', language: 'fr', bodyParameters: { first_name: 'Salma', slot: 'demain' } })).toEqual({
      template: { name: 'delivery_slot', language: 'fr', body_parameters: { first_name: 'Salma', slot: 'demain' } },
      client_ref: 'ref',
    });
    // No placeholders: no body_parameters at all (the server's schema refuses empty values, not absent ones).
    expect(body({ kind: 'template', name: 'hello_world', language: 'en_US', bodyParameters: [] })).toEqual({ template: { name: 'hello_world', language: 'en_US' }, client_ref: 'ref' });
    expect(body({ kind: 'template', name: 'hello_world', language: 'en_US', bodyParameters: {} })).toEqual({ template: { name: 'hello_world', language: 'en_US' }, client_ref: 'ref' });
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

  it('retries a reply once with the same client_ref when HubSpot\'s own retry was refused as replayed', async () => {
    const hs = emulateHubSpotFetch({ permittedUrls: [stub.url] });
    const client = createCoexClient({ serverUrl: stub.url, fetch: hs.fetch, clientRef: () => 'ref-replayed' });
    // CoEx sent the message but its answer was lost (502); hubspot.fetch retried with the first
    // attempt's signature, which CoEx refuses as replayed. The card asks once more, signed afresh.
    stub.actThenAnswer(502, { error: 'bad gateway' });
    stub.failNext(1, 401, { error: 'this signature was already used', code: 'replayed' });
    await client.sendReply(sampleThread().id, { kind: 'template', name: 'order_shipped', language: 'fr', bodyParameters: ['Salma', 'CMD-1042'] });

    const posts = stub.requests.filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(3);
    expect(new Set(posts.map((p) => (p.body as { client_ref: string }).client_ref))).toEqual(new Set(['ref-replayed']));
    // Sent once: the third request was answered with the first message (duplicate: true).
    expect(stub.threads.get('212612345678')!.messages.filter((m) => m.text === 'Bonjour Salma, votre commande CMD-1042 est en route.')).toHaveLength(1);
  });

  it('retries a reply once with the same client_ref after a network failure, but not after a refusal', async () => {
    const hs = emulateHubSpotFetch({ permittedUrls: [stub.url] });
    let calls = 0;
    // The server acts, then the connection drops before the answer reaches HubSpot (twice, so hubspot.fetch gives up).
    const flaky: CoexFetch = async (url, options) => {
      calls += 1;
      if (calls === 1) {
        await hs.fetch(url, options);
        throw new TypeError('fetch failed: socket hang up');
      }
      return hs.fetch(url, options);
    };
    const client = createCoexClient({ serverUrl: stub.url, fetch: flaky, clientRef: () => 'ref-network' });
    await client.sendReply(sampleThread().id, { kind: 'text', text: 'Wach wslat?' });
    expect(calls).toBe(2);
    expect(stub.requests.filter((r) => r.method === 'POST').map((r) => r.body)).toEqual([
      { text: 'Wach wslat?', client_ref: 'ref-network' },
      { text: 'Wach wslat?', client_ref: 'ref-network' },
    ]);
    expect(stub.threads.get('212612345678')!.messages.filter((m) => m.text === 'Wach wslat?')).toHaveLength(1);

    // Two network failures in a row: reported, not retried forever.
    const down: CoexFetch = async () => {
      throw new TypeError('fetch failed');
    };
    let downCalls = 0;
    const counting: CoexFetch = (url, o) => {
      downCalls += 1;
      return down(url, o);
    };
    await expect(createCoexClient({ serverUrl: stub.url, fetch: counting }).sendReply(sampleThread().id, { kind: 'text', text: 'x' })).rejects.toMatchObject({ kind: 'network' });
    expect(downCalls).toBe(2);

    // An HTTP refusal would be refused again: one request only.
    const before = stub.requests.length;
    stub.failNext(1, 422, { error: 'template refused', code: 'invalid_message' });
    await expect(client.sendReply(sampleThread().id, { kind: 'text', text: 'again' })).rejects.toMatchObject({ status: 422, code: 'invalid_message' });
    expect(stub.requests.length - before).toBe(1);
  });

  it('loads the approved templates of the thread\'s number and the campaign reports of the phone', async () => {
    stub.campaigns.set('212612345678', sampleCampaigns());
    const hs = emulateHubSpotFetch({ permittedUrls: [stub.url] });
    const client = createCoexClient({ serverUrl: stub.url, fetch: hs.fetch });
    const templates = await client.loadTemplates(STUB_PHONE_NUMBER_ID);
    expect(templates.templates.map((t) => `${t.name}/${t.language}/${t.sendable}`)).toEqual(['delivery_slot/fr/true', 'hello_world/en_US/true', 'order_shipped/fr/true', 'promo_photo/ar/false']);
    expect(stub.requests.at(-1)).toMatchObject({ path: '/ext/v1/hubspot/templates', query: { phone_number_id: STUB_PHONE_NUMBER_ID, portalId: '123' } });

    const campaigns = await client.loadCampaigns('+212 612 345 678');
    expect(campaigns.campaigns.map((c) => c.recipient?.status)).toEqual(['failed', 'sent']);
    expect(campaigns.opt_out?.detail).toBe('baraka');
    expect(stub.requests.at(-1)).toMatchObject({ path: '/ext/v1/hubspot/campaigns', query: { phone: '+212 612 345 678', limit: '5' } });
    expect(await client.loadCampaigns('+212699999999')).toEqual({ campaigns: [], opt_out: null });

    // Errors specific to these reads.
    expect(describeTemplatesError(await client.loadTemplates('999').catch((e: unknown) => e))).toMatch(/no longer part of your CoEx workspace/);
    stub.failNext(1, 502, { error: 'WhatsApp did not return the templates; try again', code: 'templates_unavailable' });
    stub.failNext(1, 502, { error: 'WhatsApp did not return the templates; try again', code: 'templates_unavailable' });
    expect(describeTemplatesError(await client.loadTemplates(null).catch((e: unknown) => e))).toMatch(/did not give CoEx the list of approved templates/);
    stub.failNext(1, 409, { error: 'this account has no WhatsApp number yet', code: 'no_number' });
    expect(describeTemplatesError(await client.loadTemplates(null).catch((e: unknown) => e))).toBe('This CoEx workspace has no WhatsApp number connected yet.');
    stub.failNext(2, 501, { error: 'template listing is not configured on this server', code: 'templates_not_configured' }); // a 5xx: hubspot.fetch tries twice
    expect(describeTemplatesError(await client.loadTemplates(null).catch((e: unknown) => e))).toBe('The CoEx server does not offer this: template listing is not configured on this server');
    stub.failNext(1, 404, { error: 'not found' });
    expect(describeCampaignsError(await client.loadCampaigns(SAMPLE_PHONE).catch((e: unknown) => e))).toBe('This CoEx server does not report campaigns yet: update it.');

    stub.templates = { ...sampleTemplates(), templates: [{ ...sampleTemplates().templates[0]!, parameters: { format: 'mixed' as 'named', names: [] } }] };
    expect(await client.loadTemplates(null).catch((e: unknown) => (e as Error).message)).toMatch(/^unexpected templates response at templates\.0\.parameters\.format/);
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
    // A replayed read is asked once more (a new hubspot.fetch call is signed afresh); twice in a row is reported.
    stub.failNext(2, 401, { error: 'this signature was already used', code: 'replayed' });
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
