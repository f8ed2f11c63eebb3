import {
  HUBSPOT_ASSOCIATION_TYPES,
  HUBSPOT_COEX_ID_PROPERTY,
  HUBSPOT_CONSENT_PROPERTIES,
  HubSpotConnector,
  HubSpotTokenManager,
  buildHubSpotAuthorizeUrl,
  exchangeHubSpotCode,
  refreshHubSpotToken,
  signHubSpotV3,
  type ArchivedMessage,
  type HubSpotConnectorOptions,
  type HubSpotOAuthConfig,
  type MarketingConsentChange,
} from '@coex/connectors';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeHubSpot } from './fakes/hubspot.js';
import { archivedMessage, crmError } from './helpers/crm-cases.js';

const TOKEN = 'test-token';
const SECRET = 'client-secret-123';
const PHONE = '+212612345678';

let clock = Date.parse('2026-03-01T10:00:00Z');
let hs: FakeHubSpot;

function connector(extra: Partial<HubSpotConnectorOptions> = {}): HubSpotConnector {
  return new HubSpotConnector({
    accessToken: TOKEN,
    basePath: hs.url,
    portalId: String(hs.portalId),
    clientSecret: SECRET,
    ...extra,
  });
}

let seq = 0;
function msg(over: Partial<ArchivedMessage> = {}): ArchivedMessage {
  seq++;
  return archivedMessage(`msg-${seq}`, {
    wamid: `wamid.${seq}`,
    text: `hello ${seq}`,
    timestamp: new Date(Date.parse('2026-03-01T09:00:00Z') + seq * 1000).toISOString(),
    customerPhone: PHONE,
    customerName: 'Amina El Idrissi',
    ...over,
  });
}

const catchCrm = crmError;

beforeEach(async () => {
  clock = Date.parse('2026-03-01T10:00:00Z');
  hs = await FakeHubSpot.start({
    now: () => clock,
    oauth: { clientId: 'client-id', clientSecret: SECRET, redirectUri: 'https://coex.example/oauth/hubspot' },
  });
});

afterEach(async () => {
  await hs.close();
});

describe('install', () => {
  it('creates the unique coex_message_id property on communications and notes, once', async () => {
    const c = connector();
    expect(await c.ensureProperties()).toEqual({ created: [`communications.${HUBSPOT_COEX_ID_PROPERTY}`, `notes.${HUBSPOT_COEX_ID_PROPERTY}`] });
    expect(hs.property('communications', HUBSPOT_COEX_ID_PROPERTY)).toMatchObject({ hasUniqueValue: true, groupName: 'coex' });
    expect(hs.property('notes', HUBSPOT_COEX_ID_PROPERTY)).toMatchObject({ hasUniqueValue: true });
    expect(await c.ensureProperties()).toEqual({ created: [] });
  });

  it('refuses an existing non-unique property of that name', async () => {
    hs.defineProperty('communications', { name: HUBSPOT_COEX_ID_PROPERTY, hasUniqueValue: false });
    const err = await catchCrm(connector().ensureProperties());
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('cannot be made unique');
  });
});

