import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OdooConnector, hashOdooAddonKey, type OdooConnectorConfig } from '../connectors/src/odoo/index.js';
import { CrmError, type ArchivedMessage, type BotStateChange, type MarketingConsentChange, type TranscriptNote } from '../connectors/src/types.js';
import { startOdooFake, type OdooFake, type OdooFakeOptions } from './fakes/odoo.js';
import { archivedMessage, crmError } from './helpers/crm-cases.js';

const ADDON_KEY = 'addon-key-3f1c9b7e2a';

const msg = archivedMessage;
const rejection = crmError;

describe.each(['xmlrpc', 'json2'] as const)('OdooConnector over %s', (protocol) => {
  let fake: OdooFake;
  let connector: OdooConnector;

  function makeConnector(overrides: Partial<OdooConnectorConfig> = {}): OdooConnector {
    return new OdooConnector({
      url: fake.url,
      db: fake.db,
      login: fake.login,
      apiKey: fake.apiKey,
      protocol,
      extensionKey: hashOdooAddonKey(ADDON_KEY),
      ...overrides,
    });
  }

  async function restart(options: OdooFakeOptions): Promise<void> {
    await fake.close();
    fake = await startOdooFake(options);
    connector = makeConnector();
  }

  const posts = () => fake.calls().filter((c) => c.method === 'message_post');
  const creates = () => fake.calls().filter((c) => c.method === 'create');

  beforeEach(async () => {
    fake = await startOdooFake({ version: protocol === 'json2' ? 19 : 18 });
    connector = makeConnector();
  });
  afterEach(async () => {
    await fake.close();
  });

  describe('findOrCreateContact', () => {
    it('matches a partner typed as 06… through phone_sanitized, without creating a duplicate', async () => {
      const id = fake.addPartner({ name: 'Amina', phone: '06 12 34 56 78' });
      const ref = await connector.findOrCreateContact('+212612345678', 'Amina');
      expect(ref).toEqual({ id: String(id), object: 'res.partner', created: false });
      expect(creates()).toHaveLength(0);
      expect(fake.records('res.partner')).toHaveLength(1);
      const search = fake.calls()[0];
      expect(search?.model).toBe('res.partner');
      expect(search?.method).toBe('search_read');
      expect(JSON.stringify(protocol === 'xmlrpc' ? search?.args : search?.kwargs)).toContain('["phone_sanitized","=","+212612345678"]');
    });

    it('falls back to the raw phone field when Odoo could not sanitize the number', async () => {
      // A wrong partner country makes Odoo's phone_sanitized empty for a Moroccan 06… number.
      const id = fake.addPartner({ name: 'Youssef', phone: '0612345679', country_code: 'US' });
      expect(fake.records('res.partner')[0]?.['phone_sanitized']).toBe(false);
      const ref = await connector.findOrCreateContact('+212612345679', 'Youssef');
      expect(ref).toEqual({ id: String(id), object: 'res.partner', created: false });
      expect(creates()).toHaveLength(0);
    });

    it('does not take a partner whose number only contains ours', async () => {
      fake.addPartner({ name: 'Other', phone: '+33 1 12 34 56 78 90', country_code: 'US' });
      const ref = await connector.findOrCreateContact('+212612345678', 'Amina');
      expect(ref.created).toBe(true);
    });

    it('asks which phone fields res.partner has and searches only those', async () => {
      await connector.findOrCreateContact('+212612345670', null);
      const fallback = fake.calls().filter((c) => c.method === 'search_read')[1];
      const domain = JSON.stringify(protocol === 'xmlrpc' ? fallback?.args : fallback?.kwargs);
      expect(domain).toContain('"phone","ilike","0612345670"');
      // The fake serves Odoo 18 to XML-RPC (mobile exists) and Odoo 19 to JSON-2 (mobile removed).
      if (protocol === 'xmlrpc') expect(domain).toContain('"mobile","ilike"');
      else expect(domain).not.toContain('mobile');
      expect(fake.calls().filter((c) => c.method === 'fields_get')).toHaveLength(1);
    });

    it('creates a partner with the E.164 phone and finds the same one next time', async () => {
      const first = await connector.findOrCreateContact('+212612345678', 'Amina B.');
      expect(first.created).toBe(true);
      const partner = fake.records('res.partner').find((p) => String(p.id) === first.id);
      expect(partner?.['name']).toBe('Amina B.');
      expect(partner?.['phone']).toBe('+212612345678');
      expect(partner?.['phone_sanitized']).toBe('+212612345678');

      const again = await connector.findOrCreateContact('0612345678', 'Amina');
      expect(again).toEqual({ ...first, created: false });
      expect(fake.records('res.partner')).toHaveLength(1);
    });

    it('creates one partner when the same new number is looked up concurrently', async () => {
      const [a, b] = await Promise.all([
        connector.findOrCreateContact('+212612345678', 'Amina'),
        connector.findOrCreateContact('+212612345678', 'Amina'),
      ]);
      expect(a.id).toBe(b.id);
      expect(fake.records('res.partner')).toHaveLength(1);
    });

    it('names a partner after its number when WhatsApp gave no name', async () => {
      const ref = await connector.findOrCreateContact('+212612345678', null);
      expect(fake.records('res.partner').find((p) => String(p.id) === ref.id)?.['name']).toBe('+212612345678');
    });

    it('rejects a number that is not a phone number, without calling Odoo', async () => {
      const err = await rejection(connector.findOrCreateContact('hello', null));
      expect(err.retryable).toBe(false);
      expect(fake.requests).toHaveLength(0);
    });
  });

  describe('archive', () => {
    it('posts one internal note per customer with every message, escaped, as HTML', async () => {
      const partnerId = fake.addPartner({ name: 'Amina', phone: '0612345678' });
      const batch = [
        msg('m1', { text: 'Salam, <b>price</b>?', timestamp: '2026-03-01T10:00:00Z' }),
        msg('m2', { direction: 'outbound', origin: 'agent', text: 'It is 120 MAD & free delivery', timestamp: '2026-03-01T10:01:00Z', status: 'read' }),
        msg('m3', { type: 'audio', text: null, timestamp: '2026-03-01T10:02:00Z', transcript: { text: 'wakha, ghadi nji', language: 'ary' } }),
      ];
      const result = await connector.archive(batch);

      const notes = fake.messagesOf('res.partner', partnerId);
      expect(notes).toHaveLength(1);
      const note = notes[0];
      expect(note?.['message_type']).toBe('comment');
      expect(note?.['subtype_id']).toBe(2); // mail.mt_note
      const body = String(note?.['body']);
      expect(body).toContain('Salam, &lt;b&gt;price&lt;/b&gt;?');
      expect(body).toContain('It is 120 MAD &amp; free delivery');
      expect(body).toContain('⬅ Customer');
      expect(body).toContain('➡ AI agent');
      expect(body).toContain('wakha, ghadi nji');
      expect(body).toContain('[audio]');
      expect(body.indexOf('Salam')).toBeLessThan(body.indexOf('120 MAD'));

      const post = posts()[0];
      const kwargs = post?.kwargs ?? {};
      expect(kwargs['body_is_html']).toBe(true);
      expect(kwargs['message_type']).toBe('comment');
      expect(kwargs['subtype_xmlid']).toBe('mail.mt_note');
      expect(posts()).toHaveLength(1);

      expect(result.written).toEqual({ m1: String(note?.id), m2: String(note?.id), m3: String(note?.id) });
      const modelCalls = fake.calls().length;
      const authCalls = fake.requests.filter((r) => r.rpcMethod === 'authenticate').length;
      expect(result.apiCalls).toBe(modelCalls + authCalls);
    });

    it("also posts on the partner's open lead, not on a won one", async () => {
      const partnerId = fake.addPartner({ name: 'Amina', phone: '+212612345678' });
      const wonLead = fake.addLead({ name: 'Old order', partner_id: partnerId, probability: 100 });
      const openLead = fake.addLead({ name: 'New quote', partner_id: partnerId, probability: 30 });
      await connector.archive([msg('m1')]);
      expect(fake.messagesOf('crm.lead', openLead)).toHaveLength(1);
      expect(fake.messagesOf('crm.lead', wonLead)).toHaveLength(0);
      expect(fake.messagesOf('res.partner', partnerId)).toHaveLength(1);
    });

    it('archives to the partner alone when the CRM app is not installed', async () => {
      await restart({ version: protocol === 'json2' ? 19 : 18, crmInstalled: false });
      const partnerId = fake.addPartner({ name: 'Amina', phone: '+212612345678' });
      const result = await connector.archive([msg('m1')]);
      expect(Object.keys(result.written)).toEqual(['m1']);
      expect(fake.messagesOf('res.partner', partnerId)).toHaveLength(1);
      // The missing model is remembered: the next batch does not ask for crm.lead again.
      await connector.archive([msg('m2')]);
      expect(fake.calls().filter((c) => c.model === 'crm.lead')).toHaveLength(1);
    });

    it('groups a mixed batch by customer and creates missing partners', async () => {
      const result = await connector.archive([
        msg('a1', { customerPhone: '+212612345678', customerName: 'Amina' }),
        msg('b1', { customerPhone: '+212661000001', customerName: 'Karim', threadId: 'thread-2' }),
        msg('a2', { customerPhone: '+212612345678' }),
      ]);
      expect(fake.records('res.partner').map((p) => p['name']).sort()).toEqual(['Amina', 'Karim']);
      expect(posts()).toHaveLength(2);
      expect(result.written['a1']).toBe(result.written['a2']);
      expect(result.written['b1']).not.toBe(result.written['a1']);
    });

    it('skips messages without a customer phone (no partner to attach them to)', async () => {
      const result = await connector.archive([msg('x1', { customerPhone: null })]);
      expect(result.written).toEqual({});
      expect(fake.requests).toHaveLength(0);
    });

    it('is idempotent: the same batch twice writes nothing new, an overlapping batch writes only the new message', async () => {
      const partnerId = fake.addPartner({ name: 'Amina', phone: '+212612345678' });
      const leadId = fake.addLead({ name: 'Quote', partner_id: partnerId });
      const first = await connector.archive([msg('m1'), msg('m2')]);
      const second = await connector.archive([msg('m1'), msg('m2')]);
      expect(second.written).toEqual(first.written);
      expect(posts()).toHaveLength(2); // partner + lead, first time only
      expect(fake.messagesOf('res.partner', partnerId)).toHaveLength(1);
      expect(fake.messagesOf('crm.lead', leadId)).toHaveLength(1);

      const third = await connector.archive([msg('m2'), msg('m3', { text: 'a new one' })]);
      expect(third.written['m2']).toBe(first.written['m2']);
      const partnerNotes = fake.messagesOf('res.partner', partnerId);
      expect(partnerNotes).toHaveLength(2);
      expect(String(partnerNotes[1]?.['body'])).toContain('a new one');
      expect(String(partnerNotes[1]?.['body'])).not.toContain('text of m2');
      expect(third.written['m3']).toBe(String(partnerNotes[1]?.id));
    });
  });

  describe('transcripts and bot state', () => {
    const transcript: TranscriptNote = {
      messageId: 'm9',
      wamid: 'wamid.m9',
      threadId: 'thread-1',
      customerPhone: '+212612345678',
      customerName: 'Amina',
      text: 'bghit nchri <2> kilo',
      language: 'ary',
      provider: 'gemini',
      at: '2026-03-01T10:05:00Z',
    };
    const change: BotStateChange = {
      threadId: 'thread-1',
      customerPhone: '+212612345678',
      customerName: 'Amina',
      from: 'active',
      to: 'paused',
      cause: 'human replied from the WhatsApp Business app',
      pausedUntil: '2026-03-01T12:00:00Z',
      at: '2026-03-01T10:06:00Z',
    };

    it('attaches a transcript once as an internal note', async () => {
      const partnerId = fake.addPartner({ name: 'Amina', phone: '+212612345678' });
      await connector.attachTranscript(transcript);
      await connector.attachTranscript(transcript);
      const notes = fake.messagesOf('res.partner', partnerId);
      expect(notes).toHaveLength(1);
      expect(notes[0]?.['subtype_id']).toBe(2); // mail.mt_note
      expect(String(notes[0]?.['body'])).toContain('bghit nchri &lt;2&gt; kilo');
      expect(String(notes[0]?.['body'])).toContain('(ary)');
    });

    it('shows a bot-state change once as an internal note', async () => {
      const partnerId = fake.addPartner({ name: 'Amina', phone: '+212612345678' });
      await connector.showBotState(change);
      await connector.showBotState(change);
      await connector.showBotState({ ...change, from: 'paused', to: 'active', at: '2026-03-01T12:00:00Z', pausedUntil: null, cause: 'pause expired' });
      const bodies = fake.messagesOf('res.partner', partnerId).map((n) => String(n['body']));
      expect(bodies).toHaveLength(2);
      expect(bodies[0]).toContain('active → paused');
      expect(bodies[0]).toContain('human replied from the WhatsApp Business app');
      expect(bodies[1]).toContain('paused → active');
    });

    it('refuses a transcript without a customer phone', async () => {
      const err = await rejection(connector.attachTranscript({ ...transcript, customerPhone: null }));
      expect(err.retryable).toBe(false);
    });
  });

  describe('verifyExtensionRequest', () => {
    const request = (headers: Record<string, string | string[] | undefined>) => ({
      method: 'GET',
      url: 'https://coex.example/api/v1/odoo/threads?partner_id=7',
      headers,
      rawBody: Buffer.alloc(0),
    });

    it('accepts the addon key and names the database as the account', async () => {
      expect(await connector.verifyExtensionRequest(request({ 'x-coex-odoo-key': ADDON_KEY }))).toEqual({ ok: true, account: fake.db });
    });

    it('rejects a wrong key and a missing key', async () => {
      expect(await connector.verifyExtensionRequest(request({ 'x-coex-odoo-key': `${ADDON_KEY}x` }))).toMatchObject({ ok: false, status: 401 });
      expect(await connector.verifyExtensionRequest(request({}))).toMatchObject({ ok: false, status: 401 });
      expect(await connector.verifyExtensionRequest(request({ 'x-coex-odoo-key': [ADDON_KEY, ADDON_KEY] }))).toMatchObject({ ok: false });
    });

    it('accepts a plain key in the config too, and refuses everything when none is configured', async () => {
      const plain = makeConnector({ extensionKey: ADDON_KEY });
      expect(await plain.verifyExtensionRequest(request({ 'X-Coex-Odoo-Key': ADDON_KEY }))).toEqual({ ok: true, account: fake.db });
      const none = makeConnector({ extensionKey: undefined });
      expect(await none.verifyExtensionRequest(request({ 'x-coex-odoo-key': ADDON_KEY }))).toMatchObject({ ok: false, status: 403 });
    });
  });

  describe('errors', () => {
    it('turns a 429 into a retryable CrmError with Retry-After, then succeeds', async () => {
      fake.failNext({ status: 429, retryAfter: '7' });
      const err = await rejection(connector.findOrCreateContact('+212612345678', 'Amina'));
      expect(err).toMatchObject({ crm: 'odoo', retryable: true, status: 429, retryAfterSeconds: 7 });
      const ref = await connector.findOrCreateContact('+212612345678', 'Amina');
      expect(ref.created).toBe(true);
    });

    it('turns 5xx into a retryable CrmError', async () => {
      fake.addPartner({ name: 'Amina', phone: '+212612345678' });
      fake.failNext({ status: 503 });
      expect(await rejection(connector.archive([msg('m1')]))).toMatchObject({ retryable: true, status: 503 });
      fake.failNext({ status: 500 });
      expect(await rejection(connector.archive([msg('m1')]))).toMatchObject({ retryable: true, status: 500 });
      const ok = await connector.archive([msg('m1')]);
      expect(Object.keys(ok.written)).toEqual(['m1']);
    });

    it('reports a wrong API key as a non-retryable authentication error', async () => {
      const bad = makeConnector({ apiKey: 'not-the-key' });
      const err = await rejection(bad.findOrCreateContact('+212612345678', null));
      expect(err).toMatchObject({ retryable: false, status: 401 });
      expect(err.message).not.toContain('not-the-key');
    });

    it('reports a key revoked after login as a final error (XML-RPC fault 3 / JSON-2 401) and recovers with the new key', async () => {
      await connector.findOrCreateContact('+212612345678', null);
      const original = fake.apiKey;
      fake.setApiKey('rotated-key');
      const err = await rejection(connector.findOrCreateContact('+212612345679', null));
      expect(err.retryable).toBe(false);
      if (protocol === 'xmlrpc') expect(err.message).toContain('fault 3: Access Denied');
      else expect(err).toMatchObject({ status: 401 });
      fake.setApiKey(original);
      expect((await connector.findOrCreateContact('+212612345679', null)).created).toBe(true);
      if (protocol === 'xmlrpc') {
        // The fault made the transport log in again before the next call.
        expect(fake.requests.filter((r) => r.rpcMethod === 'authenticate')).toHaveLength(2);
      }
    });

    it('reports a connection refused as retryable', async () => {
      const url = fake.url;
      await fake.close();
      const offline = makeConnector({ url });
      expect(await rejection(offline.findOrCreateContact('+212612345678', null))).toMatchObject({ retryable: true });
      fake = await startOdooFake();
    });
  });

  describe('recordMarketingConsent', () => {
    const optOut: MarketingConsentChange = {
      eventId: 'evt-1',
      customerPhone: '+212612345678',
      customerName: 'Amina',
      businessPhone: '+212522000000',
      action: 'opt_out',
      source: 'keyword',
      detail: 'baraka',
      at: '2026-03-01T09:45:00.000Z',
    };
    const optIn: MarketingConsentChange = { ...optOut, eventId: 'evt-2', action: 'opt_in', source: 'crm', detail: 'owner@shop.ma', at: '2026-03-02T08:00:00.000Z' };
    const blacklist = () => fake.records('phone.blacklist');
    const consentNotes = (partnerId: number) => fake.messagesOf('res.partner', partnerId).filter((m) => String(m['body']).includes('coex-consent-'));

    it("adds the number to Odoo's phone blacklist (add on an empty recordset) and posts one internal note on the partner", async () => {
      const partnerId = fake.addPartner({ name: 'Amina', phone: '06 12 34 56 78' });
      await connector.recordMarketingConsent(optOut);
      expect(blacklist()).toEqual([expect.objectContaining({ number: '+212612345678', active: true })]);
      const call = fake.calls().find((c) => c.model === 'phone.blacklist');
      expect(call?.method).toBe('add');
      // The fake shifts the ids off XML-RPC args (and refuses a call without them); JSON-2 keeps `ids`.
      if (protocol === 'json2') expect(call?.args).toEqual([[]]);
      expect(call?.kwargs['number']).toBe('+212612345678');
      expect(String(call?.kwargs['message'])).toContain('the customer wrote "baraka"');
      const notes = consentNotes(partnerId);
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatchObject({ message_type: 'comment', subtype_id: 2 });
      expect(String(notes[0]?.['body'])).toContain('added to the phone blacklist');
    });

    it('writes nothing new when the same event comes again', async () => {
      const partnerId = fake.addPartner({ name: 'Amina', phone: '+212612345678' });
      await connector.recordMarketingConsent(optOut);
      const before = fake.calls().length;
      await connector.recordMarketingConsent(optOut);
      const again = fake.calls().slice(before);
      expect(again.every((c) => c.method === 'search_read')).toBe(true);
      expect(consentNotes(partnerId)).toHaveLength(1);
      expect(blacklist()).toHaveLength(1);
    });

    it('opt-in archives the blacklist entry (remove) and notes it', async () => {
      const partnerId = fake.addPartner({ name: 'Amina', phone: '+212612345678' });
      await connector.recordMarketingConsent(optOut);
      await connector.recordMarketingConsent(optIn);
      expect(blacklist()).toEqual([expect.objectContaining({ number: '+212612345678', active: false })]);
      const notes = consentNotes(partnerId);
      expect(notes).toHaveLength(2);
      expect(String(notes[1]?.['body'])).toContain('removed from the phone blacklist');
      expect(String(notes[1]?.['body'])).toContain('set from the CRM by owner@shop.ma');
    });

    it('creates the partner for an unknown customer, as archive() does', async () => {
      await connector.recordMarketingConsent(optOut);
      const [partner] = fake.records('res.partner');
      expect(partner).toMatchObject({ name: 'Amina', phone: '+212612345678' });
      expect(consentNotes(partner!.id)).toHaveLength(1);
    });

    it('falls back to the note alone, and says so, when phone_validation is not installed', async () => {
      await restart({ version: protocol === 'json2' ? 19 : 18, phoneValidationInstalled: false });
      const partnerId = fake.addPartner({ name: 'Amina', phone: '+212612345678' });
      await connector.recordMarketingConsent(optOut);
      await connector.recordMarketingConsent(optIn);
      const notes = consentNotes(partnerId);
      expect(notes).toHaveLength(2);
      expect(String(notes[0]?.['body'])).toContain('phone blacklist is not available');
      // Asked once: the connector remembers the model is missing.
      expect(fake.calls().filter((c) => c.model === 'phone.blacklist')).toHaveLength(1);
    });

    it('reports 429 and 5xx as retryable; the retry completes the change once', async () => {
      const partnerId = fake.addPartner({ name: 'Amina', phone: '+212612345678' });
      await connector.findOrCreateContact('+212612345678', null);
      fake.failNext({ status: 429, retryAfter: '4' });
      expect(await rejection(connector.recordMarketingConsent(optOut))).toMatchObject({ retryable: true, status: 429, retryAfterSeconds: 4 });
      fake.failNext({ status: 502 });
      expect(await rejection(connector.recordMarketingConsent(optOut))).toMatchObject({ retryable: true, status: 502 });
      await connector.recordMarketingConsent(optOut);
      expect(consentNotes(partnerId)).toHaveLength(1);
      expect(blacklist()).toHaveLength(1);
    });
  });

  it('speaks the protocol it was configured for', async () => {
    fake.addPartner({ name: 'Amina', phone: '+212612345678' });
    await connector.findOrCreateContact('+212612345678', null);
    await connector.findOrCreateContact('+212612345678', null);
    expect(new Set(fake.requests.map((r) => r.protocol))).toEqual(new Set([protocol]));
    if (protocol === 'xmlrpc') {
      // One authenticate for the connector's lifetime, then execute_kw with uid + key.
      expect(fake.requests.map((r) => r.rpcMethod)).toEqual(['authenticate', 'execute_kw', 'execute_kw']);
      expect(fake.requests[1]?.path).toBe('/xmlrpc/2/object');
    } else {
      const first = fake.requests[0];
      expect(first?.path).toBe('/json/2/res.partner/search_read');
      expect(first?.headers['authorization']).toBe(`bearer ${fake.apiKey}`);
      expect(first?.headers['x-odoo-database']).toBe(fake.db);
      expect(first?.headers['content-type']).toContain('application/json');
    }
  });
});

