import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ZohoConnector, ZohoOAuth, hashZohoInstallToken, type ZohoConnectorConfig } from '../connectors/src/zoho/index.js';
import { CrmError, type ArchivedMessage, type BotStateChange, type MarketingConsentChange, type TranscriptNote } from '../connectors/src/types.js';
import { startZohoFake, type ZohoFake } from './fakes/zoho.js';
import { archivedMessage, crmError } from './helpers/crm-cases.js';

const INSTALL_TOKEN = 'widget-install-token-9d2f61';

const msg = (id: string, overrides: Partial<ArchivedMessage> = {}): ArchivedMessage => archivedMessage(id, { customerName: 'Amina El Idrissi', ...overrides });
const rejection = crmError;

describe('ZohoConnector', () => {
  let fake: ZohoFake;
  let connector: ZohoConnector;

  function makeConnector(overrides: Partial<ZohoConnectorConfig> = {}): ZohoConnector {
    return new ZohoConnector({
      apiDomain: fake.apiUrl,
      accountsServer: fake.accountsUrl,
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      refreshToken: fake.issueRefreshToken(),
      module: 'Contacts',
      orgId: 'org-778899',
      installToken: hashZohoInstallToken(INSTALL_TOKEN),
      allowedAccountsServers: [fake.accountsUrl],
      allowedApiDomains: [fake.apiUrl],
      ...overrides,
    });
  }

  const api = () => fake.apiRequests();
  const noteWrites = () => api().filter((r) => r.method === 'POST' && r.path === '/crm/v8/Notes');

  beforeEach(async () => {
    fake = await startZohoFake();
    connector = makeConnector();
  });
  afterEach(async () => {
    await fake.close();
  });

  describe('findOrCreateContact', () => {
    it('finds a contact with the phone search and sends the Zoho-oauthtoken header', async () => {
      const id = fake.addRecord('Contacts', { Last_Name: 'El Idrissi', Phone: '+212 612-345678' });
      const ref = await connector.findOrCreateContact('+212612345678', 'Amina');
      expect(ref).toEqual({ id, object: 'Contacts', created: false });
      const search = api()[0];
      expect(search?.path).toBe('/crm/v8/Contacts/search');
      expect(search?.query['phone']).toBe('+212612345678');
      expect(search?.headers['authorization']).toMatch(/^Zoho-oauthtoken 1000\./);
    });

    it('treats the phone search 204 as no match and finds 06… through criteria, without a duplicate', async () => {
      const id = fake.addRecord('Contacts', { Last_Name: 'El Idrissi', Mobile: '0612345678' });
      const ref = await connector.findOrCreateContact('+212612345678', 'Amina');
      expect(ref).toEqual({ id, object: 'Contacts', created: false });
      const [phoneSearch, criteriaSearch] = api();
      expect(phoneSearch?.status).toBe(204);
      expect(criteriaSearch?.query['criteria']).toContain('(Mobile:equals:0612345678)');
      expect(criteriaSearch?.query['criteria']).toMatch(/^\(\(Phone:equals:\+212612345678\)or\(Mobile:equals:\+212612345678\)or/);
      expect(api().filter((r) => r.method === 'POST')).toHaveLength(0);
      expect(fake.records('Contacts')).toHaveLength(1);
    });

    it('creates a contact with split names and E.164 Phone and Mobile, then finds it again', async () => {
      const ref = await connector.findOrCreateContact('+212612345678', 'Amina El Idrissi');
      expect(ref.created).toBe(true);
      const create = api().find((r) => r.method === 'POST');
      expect(create?.path).toBe('/crm/v8/Contacts');
      expect(create?.body).toEqual({ data: [{ First_Name: 'Amina', Last_Name: 'El Idrissi', Phone: '+212612345678', Mobile: '+212612345678' }] });
      expect(create?.status).toBe(201);
      expect(fake.records('Contacts')[0]?.id).toBe(ref.id);

      const again = await connector.findOrCreateContact('0612345678', null);
      expect(again).toEqual({ ...ref, created: false });
      expect(fake.records('Contacts')).toHaveLength(1);
    });

    it('does not duplicate a contact it just created while Zoho search has not indexed it yet', async () => {
      let clock = Date.parse('2026-11-25T10:00:00Z');
      await fake.close();
      fake = await startZohoFake({ now: () => clock, searchIndexLagMs: 60_000 });
      const config: ZohoConnectorConfig = {
        apiDomain: fake.apiUrl,
        accountsServer: fake.accountsUrl,
        clientId: fake.clientId,
        clientSecret: fake.clientSecret,
        refreshToken: fake.issueRefreshToken(),
        module: 'Contacts',
        orgId: 'org',
        allowedAccountsServers: [fake.accountsUrl],
        allowedApiDomains: [fake.apiUrl],
      };
      const c = new ZohoConnector(config, { now: () => clock });
      const created = await c.findOrCreateContact('+212612345678', 'Amina');
      clock += 5_000;
      const again = await c.findOrCreateContact('+212612345678', 'Amina');
      expect(again).toEqual({ ...created, created: false });
      expect(fake.records('Contacts')).toHaveLength(1);
      // Once indexed, a fresh connector finds it through search.
      clock += 120_000;
      const other = new ZohoConnector(config, { now: () => clock });
      expect((await other.findOrCreateContact('+212612345678', null)).id).toBe(created.id);
    });

    it('uses the number as Last_Name without a name, and fills Company for Leads', async () => {
      const leads = makeConnector({ module: 'Leads' });
      const ref = await leads.findOrCreateContact('+212612345678', null);
      expect(ref.object).toBe('Leads');
      expect(fake.records('Leads')[0]).toMatchObject({ Last_Name: '+212612345678', Company: '+212612345678' });
    });

    it('ignores a search hit whose number is not the same line', async () => {
      // Zoho "equals" with several conditions can be fuzzy; libphonenumber has the last word.
      fake.addRecord('Contacts', { Last_Name: 'Far', Phone: '+33612345678' });
      const ref = await connector.findOrCreateContact('+212612345678', 'Amina');
      expect(ref.created).toBe(true);
    });
  });

  describe('archive', () => {
    it('writes one note per customer with every message, linked to the contact', async () => {
      const contactId = fake.addRecord('Contacts', { Last_Name: 'El Idrissi', Phone: '+212612345678' });
      const result = await connector.archive([
        msg('m1', { text: 'Salam, bghit n3ref taman', timestamp: '2026-03-01T10:00:00Z' }),
        msg('m2', { direction: 'outbound', origin: 'agent', text: '120 MAD', timestamp: '2026-03-01T10:01:00Z', status: 'read' }),
        msg('m3', { type: 'audio', text: null, timestamp: '2026-03-01T10:02:00Z', transcript: { text: 'wakha', language: 'ary' } }),
      ]);
      const notes = fake.notesOf(contactId);
      expect(notes).toHaveLength(1);
      const note = notes[0];
      expect(note?.Parent_Id).toEqual({ module: { api_name: 'Contacts' }, id: contactId });
      expect(note?.Note_Title).toBe('WhatsApp · 3 messages · 2026-03-01');
      expect(note?.Note_Content).toContain('← Customer: Salam, bghit n3ref taman');
      expect(note?.Note_Content).toContain('→ AI agent (read): 120 MAD');
      expect(note?.Note_Content).toContain('[audio]');
      expect(note?.Note_Content).toContain('Transcript (ary): wakha');
      expect(result.written).toEqual({ m1: note?.id, m2: note?.id, m3: note?.id });
      expect(result.apiCalls).toBe(fake.requests.length);
    });

    it('batches the notes of many customers into one POST /Notes', async () => {
      const batch = ['+212612345671', '+212612345672', '+212612345673'].map((phone, i) =>
        msg(`c${i}`, { customerPhone: phone, customerName: `Customer ${i}`, threadId: `t${i}` }),
      );
      const result = await connector.archive(batch);
      expect(noteWrites()).toHaveLength(1);
      expect((noteWrites()[0]?.body as { data: unknown[] }).data).toHaveLength(3);
      expect(new Set(Object.values(result.written)).size).toBe(3);
      expect(fake.records('Contacts')).toHaveLength(3);
    });

    it('splits more than 100 notes over several calls', async () => {
      const batch = Array.from({ length: 101 }, (_, i) =>
        msg(`n${i}`, { customerPhone: `+2126123${String(i).padStart(5, '0')}`, customerName: null, threadId: `t${i}` }),
      );
      const result = await connector.archive(batch);
      expect(noteWrites().map((r) => (r.body as { data: unknown[] }).data.length)).toEqual([100, 1]);
      expect(Object.keys(result.written)).toHaveLength(101);
    });

    it('is idempotent: the same batch twice writes nothing new, an overlapping one only the new message', async () => {
      const contactId = fake.addRecord('Contacts', { Last_Name: 'El Idrissi', Phone: '+212612345678' });
      const first = await connector.archive([msg('m1'), msg('m2')]);
      const second = await connector.archive([msg('m1'), msg('m2')]);
      expect(second.written).toEqual(first.written);
      expect(noteWrites()).toHaveLength(1);
      expect(fake.notesOf(contactId)).toHaveLength(1);

      const third = await connector.archive([msg('m2'), msg('m3', { text: 'a new one', timestamp: '2026-03-01T11:00:00Z' })]);
      const notes = fake.notesOf(contactId);
      expect(notes).toHaveLength(2);
      expect(notes[1]?.Note_Content).toContain('a new one');
      expect(notes[1]?.Note_Content).not.toContain('text of m2');
      expect(third.written).toEqual({ m2: first.written['m2'], m3: notes[1]?.id });
    });

    it('reads related notes with fields and If-Modified-Since before writing', async () => {
      fake.addRecord('Contacts', { Last_Name: 'El Idrissi', Phone: '+212612345678' });
      await connector.archive([msg('m1')]);
      await connector.archive([msg('m1')]);
      const reads = api().filter((r) => r.method === 'GET' && r.path.endsWith('/Notes'));
      expect(reads).toHaveLength(2);
      expect(reads[0]?.status).toBe(204); // no notes yet
      expect(reads[1]?.status).toBe(200);
      expect(reads[1]?.query['fields']).toBe('Note_Title,Note_Content');
      expect(reads[1]?.headers['if-modified-since']).toBe('2026-02-27T10:00:00+00:00');
    });

    it('skips messages without a customer phone', async () => {
      expect(await connector.archive([msg('x', { customerPhone: null })])).toEqual({ written: {}, apiCalls: 0 });
      expect(fake.requests).toHaveLength(0);
    });
  });

  describe('transcripts and bot state', () => {
    const transcript: TranscriptNote = {
      messageId: 'm9',
      wamid: 'wamid.m9',
      threadId: 'thread-1',
      customerPhone: '+212612345678',
      customerName: 'Amina',
      text: 'bghit nchri jouj kilo',
      language: 'ary',
      provider: 'gemini',
      at: '2026-03-01T10:05:00Z',
    };
    const change: BotStateChange = {
      threadId: 'thread-1',
      customerPhone: '+212612345678',
      customerName: 'Amina',
      from: 'active',
      to: 'handoff_requested',
      cause: 'customer asked for a human',
      pausedUntil: null,
      at: '2026-03-01T10:06:00Z',
    };

    it('attaches a transcript once', async () => {
      const contactId = fake.addRecord('Contacts', { Last_Name: 'X', Phone: '+212612345678' });
      await connector.attachTranscript(transcript);
      await connector.attachTranscript(transcript);
      const notes = fake.notesOf(contactId);
      expect(notes).toHaveLength(1);
      expect(notes[0]?.Note_Title).toBe('Voice note transcript (ary)');
      expect(notes[0]?.Note_Content).toContain('bghit nchri jouj kilo');
    });

    it('shows each bot-state change once', async () => {
      const contactId = fake.addRecord('Contacts', { Last_Name: 'X', Phone: '+212612345678' });
      await connector.showBotState(change);
      await connector.showBotState(change);
      await connector.showBotState({ ...change, from: 'handoff_requested', to: 'active', at: '2026-03-01T11:00:00Z', cause: 'agent resumed the bot' });
      const titles = fake.notesOf(contactId).map((n) => n.Note_Title);
      expect(titles).toEqual(['WhatsApp bot: active → handoff_requested', 'WhatsApp bot: handoff_requested → active']);
    });

    it('refuses a bot-state note without a customer phone', async () => {
      expect((await rejection(connector.showBotState({ ...change, customerPhone: null }))).retryable).toBe(false);
    });
  });

  describe('verifyExtensionRequest', () => {
    const request = (headers: Record<string, string | string[] | undefined>) => ({
      method: 'GET',
      url: 'https://coex.example/api/v1/zoho/threads?record=1',
      headers,
      rawBody: Buffer.alloc(0),
    });

    it('accepts the install token and names the org as the account', async () => {
      expect(await connector.verifyExtensionRequest(request({ 'x-coex-zoho-token': INSTALL_TOKEN }))).toEqual({ ok: true, account: 'org-778899' });
    });

    it('rejects a wrong or missing token, and everything when no token is configured', async () => {
      expect(await connector.verifyExtensionRequest(request({ 'x-coex-zoho-token': 'widget-install-token-9d2f62' }))).toMatchObject({ ok: false, status: 401 });
      expect(await connector.verifyExtensionRequest(request({}))).toMatchObject({ ok: false, status: 401 });
      const none = makeConnector({ installToken: undefined });
      expect(await none.verifyExtensionRequest(request({ 'x-coex-zoho-token': INSTALL_TOKEN }))).toMatchObject({ ok: false, status: 403 });
    });

    it('accepts a plain install token in the config', async () => {
      const plain = makeConnector({ installToken: INSTALL_TOKEN });
      expect(await plain.verifyExtensionRequest(request({ 'X-Coex-Zoho-Token': INSTALL_TOKEN }))).toMatchObject({ ok: true });
    });
  });

  describe('OAuth', () => {
    const oauth = () =>
      new ZohoOAuth({
        clientId: fake.clientId,
        clientSecret: fake.clientSecret,
        redirectUri: fake.redirectUri,
        allowedAccountsServers: [fake.accountsUrl],
        allowedApiDomains: [fake.apiUrl],
      });

    it('runs the multi-DC flow: authorize URL → callback with accounts-server → code exchange → api_domain', async () => {
      const client = oauth();
      const authorizeUrl = client.buildAuthorizeUrl({ state: 'st-123', accountsServer: fake.accountsUrl });
      const parsed = new URL(authorizeUrl);
      expect(parsed.pathname).toBe('/oauth/v2/auth');
      expect(parsed.searchParams.get('access_type')).toBe('offline');
      expect(parsed.searchParams.get('scope')).toContain('ZohoCRM.modules.notes.ALL');

      const consent = await fetch(authorizeUrl, { redirect: 'manual' });
      expect(consent.status).toBe(302);
      const callback = new URL(consent.headers.get('location') ?? '');
      expect(callback.searchParams.get('state')).toBe('st-123');
      const code = callback.searchParams.get('code') ?? '';
      const accountsServer = callback.searchParams.get('accounts-server') ?? '';

      const tokens = await client.exchangeCode({ code, accountsServer });
      expect(tokens.apiDomain).toBe(fake.apiUrl);
      expect(tokens.refreshToken).toMatch(/^1000\./);
      const tokenCall = fake.requests.find((r) => r.path === '/oauth/v2/token');
      expect(tokenCall?.body).toMatchObject({ grant_type: 'authorization_code', code, client_id: fake.clientId });

      // The code is single-use: Zoho answers 200 with { error: "invalid_code" }.
      const reused = await rejection(client.exchangeCode({ code, accountsServer }));
      expect(reused.message).toContain('invalid_code');
      expect(reused.retryable).toBe(false);

      // The new tokens work against the API.
      const installed = makeConnector({ refreshToken: tokens.refreshToken ?? '', accessToken: tokens.accessToken, accessTokenExpiresAt: tokens.expiresAt });
      await installed.findOrCreateContact('+212612345678', null);
      expect(fake.requests.filter((r) => r.path === '/oauth/v2/token')).toHaveLength(2);
    });

    it('refuses to send the client secret to an accounts server that is not Zoho', async () => {
      const real = new ZohoOAuth({ clientId: 'c', clientSecret: 'very-secret', redirectUri: 'https://coex.example/cb' });
      await expect(real.exchangeCode({ code: 'x', accountsServer: 'https://accounts.zoho.eu.evil.example' })).rejects.toThrow(/not a known Zoho/);
      await expect(real.exchangeCode({ code: 'x', accountsServer: fake.accountsUrl })).rejects.toThrow(/not a known Zoho/);
      expect(fake.requests).toHaveLength(0);
      expect(real.buildAuthorizeUrl({ state: 's', accountsServer: 'https://accounts.zoho.eu' })).toMatch(/^https:\/\/accounts\.zoho\.eu\/oauth\/v2\/auth\?/);
      expect(real.buildAuthorizeUrl({ state: 's', accountsServer: 'https://accounts.zohocloud.ca' })).toMatch(/^https:\/\/accounts\.zohocloud\.ca\//);
    });

    it('refreshes the 1-hour token once for concurrent calls (single-flight)', async () => {
      fake.addRecord('Contacts', { Last_Name: 'A', Phone: '+212612345671' });
      fake.addRecord('Contacts', { Last_Name: 'B', Phone: '+212612345672' });
      await Promise.all([connector.findOrCreateContact('+212612345671', null), connector.findOrCreateContact('+212612345672', null)]);
      const refreshes = fake.requests.filter((r) => r.path === '/oauth/v2/token');
      expect(refreshes).toHaveLength(1);
      expect(refreshes[0]?.body).toMatchObject({ grant_type: 'refresh_token' });
    });

    it('refreshes before expiry and after a 401 INVALID_TOKEN, then replays the call', async () => {
      let clock = Date.parse('2026-11-25T10:00:00Z');
      await fake.close();
      fake = await startZohoFake({ now: () => clock });
      const seen: number[] = [];
      const c = new ZohoConnector(
        {
          apiDomain: fake.apiUrl,
          accountsServer: fake.accountsUrl,
          clientId: fake.clientId,
          clientSecret: fake.clientSecret,
          refreshToken: fake.issueRefreshToken(),
          module: 'Contacts',
          orgId: 'org',
          allowedAccountsServers: [fake.accountsUrl],
          allowedApiDomains: [fake.apiUrl],
        },
        { now: () => clock, onAccessToken: (t) => seen.push(t.expiresAt) },
      );
      fake.addRecord('Contacts', { Last_Name: 'A', Phone: '+212612345678' });
      await c.findOrCreateContact('+212612345678', null);
      expect(seen).toEqual([clock + 3600_000]);

      clock += 3600_000 - 30_000; // inside the refresh margin
      await c.findOrCreateContact('+212612345678', null);
      expect(seen).toHaveLength(2);

      fake.revokeAccessTokens();
      const ref = await c.findOrCreateContact('+212612345678', null);
      expect(ref.created).toBe(false);
      expect(seen).toHaveLength(3);
      expect(fake.apiRequests().filter((r) => r.status === 401)).toHaveLength(1);
    });

    it('reports a revoked refresh token as a non-retryable error', async () => {
      const c = makeConnector({ refreshToken: '1000.not-a-known-refresh-token' });
      const err = await rejection(c.findOrCreateContact('+212612345678', null));
      expect(err.retryable).toBe(false);
      expect(err.message).toContain('invalid_code');
      expect(err.message).not.toContain(fake.clientSecret);
    });
  });

  describe('recordMarketingConsent', () => {
    // Notes are read back with If-Modified-Since derived from `at`: keep `at` near the fake's clock.
    const at = new Date(Date.now() - 60_000).toISOString();
    const optOut: MarketingConsentChange = {
      eventId: 'evt-1',
      customerPhone: '+212612345678',
      customerName: 'Amina El Idrissi',
      businessPhone: '+212522000000',
      action: 'opt_out',
      source: '131050',
      detail: null,
      at,
    };
    const optIn: MarketingConsentChange = { ...optOut, eventId: 'evt-2', action: 'opt_in', source: 'crm', detail: 'owner@shop.ma' };
    const tagsOf = (id: string) => fake.records('Contacts').find((r) => r.id === id)?.Tag.map((t) => t.name);
    const consentNotes = (id: string) => fake.notesOf(id).filter((n) => n.Note_Content.includes('coex-consent-'));

    it('tags the contact "WhatsApp opt-out" (v8 add_tags) and writes one note', async () => {
      const id = fake.addRecord('Contacts', { Last_Name: 'El Idrissi', Phone: '+212612345678' });
      await connector.recordMarketingConsent(optOut);
      expect(tagsOf(id)).toEqual(['WhatsApp opt-out']);
      const call = api().find((r) => r.path.endsWith('/actions/add_tags'));
      expect(call).toMatchObject({ method: 'POST', path: `/crm/v8/Contacts/${id}/actions/add_tags`, body: { tags: [{ name: 'WhatsApp opt-out' }] } });
      const notes = consentNotes(id);
      expect(notes).toHaveLength(1);
      expect(notes[0]?.Note_Title).toBe('WhatsApp marketing: opted out');
      expect(notes[0]?.Note_Content).toContain('error 131050');
    });

    it('writes nothing new when the same event comes again', async () => {
      const id = fake.addRecord('Contacts', { Last_Name: 'El Idrissi', Phone: '+212612345678' });
      await connector.recordMarketingConsent(optOut);
      const before = api().length;
      await connector.recordMarketingConsent(optOut);
      expect(api().slice(before).filter((r) => r.method === 'POST')).toEqual([]);
      expect(consentNotes(id)).toHaveLength(1);
    });

    it('opt-in removes the tag (remove_tags) and notes who did it', async () => {
      const id = fake.addRecord('Contacts', { Last_Name: 'El Idrissi', Phone: '+212612345678' });
      await connector.recordMarketingConsent(optOut);
      await connector.recordMarketingConsent(optIn);
      expect(tagsOf(id)).toEqual([]);
      expect(api().some((r) => r.path === `/crm/v8/Contacts/${id}/actions/remove_tags`)).toBe(true);
      const notes = consentNotes(id);
      expect(notes).toHaveLength(2);
      expect(notes[1]?.Note_Content).toContain('set from the CRM by owner@shop.ma');
    });

    it('creates the record for an unknown customer (a Lead, with the configured tag), as archive() does', async () => {
      const leads = makeConnector({ module: 'Leads', optOutTag: 'No WA marketing' });
      await leads.recordMarketingConsent(optOut);
      const [lead] = fake.records('Leads');
      expect(lead).toMatchObject({ Phone: '+212612345678', Last_Name: 'El Idrissi' });
      expect(lead?.Tag.map((t) => t.name)).toEqual(['No WA marketing']);
      expect(consentNotes(lead!.id)).toHaveLength(1);
    });

    it('reports 429 and 5xx as retryable; the retry completes the change once', async () => {
      const id = fake.addRecord('Contacts', { Last_Name: 'El Idrissi', Phone: '+212612345678' });
      await connector.findOrCreateContact('+212612345678', null);
      fake.failNext({ status: 429, retryAfter: '30' });
      expect(await rejection(connector.recordMarketingConsent(optOut))).toMatchObject({ retryable: true, status: 429, retryAfterSeconds: 30 });
      fake.failNext({ status: 502 });
      expect(await rejection(connector.recordMarketingConsent(optOut))).toMatchObject({ retryable: true, status: 502 });
      await connector.recordMarketingConsent(optOut);
      expect(tagsOf(id)).toEqual(['WhatsApp opt-out']);
      expect(consentNotes(id)).toHaveLength(1);
    });
  });

  describe('errors', () => {
    it('turns a 429 into a retryable CrmError with Retry-After, then succeeds', async () => {
      fake.addRecord('Contacts', { Last_Name: 'A', Phone: '+212612345678' });
      await connector.findOrCreateContact('+212612345678', null); // token obtained
      fake.failNext({ status: 429, retryAfter: '30' });
      const err = await rejection(connector.archive([msg('m1')]));
      expect(err).toMatchObject({ crm: 'zoho', retryable: true, status: 429, retryAfterSeconds: 30 });
      const ok = await connector.archive([msg('m1')]);
      expect(Object.keys(ok.written)).toEqual(['m1']);
    });

    it('turns 5xx into a retryable CrmError', async () => {
      fake.addRecord('Contacts', { Last_Name: 'A', Phone: '+212612345678' });
      await connector.findOrCreateContact('+212612345678', null);
      fake.failNext({ status: 500 });
      expect(await rejection(connector.findOrCreateContact('+212612345679', null))).toMatchObject({ retryable: true, status: 500 });
      fake.failNext({ status: 503 });
      expect(await rejection(connector.findOrCreateContact('+212612345679', null))).toMatchObject({ retryable: true, status: 503 });
    });

    it('surfaces per-note failures as a non-retryable error, and a retry writes only what is missing', async () => {
      const a = fake.addRecord('Contacts', { Last_Name: 'A', Phone: '+212612345671' });
      const b = fake.addRecord('Contacts', { Last_Name: 'B', Phone: '+212612345672' });
      // Someone deletes A in Zoho between our lookup and our write.
      let armed = true;
      fake.afterRequest((r) => {
        if (armed && r.method === 'GET' && r.path === `/crm/v8/Contacts/${a}/Notes`) {
          armed = false;
          fake.deleteRecord(a);
        }
      });
      const batch = [msg('a1', { customerPhone: '+212612345671' }), msg('b1', { customerPhone: '+212612345672', threadId: 't2' })];
      const err = await rejection(connector.archive(batch));
      expect(err).toMatchObject({ retryable: false, status: 207 });
      expect(err.message).toContain('INVALID_DATA');
      expect(fake.notesOf(b)).toHaveLength(1);

      const retry = await connector.archive(batch);
      expect(fake.notesOf(b)).toHaveLength(1); // B's note was not written twice
      const newA = fake.records('Contacts').find((r) => r.Phone === '+212612345671');
      expect(newA?.id).not.toBe(a);
      expect(fake.notesOf(newA?.id ?? '')).toHaveLength(1);
      expect(retry.written['b1']).toBe(fake.notesOf(b)[0]?.id);
    });
  });
});

describe('ZohoConnector config', () => {
  it('refuses an api domain or accounts server that is not Zoho, and never echoes secrets', () => {
    const base = {
      apiDomain: 'https://www.zohoapis.eu',
      accountsServer: 'https://accounts.zoho.eu',
      clientId: 'c',
      clientSecret: 'top-secret-value',
      refreshToken: 'r',
      module: 'Contacts' as const,
      orgId: 'o',
    };
    expect(new ZohoConnector(base).module).toBe('Contacts');
    expect(() => new ZohoConnector({ ...base, apiDomain: 'https://www.zohoapis.eu.attacker.example' })).toThrow(/not a known Zoho API domain/);
    expect(() => new ZohoConnector({ ...base, accountsServer: 'http://accounts.zoho.eu' })).toThrow(/not a known Zoho accounts server/);
    expect(() => new ZohoConnector({ ...base, module: 'Deals' as unknown as 'Contacts' })).toThrow(/module/);
    try {
      new ZohoConnector({ ...base, clientId: '' });
    } catch (e) {
      expect(String(e)).not.toContain('top-secret-value');
    }
  });
});