describe('findOrCreateContact', () => {
  it.each([
    ['phone', '06 12 34 56 78'],
    ['phone', '0612345678'],
    ['mobilephone', '00212612345678'],
    ['mobilephone', '212612345678'],
    ['hs_whatsapp_phone_number', '+212612345678'],
  ])('finds the existing contact whose %s is %j (no duplicate)', async (property, value) => {
    const id = hs.seed('contacts', { firstname: 'Amina', [property]: value });
    const before = hs.list('contacts').length;
    const ref = await connector().findOrCreateContact(PHONE, 'Amina');
    expect(ref).toEqual({ id, object: 'contacts', created: false });
    expect(hs.list('contacts')).toHaveLength(before);
  });

  it('searches the three phone properties in one request within HubSpot limits', async () => {
    await connector().findOrCreateContact(PHONE, null);
    const searches = hs.requests.filter((r) => r.path === '/crm/v3/objects/contacts/search');
    expect(searches).toHaveLength(1);
    const body = searches[0]!.body as { filterGroups: { filters: { propertyName: string; operator: string; values: string[] }[] }[] };
    expect(body.filterGroups.map((g) => g.filters[0]!.propertyName)).toEqual(['phone', 'mobilephone', 'hs_whatsapp_phone_number']);
    expect(body.filterGroups[0]!.filters[0]!.values).toEqual(expect.arrayContaining(['+212612345678', '0612345678', '06 12 34 56 78']));
  });

  it('splits the search when limits are tighter (several searches, still one contact)', async () => {
    const id = hs.seed('contacts', { mobilephone: '0612345678' });
    const c = connector({ searchLimits: { maxFilterGroups: 1 } });
    expect(await c.findOrCreateContact(PHONE, null)).toMatchObject({ id, created: false });
    expect(hs.requests.filter((r) => r.path === '/crm/v3/objects/contacts/search')).toHaveLength(3);
  });

  it('confirms hits with libphonenumber: a French shop does not take 06… as +212', async () => {
    hs.seed('contacts', { phone: '0612345678' }); // +33 6 12 34 56 78 for this shop
    const ref = await connector({ defaultCountry: 'FR' }).findOrCreateContact(PHONE, 'Amina');
    expect(ref.created).toBe(true);
    expect(hs.list('contacts')).toHaveLength(2);
  });

  it('creates a contact with E.164 phone, WhatsApp number and split name', async () => {
    const ref = await connector().findOrCreateContact('06 12 34 56 78', 'Amina  El Idrissi');
    expect(ref).toMatchObject({ object: 'contacts', created: true });
    expect(hs.get('contacts', ref.id)!.properties).toMatchObject({
      phone: PHONE,
      hs_whatsapp_phone_number: PHONE,
      firstname: 'Amina',
      lastname: 'El Idrissi',
    });
  });

  it('uses the oldest of several matching contacts', async () => {
    const older = hs.seed('contacts', { phone: '0612345678' }, { createdAt: clock - 86_400_000 });
    hs.seed('contacts', { mobilephone: PHONE }, { createdAt: clock - 3_600_000 });
    expect((await connector().findOrCreateContact(PHONE, null)).id).toBe(older);
  });

  it('caches new contacts: HubSpot search lags creation, the cache prevents duplicates', async () => {
    hs.searchLagMs = 30_000;
    const c = connector();
    const first = await c.findOrCreateContact(PHONE, 'Amina');
    expect(first.created).toBe(true);
    const calls = hs.requests.length;
    const again = await c.findOrCreateContact('0612345678', 'Amina');
    expect(again).toEqual({ id: first.id, object: 'contacts', created: false });
    expect(hs.requests.length).toBe(calls); // answered from the cache

    // Without the cache (another instance) the lag really does hide the new contact…
    const other = await connector().findOrCreateContact(PHONE, 'Amina');
    expect(other.created).toBe(true);
    // …and once searchable, a fresh instance settles on the oldest one.
    clock += 31_000;
    expect((await connector().findOrCreateContact(PHONE, null)).id).toBe(first.id);
  });

  it('does not create two contacts when called concurrently', async () => {
    const c = connector();
    const refs = await Promise.all([c.findOrCreateContact(PHONE, 'A'), c.findOrCreateContact('0612345678', 'A')]);
    expect(refs[0]!.id).toBe(refs[1]!.id);
    expect(hs.list('contacts')).toHaveLength(1);
  });

  it('rejects an invalid phone without calling HubSpot', async () => {
    const err = await catchCrm(connector().findOrCreateContact('12', null));
    expect(err.retryable).toBe(false);
    expect(hs.requests).toHaveLength(0);
  });
});