describe('OdooConnector config', () => {
  it('requires a login for XML-RPC and a valid URL, without echoing the key', () => {
    expect(() => new OdooConnector({ url: 'https://odoo.example', db: 'x', apiKey: 'secret-123', protocol: 'xmlrpc' })).toThrow(/login/);
    expect(() => new OdooConnector({ url: 'ftp://odoo.example', db: 'x', apiKey: 'secret-123', protocol: 'json2' })).toThrow(/url/);
    try {
      new OdooConnector({ url: 'nope', db: '', apiKey: 'secret-123', protocol: 'json2' });
    } catch (e) {
      expect(String(e)).not.toContain('secret-123');
    }
  });

  it('refuses an XML-RPC URL with a path, which odoo-xmlrpc would silently drop', () => {
    expect(() => new OdooConnector({ url: 'https://example.com/odoo', db: 'x', login: 'a', apiKey: 'k', protocol: 'xmlrpc' })).toThrow(/root/);
    expect(new OdooConnector({ url: 'https://example.com/odoo', db: 'x', apiKey: 'k', protocol: 'json2' }).protocol).toBe('json2');
  });
});

describe('fake Odoo behaviour the connector relies on', () => {
  let fake: OdooFake;
  beforeEach(async () => {
    fake = await startOdooFake();
  });
  afterEach(async () => {
    await fake.close();
  });

  it('strips a custom data-* attribute from a posted body, as Odoo sanitizes mail.message.body', async () => {
    const partnerId = fake.addPartner({ name: 'A', phone: '+212612345678' });
    const res = await fetch(`${fake.url}/json/2/res.partner/message_post`, {
      method: 'POST',
      headers: { authorization: `bearer ${fake.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ids: [partnerId], body: '<p data-coex-batch="abc" data-oe-model="x">hi</p>', body_is_html: true }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([expect.any(Number)]);
    expect(fake.messagesOf('res.partner', partnerId)[0]?.['body']).toBe('<p data-oe-model="x">hi</p>');
  });

  it('answers JSON-2 errors with Odoo status codes and error objects', async () => {
    const call = (path: string, body: unknown, key = fake.apiKey) =>
      fetch(`${fake.url}/json/2/${path}`, { method: 'POST', headers: { authorization: `bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const unauthorized = await call('res.partner/search_read', {}, 'wrong');
    expect(unauthorized.status).toBe(401);
    expect(await unauthorized.json()).toMatchObject({ name: 'werkzeug.exceptions.Unauthorized', message: 'Invalid apikey' });
    expect((await call('no.such.model/search_read', {})).status).toBe(404);
    expect((await call('res.partner/search_read', { bogus: 1 })).status).toBe(422);
    expect((await call('res.partner/create', { ids: [1], vals_list: [{ name: 'x' }] })).status).toBe(422);
  });
});