describe('archive', () => {
  let c: HubSpotConnector;
  let contactId: string;
  let openDeal: string;
  let closedDeal: string;

  beforeEach(async () => {
    c = connector();
    await c.ensureProperties();
    contactId = hs.seed('contacts', { firstname: 'Amina', phone: '06 12 34 56 78' });
    closedDeal = hs.seed('deals', { dealname: 'Old order', dealstage: 'closedwon' });
    openDeal = hs.seed('deals', { dealname: 'New order', dealstage: 'appointmentscheduled' });
    hs.link('contacts', contactId, 'deals', closedDeal);
    hs.link('contacts', contactId, 'deals', openDeal);
  });

  it('writes WhatsApp communications associated to the contact (81) and its open deal (85)', async () => {
    const batch = [
      msg({ text: 'Salam, <b>prix</b> & stock?' }),
      msg({ direction: 'outbound', origin: 'app', text: 'Oui, 120 DH' }),
      msg({ direction: 'outbound', origin: 'agent', text: 'Merci !' }),
    ];
    const before = hs.apiRequests().length;
    const res = await c.archive(batch);

    expect(Object.keys(res.written).sort()).toEqual(batch.map((m) => m.id).sort());
    expect(res.apiCalls).toBe(hs.apiRequests().length - before);
    // search skipped? no: contact lookup (1) + deal associations (1) + deal read (1) + upsert (1) + 2 association calls
    expect(res.apiCalls).toBe(6);

    const comms = hs.list('communications');
    expect(comms).toHaveLength(3);
    for (const m of batch) {
      const comm = hs.get('communications', res.written[m.id]!)!;
      expect(comm.properties).toMatchObject({
        hs_communication_channel_type: 'WHATS_APP',
        hs_communication_logged_from: 'CRM',
        hs_timestamp: m.timestamp,
        [HUBSPOT_COEX_ID_PROPERTY]: m.id,
      });
      expect(hs.associationsOf('communications', comm.id, 'contacts')).toEqual([
        { toId: contactId, typeIds: [HUBSPOT_ASSOCIATION_TYPES.communicationToContact] },
      ]);
      expect(hs.associationsOf('communications', comm.id, 'deals')).toEqual([
        { toId: openDeal, typeIds: [HUBSPOT_ASSOCIATION_TYPES.communicationToDeal] },
      ]);
    }
    const first = hs.get('communications', res.written[batch[0]!.id]!)!.properties.hs_communication_body!;
    expect(first).toContain('👤 Customer');
    expect(first).toContain('Salam, &lt;b&gt;prix&lt;/b&gt; &amp; stock?');
    expect(first).not.toContain('<b>prix');
    expect(hs.get('communications', res.written[batch[1]!.id]!)!.properties.hs_communication_body).toContain('📱 Owner (phone app)');
    expect(hs.get('communications', res.written[batch[2]!.id]!)!.properties.hs_communication_body).toContain('🤖 Agent');
  });

  it('is idempotent: archiving the same batch again writes nothing new', async () => {
    const batch = [msg(), msg({ direction: 'outbound', origin: 'history' })];
    const first = await c.archive(batch);
    const second = await c.archive(batch);
    expect(second.written).toEqual(first.written);
    expect(hs.list('communications')).toHaveLength(2);
    for (const id of Object.values(first.written)) {
      expect(hs.associationsOf('communications', id, 'contacts')).toHaveLength(1);
    }
  });

  it('only links to the contact when every deal is closed', async () => {
    const lonely = hs.seed('contacts', { phone: '+212700000001' });
    hs.link('contacts', lonely, 'deals', closedDeal);
    const res = await c.archive([msg({ customerPhone: '+212700000001' })]);
    const id = Object.values(res.written)[0]!;
    expect(hs.associationsOf('communications', id, 'deals')).toEqual([]);
    expect(hs.associationsOf('communications', id, 'contacts')).toEqual([{ toId: lonely, typeIds: [81] }]);
  });

  it('splits more than 100 messages into batches of at most 100, counting every call', async () => {
    const batch = Array.from({ length: 150 }, () => msg());
    const before = hs.apiRequests().length;
    const res = await c.archive(batch);
    expect(Object.keys(res.written)).toHaveLength(150);
    const upserts = hs.requests.filter((r) => r.path === '/crm/v3/objects/communications/batch/upsert');
    expect(upserts.map((r) => (r.body as { inputs: unknown[] }).inputs.length)).toEqual([100, 50]);
    expect(res.apiCalls).toBe(hs.apiRequests().length - before);
  });

  it('groups by customer and creates missing contacts once each', async () => {
    const batch = [msg({ customerPhone: '+212600000011', customerName: 'Karim' }), msg({ customerPhone: '0600000011' }), msg()];
    const res = await c.archive(batch);
    expect(Object.keys(res.written)).toHaveLength(3);
    const karim = hs.list('contacts').filter((x) => x.properties.phone === '+212600000011');
    expect(karim).toHaveLength(1);
    expect(karim[0]!.properties.firstname).toBe('Karim');
  });

  it('archives 100 messages of 2 new customers in at most 5 calls: 1 search, 1 create, 1 upsert, 1 association', async () => {
    const batch = [
      ...Array.from({ length: 50 }, () => msg({ customerPhone: '+212600000021', customerName: 'Karim' })),
      ...Array.from({ length: 50 }, () => msg({ customerPhone: '+212600000022', customerName: 'Salma' })),
    ];
    const before = hs.apiRequests().length;
    const res = await c.archive(batch);
    const calls = hs.apiRequests().slice(before);
    expect(res.apiCalls).toBe(calls.length);
    expect(res.apiCalls).toBeLessThanOrEqual(5);
    expect(calls.map((r) => r.path)).toEqual([
      '/crm/v3/objects/contacts/search',
      '/crm/v3/objects/contacts/batch/create',
      '/crm/v3/objects/communications/batch/upsert',
      '/crm/v4/associations/communications/contacts/batch/create',
    ]);
    // One search covers both customers: every spelling of both phones in one IN per property.
    const search = calls[0]!.body as { filterGroups: { filters: { operator: string; values: string[] }[] }[] };
    expect(search.filterGroups).toHaveLength(3);
    expect(search.filterGroups[0]!.filters[0]!.values).toEqual(expect.arrayContaining(['+212600000021', '0600000021', '+212600000022', '0600000022']));
    expect(Object.keys(res.written)).toHaveLength(100);
    const karim = hs.list('contacts').find((x) => x.properties.phone === '+212600000021')!;
    const salma = hs.list('contacts').find((x) => x.properties.phone === '+212600000022')!;
    expect(karim.properties.firstname).toBe('Karim');
    expect(salma.properties.firstname).toBe('Salma');
    for (const m of batch) {
      const owner = m.customerPhone === '+212600000021' ? karim.id : salma.id;
      expect(hs.associationsOf('communications', res.written[m.id]!, 'contacts')).toEqual([{ toId: owner, typeIds: [81] }]);
    }
  });

  it('skips the deal association call when no contact of the chunk has an open deal', async () => {
    const lonely = hs.seed('contacts', { phone: '+212700000002' });
    hs.link('contacts', lonely, 'deals', closedDeal);
    const res = await c.archive([msg({ customerPhone: '+212700000002' }), msg({ customerPhone: '+212600000023' })]);
    expect(Object.keys(res.written)).toHaveLength(2);
    expect(hs.requests.filter((r) => r.path === '/crm/v4/associations/communications/deals/batch/create')).toEqual([]);
    for (const id of Object.values(res.written)) expect(hs.associationsOf('communications', id, 'deals')).toEqual([]);
  });

  it('links only the messages of customers with an open deal, in one deal call, and caches the open deal', async () => {
    const other = hs.seed('contacts', { phone: '+212700000003' });
    const withDeal = Array.from({ length: 3 }, () => msg());
    const without = Array.from({ length: 2 }, () => msg({ customerPhone: '+212700000003' }));
    const res = await c.archive([...withDeal, ...without]);
    const assocReads = hs.requests.filter((r) => r.path === '/crm/v4/associations/contacts/deals/batch/read');
    expect(assocReads).toHaveLength(1);
    expect((assocReads[0]!.body as { inputs: { id: string }[] }).inputs.map((i) => i.id).sort()).toEqual([contactId, other].sort());
    const dealCalls = hs.requests.filter((r) => r.path === '/crm/v4/associations/communications/deals/batch/create');
    expect(dealCalls).toHaveLength(1);
    expect((dealCalls[0]!.body as { inputs: unknown[] }).inputs).toHaveLength(3);
    for (const m of withDeal) expect(hs.associationsOf('communications', res.written[m.id]!, 'deals')).toEqual([{ toId: openDeal, typeIds: [85] }]);
    for (const m of without) expect(hs.associationsOf('communications', res.written[m.id]!, 'deals')).toEqual([]);

    // Next batch: contacts and open deals come from the caches: upsert + 2 association calls.
    const again = await c.archive([msg(), msg({ customerPhone: '+212700000003' })]);
    expect(again.apiCalls).toBe(3);
    expect(hs.requests.filter((r) => r.path === '/crm/v4/associations/contacts/deals/batch/read')).toHaveLength(1);
  });

  it('looks open deals up again once the cache expires', async () => {
    const fresh = connector({ openDealTtlMs: 0 });
    await fresh.archive([msg()]);
    await fresh.archive([msg()]);
    expect(hs.requests.filter((r) => r.path === '/crm/v4/associations/contacts/deals/batch/read')).toHaveLength(2);
  });

  it('forgets a cached open deal deleted meanwhile (retryable, then linked to the next open deal)', async () => {
    await c.archive([msg()]);
    hs.remove('deals', openDeal);
    const err = await catchCrm(c.archive([msg()]));
    expect(err).toMatchObject({ retryable: true, status: 400 });
    const newer = hs.seed('deals', { dealname: 'Reorder', dealstage: 'qualifiedtobuy' });
    hs.link('contacts', contactId, 'deals', newer);
    const res = await c.archive([msg()]);
    expect(hs.associationsOf('communications', Object.values(res.written)[0]!, 'deals')).toEqual([{ toId: newer, typeIds: [85] }]);
  });

  it('splits the phone spellings of many customers over IN filters of at most 100 values', async () => {
    const phones = Array.from({ length: 40 }, (_, i) => `+2126000001${String(i).padStart(2, '0')}`);
    hs.seed('contacts', { mobilephone: '0600000139' });
    const res = await c.archive(phones.map((customerPhone) => msg({ customerPhone })));
    expect(Object.keys(res.written)).toHaveLength(40);
    const searches = hs.requests.filter((r) => r.path === '/crm/v3/objects/contacts/search');
    expect(searches.length).toBeGreaterThan(1);
    for (const s of searches) {
      for (const g of (s.body as { filterGroups: { filters: { values: string[] }[] }[] }).filterGroups) {
        expect(g.filters[0]!.values.length).toBeLessThanOrEqual(100);
      }
    }
    const contacts = hs.list('contacts');
    for (const phone of phones) {
      const digits = phone.slice(4);
      expect(contacts.filter((x) => [x.properties.phone, x.properties.mobilephone].some((v) => v === phone || v === `0${digits}`))).toHaveLength(1);
    }
  });

  it('does not create two contacts when two archives for the same new customer run at once', async () => {
    const [a, b] = await Promise.all([c.archive([msg({ customerPhone: '+212600000031' })]), c.archive([msg({ customerPhone: '0600000031' })])]);
    expect(Object.keys(a.written)).toHaveLength(1);
    expect(Object.keys(b.written)).toHaveLength(1);
    expect(hs.list('contacts').filter((x) => x.properties.phone === '+212600000031')).toHaveLength(1);
  });

  it('forgets a cached contact deleted in HubSpot meanwhile (retryable, then recreated)', async () => {
    await c.archive([msg({ customerPhone: '+212600000077' })]);
    const gone = hs.list('contacts').find((x) => x.properties.phone === '+212600000077')!;
    hs.remove('contacts', gone.id);
    const err = await catchCrm(c.archive([msg({ customerPhone: '+212600000077' })]));
    expect(err).toMatchObject({ retryable: true, status: 400 });
    const res = await c.archive([msg({ customerPhone: '+212600000077' })]);
    const fresh = hs.list('contacts').find((x) => x.properties.phone === '+212600000077')!;
    expect(fresh.id).not.toBe(gone.id);
    expect(hs.associationsOf('communications', Object.values(res.written)[0]!, 'contacts')).toEqual([{ toId: fresh.id, typeIds: [81] }]);
  });

  it('leaves out messages without a customer phone', async () => {
    const res = await c.archive([msg({ customerPhone: null }), msg()]);
    expect(Object.keys(res.written)).toHaveLength(1);
  });

  it('reports a 429 as retryable with Retry-After, then succeeds', async () => {
    const batch = [msg()];
    hs.failNext({ status: 429, retryAfter: 3, match: (r) => r.path.endsWith('/batch/upsert') });
    const err = await catchCrm(c.archive(batch));
    expect(err).toMatchObject({ crm: 'hubspot', retryable: true, status: 429, retryAfterSeconds: 3 });
    const res = await c.archive(batch);
    expect(Object.keys(res.written)).toEqual([batch[0]!.id]);
    expect(hs.list('communications')).toHaveLength(1);
  });

  it('uses the secondly window when a 429 has no Retry-After', async () => {
    hs.failNext({ status: 429 });
    const err = await catchCrm(c.archive([msg()]));
    expect(err).toMatchObject({ retryable: true, status: 429, retryAfterSeconds: 1 });
  });

  it('reports 5xx as retryable', async () => {
    hs.failNext({ status: 502 });
    const err = await catchCrm(c.archive([msg()]));
    expect(err).toMatchObject({ retryable: true, status: 502 });
  });

  it('reports a bad token as non-retryable 401', async () => {
    const err = await catchCrm(connector({ accessToken: 'nope' }).archive([msg()]));
    expect(err).toMatchObject({ retryable: false, status: 401 });
    expect(err.message).toContain('Authentication credentials not found');
  });

  it('fails clearly when the install step was skipped', async () => {
    const hs2 = await FakeHubSpot.start();
    try {
      const c2 = new HubSpotConnector({ accessToken: TOKEN, basePath: hs2.url, portalId: '1', clientSecret: SECRET });
      const err = await catchCrm(c2.archive([msg()]));
      expect(err).toMatchObject({ retryable: false, status: 400 });
      expect(err.message).toContain(HUBSPOT_COEX_ID_PROPERTY);
    } finally {
      await hs2.close();
    }
  });
});

describe('notes', () => {
  let c: HubSpotConnector;
  let contactId: string;

  beforeEach(async () => {
    c = connector();
    await c.ensureProperties();
    contactId = hs.seed('contacts', { phone: PHONE });
  });

  it('attaches a transcript note (202 to the contact), idempotent per message', async () => {
    const note = {
      messageId: 'm-voice-1',
      wamid: 'wamid.v1',
      threadId: 't1',
      customerPhone: PHONE,
      customerName: 'Amina',
      text: 'bghit n3ref <taman>',
      language: 'ary',
      provider: 'gemini',
      at: '2026-03-01T09:30:00.000Z',
    };
    await c.attachTranscript(note);
    await c.attachTranscript(note);
    const notes = hs.list('notes');
    expect(notes).toHaveLength(1);
    expect(notes[0]!.properties.hs_note_body).toContain('bghit n3ref &lt;taman&gt;');
    expect(notes[0]!.properties[HUBSPOT_COEX_ID_PROPERTY]).toBe('transcript:m-voice-1');
    expect(hs.associationsOf('notes', notes[0]!.id, 'contacts')).toEqual([{ toId: contactId, typeIds: [202] }]);
  });

  it('shows the bot state as a note', async () => {
    const change = {
      threadId: 't1',
      customerPhone: PHONE,
      customerName: null,
      from: 'active' as const,
      to: 'paused' as const,
      cause: 'owner replied from the phone',
      pausedUntil: '2026-03-01T12:00:00.000Z',
      at: '2026-03-01T10:00:00.000Z',
    };
    await c.showBotState(change);
    await c.showBotState(change);
    const notes = hs.list('notes');
    expect(notes).toHaveLength(1);
    expect(notes[0]!.properties.hs_note_body).toContain('🤖 Agent paused — reason: owner replied from the phone · until 2026-03-01 12:00 UTC');
    expect(hs.associationsOf('notes', notes[0]!.id, 'contacts')).toEqual([{ toId: contactId, typeIds: [202] }]);
  });

  it('refuses a note without a phone (non-retryable)', async () => {
    const err = await catchCrm(
      c.showBotState({ threadId: 't', customerPhone: null, customerName: null, from: 'active', to: 'off', cause: 'x', pausedUntil: null, at: '2026-03-01T10:00:00Z' }),
    );
    expect(err.retryable).toBe(false);
  });
});

describe('verifyExtensionRequest (signature v3)', () => {
  function request(opts: { secret?: string; ts?: number; body?: string; url?: string } = {}) {
    const url = opts.url ?? `https://coex.example/api/hubspot/card?portalId=${hs.portalId}&userId=1&userEmail=a%40b.co&appId=77`;
    const body = opts.body ?? '{"threadId":"t1"}';
    const ts = String(opts.ts ?? clock - 2000);
    return {
      method: 'POST',
      url,
      rawBody: Buffer.from('{"threadId":"t1"}'),
      now: clock,
      headers: {
        'x-hubspot-signature-v3': signHubSpotV3(opts.secret ?? SECRET, 'POST', url, body, ts),
        'x-hubspot-request-timestamp': ts,
      },
    };
  }

  it('accepts a valid request and returns the portal', async () => {
    expect(await connector().verifyExtensionRequest(request())).toEqual({ ok: true, account: String(hs.portalId) });
  });

  it('rejects the wrong secret, an expired timestamp and a tampered body', async () => {
    const c = connector();
    expect(await c.verifyExtensionRequest(request({ secret: 'other' }))).toMatchObject({ ok: false, status: 401 });
    expect(await c.verifyExtensionRequest(request({ ts: clock - 6 * 60_000 }))).toMatchObject({ ok: false, status: 401 });
    expect(await c.verifyExtensionRequest(request({ body: '{"threadId":"t2"}' }))).toMatchObject({ ok: false, status: 401 });
  });

  it('rejects a valid signature for another portal or app (403)', async () => {
    const other = request({ url: 'https://coex.example/api/hubspot/card?portalId=999&appId=77' });
    expect(await connector().verifyExtensionRequest(other)).toMatchObject({ ok: false, status: 403 });
    expect(await connector({ appId: '78' }).verifyExtensionRequest(request())).toMatchObject({ ok: false, status: 403 });
    expect(await connector({ appId: '77' }).verifyExtensionRequest(request())).toMatchObject({ ok: true });
  });
});

describe('OAuth', () => {
  const config = (): HubSpotOAuthConfig => ({
    clientId: 'client-id',
    clientSecret: SECRET,
    redirectUri: 'https://coex.example/oauth/hubspot',
    scopes: ['crm.objects.contacts.read', 'crm.objects.contacts.write'],
    optionalScopes: ['conversations.custom_channels.write'],
    apiBase: hs.url,
  });

  it('builds the authorize URL', () => {
    const url = new URL(buildHubSpotAuthorizeUrl(config(), 'st4te'));
    expect(url.origin + url.pathname).toBe('https://app.hubspot.com/oauth/authorize');
    expect(url.searchParams.get('client_id')).toBe('client-id');
    expect(url.searchParams.get('redirect_uri')).toBe('https://coex.example/oauth/hubspot');
    expect(url.searchParams.get('scope')).toBe('crm.objects.contacts.read crm.objects.contacts.write');
    expect(url.searchParams.get('optional_scope')).toBe('conversations.custom_channels.write');
    expect(url.searchParams.get('state')).toBe('st4te');
    expect(buildHubSpotAuthorizeUrl(config(), 'x')).toContain('scope=crm.objects.contacts.read%20crm.objects.contacts.write');
  });

  it('exchanges a code on /oauth/2026-03/token with a form body, then refreshes', async () => {
    const tokens = await exchangeHubSpotCode(config(), hs.issueAuthCode(), clock);
    expect(tokens).toMatchObject({ hubId: String(hs.portalId), expiresAt: clock + 1800 * 1000 });
    const call = hs.requests.at(-1)!;
    expect(call.path).toBe('/oauth/2026-03/token');
    expect(call.query).toEqual({});
    expect(call.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(call.body).toMatchObject({ grant_type: 'authorization_code', client_id: 'client-id', redirect_uri: 'https://coex.example/oauth/hubspot' });

    const next = await refreshHubSpotToken(config(), tokens.refreshToken, clock);
    expect(next.accessToken).not.toBe(tokens.accessToken);
    expect(hs.requests.at(-1)!.body).toMatchObject({ grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
  });

  it('reports a used code and a revoked refresh token as non-retryable', async () => {
    const code = hs.issueAuthCode();
    const tokens = await exchangeHubSpotCode(config(), code, clock);
    expect(await catchCrm(exchangeHubSpotCode(config(), code, clock))).toMatchObject({ retryable: false, status: 400 });
    hs.revokeRefreshToken(tokens.refreshToken);
    const err = await catchCrm(refreshHubSpotToken(config(), tokens.refreshToken, clock));
    expect(err).toMatchObject({ retryable: false, status: 400 });
    expect(err.message).toContain('unknown refresh token');
  });

  it('token manager refreshes 60 s before expiry, single-flight, and the connector uses it', async () => {
    const initial = await exchangeHubSpotCode(config(), hs.issueAuthCode(), clock);
    const persisted: string[] = [];
    const manager = new HubSpotTokenManager(config(), initial, { now: () => clock, onRefresh: (t) => void persisted.push(t.accessToken) });
    const c = connector({ accessToken: undefined, tokenProvider: () => manager.getAccessToken() });

    expect(await manager.getAccessToken()).toBe(initial.accessToken);
    await c.findOrCreateContact(PHONE, 'Amina');
    expect(hs.requests.at(-1)!.headers.authorization).toBe(`Bearer ${initial.accessToken}`);

    clock += 1800 * 1000 - 59_000; // inside the 60 s window
    const tokenCalls = () => hs.requests.filter((r) => r.path === '/oauth/2026-03/token').length;
    const before = tokenCalls();
    const got = await Promise.all([manager.getAccessToken(), manager.getAccessToken(), manager.getAccessToken()]);
    expect(tokenCalls()).toBe(before + 1);
    expect(new Set(got).size).toBe(1);
    expect(got[0]).not.toBe(initial.accessToken);
    expect(persisted).toEqual([got[0]]);

    // The old token is now past its expiry in the fake: the connector must be using the new one.
    clock += 60_000;
    await c.findOrCreateContact('+212600000099', null);
    expect(hs.requests.at(-1)!.headers.authorization).toBe(`Bearer ${got[0]}`);
  });

  it('the fake rejects an expired token like HubSpot', async () => {
    const tokens = await exchangeHubSpotCode(config(), hs.issueAuthCode(), clock);
    clock += 1801 * 1000;
    const err = await catchCrm(connector({ accessToken: tokens.accessToken }).findOrCreateContact(PHONE, null));
    expect(err).toMatchObject({ status: 401, retryable: false });
    expect(err.message).toContain('expired');
  });
});

describe('fake HubSpot search semantics', () => {
  async function search(body: unknown): Promise<{ status: number; json: { total?: number; results?: { id: string }[]; category?: string } }> {
    const res = await fetch(`${hs.url}/crm/v3/objects/contacts/search`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as { total?: number; results?: { id: string }[]; category?: string } };
  }

  it('ORs groups, ANDs filters, tokenizes CONTAINS_TOKEN and enforces limits', async () => {
    const a = hs.seed('contacts', { firstname: 'Amina', lastname: 'El Idrissi', phone: '+212 6 12 34 56 78' });
    const b = hs.seed('contacts', { firstname: 'Karim', phone: '0600000000' });
    const or = await search({ filterGroups: [{ filters: [{ propertyName: 'firstname', operator: 'EQ', value: 'amina' }] }, { filters: [{ propertyName: 'firstname', operator: 'EQ', value: 'Karim' }] }] });
    expect(or.json.results!.map((r) => r.id)).toEqual([a, b]);
    const and = await search({ filterGroups: [{ filters: [{ propertyName: 'firstname', operator: 'EQ', value: 'Amina' }, { propertyName: 'phone', operator: 'EQ', value: '0600000000' }] }] });
    expect(and.json.total).toBe(0);
    const token = await search({ filterGroups: [{ filters: [{ propertyName: 'lastname', operator: 'CONTAINS_TOKEN', value: 'idri*' }] }] });
    expect(token.json.results!.map((r) => r.id)).toEqual([a]);

    const tooMany = await search({ filterGroups: Array.from({ length: 6 }, () => ({ filters: [{ propertyName: 'phone', operator: 'HAS_PROPERTY' }] })) });
    expect(tooMany).toMatchObject({ status: 400, json: { category: 'VALIDATION_ERROR' } });
    const tooWide = await search({ filterGroups: [{ filters: Array.from({ length: 7 }, () => ({ propertyName: 'phone', operator: 'HAS_PROPERTY' })) }] });
    expect(tooWide.status).toBe(400);
    const tooManyTotal = await search({ filterGroups: Array.from({ length: 4 }, () => ({ filters: Array.from({ length: 5 }, () => ({ propertyName: 'phone', operator: 'HAS_PROPERTY' })) })) });
    expect(tooManyTotal.status).toBe(400);
  });

  it('rejects more than 100 values in an IN filter', async () => {
    const values = Array.from({ length: 101 }, (_, i) => `+2126000${String(i).padStart(5, '0')}`);
    const res = await search({ filterGroups: [{ filters: [{ propertyName: 'phone', operator: 'IN', values }] }] });
    expect(res).toMatchObject({ status: 400, json: { category: 'VALIDATION_ERROR' } });
    expect((await search({ filterGroups: [{ filters: [{ propertyName: 'phone', operator: 'IN', values: values.slice(0, 100) }] }] })).status).toBe(200);
  });

  it('v4 batch read answers 207 with NO_ASSOCIATIONS_FOUND for records without associations', async () => {
    const a = hs.seed('contacts', { phone: '+212600000001' });
    const b = hs.seed('contacts', { phone: '+212600000002' });
    const deal = hs.seed('deals', { dealstage: 'appointmentscheduled' });
    hs.link('contacts', a, 'deals', deal);
    const res = await fetch(`${hs.url}/crm/v4/associations/contacts/deals/batch/read`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ id: a }, { id: b }] }),
    });
    expect(res.status).toBe(207);
    expect(await res.json()).toMatchObject({
      results: [{ from: { id: a }, to: [{ toObjectId: Number(deal), associationTypes: [{ category: 'HUBSPOT_DEFINED', typeId: 4 }] }] }],
      errors: [{ category: 'OBJECT_NOT_FOUND', subCategory: 'crm.associations.NO_ASSOCIATIONS_FOUND', context: { fromObjectId: [b] } }],
    });
  });
});

describe('recordMarketingConsent', () => {
  let c: HubSpotConnector;
  const optOut: MarketingConsentChange = {
    eventId: 'evt-1',
    customerPhone: PHONE,
    customerName: 'Amina El Idrissi',
    businessPhone: '+212522000000',
    action: 'opt_out',
    source: 'keyword',
    detail: 'baraka',
    at: '2026-03-01T09:45:00.000Z',
  };
  const optIn: MarketingConsentChange = { ...optOut, eventId: 'evt-2', action: 'opt_in', source: 'crm', detail: 'owner@shop.ma', at: '2026-03-02T08:00:00.000Z' };

  beforeEach(async () => {
    c = connector();
    await c.ensureProperties();
  });

  it('creates the consent properties in the CoEx group, ticks the opt-out and writes one note on the contact', async () => {
    const contactId = hs.seed('contacts', { phone: PHONE, firstname: 'Amina' });
    await c.recordMarketingConsent(optOut);

    const flag = hs.property('contacts', HUBSPOT_CONSENT_PROPERTIES.optOut);
    expect(flag).toMatchObject({ type: 'bool', fieldType: 'booleancheckbox', groupName: 'coex' });
    expect(hs.property('contacts', HUBSPOT_CONSENT_PROPERTIES.changedAt)).toMatchObject({ type: 'datetime', groupName: 'coex' });
    const contact = hs.get('contacts', contactId)!;
    expect(contact.properties[HUBSPOT_CONSENT_PROPERTIES.optOut]).toBe('true');
    expect(contact.properties[HUBSPOT_CONSENT_PROPERTIES.changedAt]).toBe('2026-03-01T09:45:00.000Z');
    expect(contact.properties[HUBSPOT_CONSENT_PROPERTIES.detail]).toContain('the customer wrote "baraka"');
    const notes = hs.list('notes');
    expect(notes).toHaveLength(1);
    expect(notes[0]!.properties[HUBSPOT_COEX_ID_PROPERTY]).toBe('consent:evt-1');
    expect(notes[0]!.properties.hs_note_body).toContain('Opted out of WhatsApp marketing');
    expect(hs.associationsOf('notes', notes[0]!.id, 'contacts')).toEqual([{ toId: contactId, typeIds: [HUBSPOT_ASSOCIATION_TYPES.noteToContact] }]);
  });

  it('is idempotent per eventId: a retry finds the note and changes nothing on the contact, even after a newer opt-in', async () => {
    const contactId = hs.seed('contacts', { phone: PHONE });
    await c.recordMarketingConsent(optOut);
    await c.recordMarketingConsent(optIn);
    const before = hs.requests.length;
    await c.recordMarketingConsent(optOut);
    const retried = hs.requests.slice(before);
    expect(retried.some((r) => r.method === 'PATCH' || r.path.endsWith('/batch/upsert'))).toBe(false);
    expect(hs.get('contacts', contactId)!.properties[HUBSPOT_CONSENT_PROPERTIES.optOut]).toBe('false');
    expect(hs.list('notes')).toHaveLength(2);
  });

  it('opt-in clears the flag and notes who did it', async () => {
    const contactId = hs.seed('contacts', { phone: PHONE });
    await c.recordMarketingConsent(optOut);
    await c.recordMarketingConsent(optIn);
    const contact = hs.get('contacts', contactId)!;
    expect(contact.properties[HUBSPOT_CONSENT_PROPERTIES.optOut]).toBe('false');
    expect(contact.properties[HUBSPOT_CONSENT_PROPERTIES.changedAt]).toBe('2026-03-02T08:00:00.000Z');
    const note = hs.list('notes').find((n) => n.properties[HUBSPOT_COEX_ID_PROPERTY] === 'consent:evt-2');
    expect(note?.properties.hs_note_body).toContain('Opted back in to WhatsApp marketing');
    expect(note?.properties.hs_note_body).toContain('set from the CRM by owner@shop.ma');
  });

  it('creates the contact for an unknown customer, as archive() would, and marks it', async () => {
    await c.recordMarketingConsent({ ...optOut, customerPhone: '+212698765432', customerName: 'Youssef B' });
    const [contact] = hs.list('contacts');
    expect(contact?.properties).toMatchObject({ phone: '+212698765432', firstname: 'Youssef', [HUBSPOT_CONSENT_PROPERTIES.optOut]: 'true' });
    expect(hs.associationsOf('notes', hs.list('notes')[0]!.id, 'contacts')).toEqual([{ toId: contact!.id, typeIds: [202] }]);
  });

  it('keeps existing consent properties (409-free second connector) and creates them only once', async () => {
    hs.seed('contacts', { phone: PHONE });
    await c.recordMarketingConsent(optOut);
    const again = connector();
    await again.recordMarketingConsent(optIn);
    const creates = hs.requests.filter((r) => r.method === 'POST' && r.path === '/crm/v3/properties/contacts');
    expect(creates).toHaveLength(3);
  });

  it('reports a 429 as retryable with Retry-After, and the retry completes the change', async () => {
    const contactId = hs.seed('contacts', { phone: PHONE });
    hs.failNext({ status: 429, retryAfter: 2, match: (r) => r.method === 'PATCH' });
    const err = await catchCrm(c.recordMarketingConsent(optOut));
    expect(err).toMatchObject({ retryable: true, status: 429, retryAfterSeconds: 2 });
    expect(hs.list('notes')).toHaveLength(0);
    await c.recordMarketingConsent(optOut);
    expect(hs.get('contacts', contactId)!.properties[HUBSPOT_CONSENT_PROPERTIES.optOut]).toBe('true');
    expect(hs.list('notes')).toHaveLength(1);
  });

  it('reports 5xx as retryable', async () => {
    hs.seed('contacts', { phone: PHONE });
    hs.failNext({ status: 503 });
    expect(await catchCrm(c.recordMarketingConsent(optOut))).toMatchObject({ retryable: true, status: 503 });
  });

  it('refuses a change without a valid phone (non-retryable, no call)', async () => {
    const err = await catchCrm(c.recordMarketingConsent({ ...optOut, customerPhone: 'not a phone' }));
    expect(err.retryable).toBe(false);
    expect(hs.apiRequests().filter((r) => r.path.includes('/objects/'))).toHaveLength(0);
  });
});
