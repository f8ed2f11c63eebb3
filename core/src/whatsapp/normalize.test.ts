import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  UNPARSED_PARTITION,
  identityOf,
  normalizeChange,
  normalizeChangeIsolated,
  normalizeDelivery,
  normalizeDeliveryByPartition,
  normalizeMessage,
  HISTORY_LANES,
  historyLaneOf,
  historyPartition,
  partitionParts,
  partitionKeyOf,
  partitionKeysOf,
  stableHash,
  textOf,
  type DomainEvent,
} from './normalize.js';
import { envelopeSchema, historyItemSchema, messageSchema } from './schemas.js';
import { sanitizeParsed } from './sanitize.js';
import * as P from './payloads.js';

/**
 * Fast unit tests of the webhook → domain event mapping, in Meta's shapes (coex-spec.md §1–6, the
 * fixtures in test/fixtures/meta-webhooks/). They assert exact events, so mutation testing
 * (docs/testing.md) can run them once per mutant.
 */

const WABA = '102290129340398';
const PN = '106540352242922';
const DISPLAY = '212522123456';
const CUSTOMER = '212612345678';
const N: P.NumberRef = { wabaId: WABA, phoneNumberId: PN, displayPhoneNumber: DISPLAY };
const T = 1764583200;
const AT = new Date(T * 1000);
const metadata = { display_phone_number: DISPLAY, phone_number_id: PN };

/** A message object as Meta posts it (timestamp a string of seconds). */
const raw = (body: Record<string, unknown>, id = 'wamid.1') => ({ from: CUSTOMER, id, timestamp: String(T), ...body });
const parsed = (body: Record<string, unknown>) => messageSchema.parse(raw(body));
const text = (body: Record<string, unknown>) => textOf(parsed(body));

/** The single change value of a payload built by payloads.ts. */
const valueOf = (payload: { entry: Array<{ changes: Array<{ value: unknown }> }> }) => payload.entry[0]!.changes[0]!.value;
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../../test/fixtures/meta-webhooks/${name}.json`, import.meta.url), 'utf8')) as { entry: Array<{ id: string; changes: Array<{ field: string; value: unknown }> }> };

const noContact = { waId: null, userId: null, username: null, countryCode: null, profileName: null };

describe('partitionKeyOf / partitionKeysOf', () => {
  it('keys a change by its metadata phone number id, else by the handover recipient, else by the WABA', () => {
    expect(partitionKeyOf(WABA, { metadata })).toBe(PN);
    expect(partitionKeyOf(WABA, { recipient: { phone_number_id: PN } })).toBe(PN);
    expect(partitionKeyOf(WABA, { metadata: { phone_number_id: '111' }, recipient: { phone_number_id: '222' } })).toBe('111');
    // metadata without a phone number id: the recipient still counts.
    expect(partitionKeyOf(WABA, { metadata: { display_phone_number: DISPLAY }, recipient: { phone_number_id: '222' } })).toBe('222');
    expect(partitionKeyOf(WABA, { event: 'PARTNER_REMOVED' })).toBe(`waba:${WABA}`);
  });

  it('takes only a well-formed id (1–32 digits, a string) to key a partition', () => {
    expect(partitionKeyOf(WABA, { metadata: { phone_number_id: '1'.repeat(32) } })).toBe('1'.repeat(32));
    for (const bad of ['1'.repeat(33), '', '12a', 'x\u00001', ' 123', 123, null]) {
      expect(partitionKeyOf(WABA, { metadata: { phone_number_id: bad } }), String(bad)).toBe(`waba:${WABA}`);
      expect(partitionKeyOf(WABA, { recipient: { phone_number_id: bad } }), String(bad)).toBe(`waba:${WABA}`);
    }
    for (const value of [null, undefined, 'text', 7, { metadata: null }, { metadata: 'x' }, { recipient: null }, { recipient: 'x' }]) {
      expect(partitionKeyOf(WABA, value), JSON.stringify(value)).toBe(`waba:${WABA}`);
    }
  });

  it('puts a change with no usable number and no usable WABA id in the unparsed partition', () => {
    expect(UNPARSED_PARTITION).toBe('unparsed');
    for (const entryId of ['', 'abc', '1'.repeat(33)]) expect(partitionKeyOf(entryId, {})).toBe('unparsed');
    expect(partitionKeyOf('', { metadata })).toBe(PN);
  });

  it('lists the distinct keys of a delivery in order of appearance, across entries and changes', () => {
    const envelope = envelopeSchema.parse({
      object: 'whatsapp_business_account',
      entry: [
        { id: WABA, changes: [{ field: 'messages', value: { metadata: { phone_number_id: '222' } } }, { field: 'account_update', value: { event: 'X' } }] },
        { id: WABA, changes: [{ field: 'messages', value: { metadata: { phone_number_id: '111' } } }, { field: 'messages', value: { metadata: { phone_number_id: '222' } } }] },
        { id: 'nope', changes: [] },
      ],
    });
    expect(partitionKeysOf(envelope)).toEqual(['222', `waba:${WABA}`, '111']);
  });
});

describe('textOf', () => {
  it('reads the text of every message type Meta sends', () => {
    expect(text({ type: 'text', text: { body: 'salam' } })).toBe('salam');
    expect(text({ type: 'text' })).toBeNull();
    for (const type of ['image', 'video', 'sticker']) {
      expect(text({ type, [type]: { id: 'm', caption: `${type} caption` } })).toBe(`${type} caption`);
      expect(text({ type, [type]: { id: 'm' } })).toBeNull();
      expect(text({ type })).toBeNull();
    }
    expect(text({ type: 'document', document: { id: 'm', caption: 'Invoice', filename: 'f.pdf' } })).toBe('Invoice');
    expect(text({ type: 'document', document: { id: 'm', filename: 'f.pdf' } })).toBe('f.pdf');
    expect(text({ type: 'document', document: { id: 'm' } })).toBeNull();
    expect(text({ type: 'document' })).toBeNull();
    expect(text({ type: 'audio', audio: { id: 'm', voice: true } })).toBeNull();
  });

  it('describes locations, contacts, replies, buttons, reactions, orders and system messages', () => {
    expect(text({ type: 'location', location: { latitude: 31.6, longitude: -8, name: 'Jemaa el-Fna', address: 'Marrakech' } })).toBe('Jemaa el-Fna, Marrakech');
    expect(text({ type: 'location', location: { latitude: 31.6, longitude: -8, address: 'Marrakech' } })).toBe('Marrakech');
    expect(text({ type: 'location', location: { latitude: 31.6, longitude: -8, name: '' } })).toBe('31.6,-8');
    expect(text({ type: 'location' })).toBeNull();
    expect(text({ type: 'contacts', contacts: [{ name: { formatted_name: 'Amina' } }, { phones: [{ phone: '+212 600' }, { phone: '+212 700' }] }, {}] })).toBe('Amina, +212 600');
    expect(text({ type: 'contacts', contacts: [{}] })).toBeNull();
    expect(text({ type: 'contacts', contacts: [{ phones: [] }, { name: {} }] })).toBeNull();
    expect(text({ type: 'contacts' })).toBeNull();
    expect(text({ type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'b', title: 'Yes' }, list_reply: { id: 'l', title: 'List' } } })).toBe('Yes');
    expect(text({ type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'l', title: 'Casablanca' }, nfm_reply: { body: 'Sent' } } })).toBe('Casablanca');
    expect(text({ type: 'interactive', interactive: { type: 'nfm_reply', nfm_reply: { body: 'Sent', response_json: '{}' } } })).toBe('Sent');
    expect(text({ type: 'interactive', interactive: { type: 'nfm_reply', nfm_reply: {} } })).toBeNull();
    expect(text({ type: 'interactive' })).toBeNull();
    expect(text({ type: 'interactive', interactive: { type: 'button_reply' } })).toBeNull();
    expect(text({ type: 'button', button: { payload: 'STOP', text: 'Stop promotions' } })).toBe('Stop promotions');
    expect(text({ type: 'button', button: { payload: 'STOP' } })).toBe('STOP');
    expect(text({ type: 'button', button: {} })).toBeNull();
    expect(text({ type: 'button' })).toBeNull();
    expect(text({ type: 'reaction', reaction: { message_id: 'wamid.0', emoji: '👍' } })).toBe('👍');
    // An empty emoji removes the reaction; a missing one too.
    expect(text({ type: 'reaction', reaction: { message_id: 'wamid.0' } })).toBe('');
    expect(text({ type: 'reaction' })).toBe('');
    const items = [{ product_retailer_id: 'SKU1', quantity: 2 }, { product_retailer_id: 'SKU2', quantity: '1' }];
    expect(text({ type: 'order', order: { product_items: items } })).toBe('Order: 2× SKU1, 1× SKU2');
    expect(text({ type: 'order', order: { text: 'for Friday', product_items: items } })).toBe('for Friday');
    expect(text({ type: 'order', order: { product_items: [] } })).toBeNull();
    expect(text({ type: 'order' })).toBeNull();
    expect(text({ type: 'system', system: { body: 'User A changed from 1 to 2', type: 'user_changed_number' } })).toBe('User A changed from 1 to 2');
    expect(text({ type: 'system', system: { type: 'user_changed_number' } })).toBeNull();
    expect(text({ type: 'system' })).toBeNull();
    expect(text({ type: 'media_placeholder' })).toBeNull();
  });

  it('tells the merchant to look at the phone for 131060 and names other errors of unsupported messages', () => {
    for (const type of ['unsupported', 'unknown']) {
      expect(text({ type, errors: [{ code: 131060, title: 'x' }] })).toBe('Check the WhatsApp Business App on the phone for this message.');
      expect(text({ type, errors: [{ code: 131051, title: 'Message type unknown', message: 'm' }] })).toBe('Message type unknown (131051)');
      expect(text({ type, errors: [{ code: 131051, message: 'Unsupported type' }] })).toBe('Unsupported type (131051)');
      expect(text({ type, errors: [{ code: 131051 }] })).toBe('Unsupported message (131051)');
      expect(text({ type })).toBe('Unsupported message');
      expect(text({ type, errors: [] })).toBe('Unsupported message');
    }
  });
});

describe('normalizeMessage', () => {
  it('keeps id, type, time, quoted message, history status, errors and the raw message', () => {
    const received = raw({ type: 'text', text: { body: 'hi' }, context: { from: DISPLAY, id: 'wamid.quoted' }, history_context: { status: 'READ' } });
    const m = messageSchema.parse(received);
    expect(normalizeMessage(m, received)).toEqual({ wamid: 'wamid.1', type: 'text', text: 'hi', timestamp: AT, contextWamid: 'wamid.quoted', media: null, historyStatus: 'READ', errors: null, raw: m, payload: received });
    const failed = parsed({ type: 'unsupported', errors: [{ code: 131051 }] });
    expect(normalizeMessage(failed, null)).toMatchObject({ contextWamid: null, historyStatus: null, errors: [{ code: 131051 }] });
    expect(normalizeMessage(parsed({ type: 'text', text: { body: 'x' }, history_context: {} }), null).historyStatus).toBeNull();
  });

  it('points a reaction at the message it reacts to, not at a context', () => {
    expect(normalizeMessage(parsed({ type: 'reaction', reaction: { message_id: 'wamid.target', emoji: '❤' }, context: { id: 'wamid.other' } }), null).contextWamid).toBe('wamid.target');
    expect(normalizeMessage(parsed({ type: 'reaction', context: { id: 'wamid.other' } }), null).contextWamid).toBeNull();
  });

  it('describes the media of image, video, audio, document and sticker messages; a voice note only for audio', () => {
    const full = { id: 'media.1', mime_type: 'image/jpeg', sha256: 'b'.repeat(64), filename: 'x.jpg', voice: true };
    for (const type of ['image', 'video', 'document', 'sticker']) {
      expect(normalizeMessage(parsed({ type, [type]: full }), null).media).toEqual({ id: 'media.1', mimeType: 'image/jpeg', sha256: 'b'.repeat(64), filename: 'x.jpg', voice: false });
      expect(normalizeMessage(parsed({ type }), null).media).toBeNull();
    }
    expect(normalizeMessage(parsed({ type: 'audio', audio: { id: 'a.1', mime_type: 'audio/ogg; codecs=opus', voice: true } }), null).media).toEqual({ id: 'a.1', mimeType: 'audio/ogg; codecs=opus', sha256: null, filename: null, voice: true });
    expect(normalizeMessage(parsed({ type: 'audio', audio: { id: 'a.2' } }), null).media).toEqual({ id: 'a.2', mimeType: null, sha256: null, filename: null, voice: false });
    expect(normalizeMessage(parsed({ type: 'audio', audio: { voice: false } }), null).media).toEqual({ id: null, mimeType: null, sha256: null, filename: null, voice: false });
    // A media key on another type is not its media.
    expect(normalizeMessage(parsed({ type: 'text', text: { body: 'x' }, image: full }), null).media).toBeNull();
  });
});

describe('identityOf', () => {
  const profiles = [
    { profile: { name: 'Youssef', username: '@yo' }, wa_id: '212612345678', country_code: 'MA' },
    { profile: { name: 'Salma' }, wa_id: '', user_id: 'MA.222', username: '@salma' },
  ];

  it('keeps the digits of the phone and finds the profile by phone or by BSUID', () => {
    expect(identityOf('+212 612-345678', undefined, profiles)).toEqual({ waId: CUSTOMER, userId: null, username: '@yo', countryCode: 'MA', profileName: 'Youssef' });
    expect(identityOf('', 'MA.222', profiles)).toEqual({ waId: null, userId: 'MA.222', username: '@salma', countryCode: null, profileName: 'Salma' });
    expect(identityOf('212600000000', undefined, profiles)).toEqual({ ...noContact, waId: '212600000000' });
    expect(identityOf(null, null, undefined)).toEqual(noContact);
    expect(identityOf(undefined, undefined, profiles)).toEqual(noContact);
  });

  it('fills the phone and the BSUID from the matching profile', () => {
    const both = [{ wa_id: '212 611', user_id: 'MA.9' }];
    expect(identityOf('', 'MA.9', both)).toEqual({ ...noContact, waId: '212611', userId: 'MA.9' });
    expect(identityOf('212611', undefined, both)).toEqual({ ...noContact, waId: '212611', userId: 'MA.9' });
    // A profile with an empty phone adds none.
    expect(identityOf(undefined, 'MA.222', profiles).waId).toBeNull();
  });
});

describe('normalizeChange: messages', () => {
  it('turns a customer message into a live inbound message event with its contact', () => {
    const value = valueOf(P.inboundMessage(N, { waId: CUSTOMER, name: 'Youssef', userId: 'MA.1' }, 'wamid.A', AT, P.text('salam')));
    const events = normalizeChange(WABA, 'messages', value);
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({
      kind: 'message',
      phoneNumberId: PN,
      displayPhoneNumber: DISPLAY,
      direction: 'inbound',
      origin: 'customer',
      live: true,
      contact: { waId: CUSTOMER, userId: 'MA.1', username: null, countryCode: null, profileName: 'Youssef' },
      message: expect.objectContaining({ wamid: 'wamid.A', type: 'text', text: 'salam', timestamp: AT, media: null }),
    });
  });

  it('takes the BSUID from the message and a voice note’s media', () => {
    const value = valueOf(P.inboundMessage(N, { waId: CUSTOMER }, 'wamid.V', AT, P.voiceNote('media.9'), { from_user_id: 'MA.5' }));
    const [event] = normalizeChange(WABA, 'messages', value);
    expect(event).toMatchObject({ kind: 'message', contact: { waId: CUSTOMER, userId: 'MA.5', profileName: 'Customer' }, message: { type: 'audio', text: null, media: { id: 'media.9', mimeType: 'audio/ogg; codecs=opus', sha256: 'a'.repeat(64), filename: null, voice: true } } });
  });

  it('turns statuses into status events, after the messages of the same payload', () => {
    const status = { id: 'wamid.S', status: 'failed', timestamp: String(T), recipient_id: '+212 612 345678', recipient_user_id: 'MA.1', errors: [{ code: 131026, title: 'Message undeliverable' }], pricing: { billable: true, category: 'service' } };
    const value = { metadata, statuses: [status], messages: [raw({ type: 'text', text: { body: 'x' } })] };
    const events = normalizeChange(WABA, 'messages', value);
    expect(events.map((e) => e.kind)).toEqual(['message', 'status']);
    expect(events[1]).toEqual({
      kind: 'status',
      phoneNumberId: PN,
      wamid: 'wamid.S',
      status: 'failed',
      timestamp: AT,
      recipientWaId: CUSTOMER,
      recipientUserId: 'MA.1',
      errors: [{ code: 131026, title: 'Message undeliverable' }],
      pricing: { billable: true, category: 'service' },
      raw: { ...status, timestamp: AT },
      payload: status,
    });
    const [bare] = normalizeChange(WABA, 'messages', valueOf(P.statusUpdate(N, 'wamid.T', 'read', AT, '')));
    expect(bare).toMatchObject({ kind: 'status', status: 'read', recipientWaId: null, recipientUserId: null, errors: null, pricing: null });
  });

  it('turns an edit and a revoke into mutations of the original message', () => {
    const editOf = (message?: Record<string, unknown>) => raw({ type: 'edit', edit: { original_message_id: 'wamid.orig', ...(message ? { message } : {}) } }, 'wamid.E');
    const edit = (message?: Record<string, unknown>) => normalizeChange(WABA, 'messages', { metadata, messages: [editOf(message)] });
    expect(edit({ type: 'text', text: { body: 'fixed' } })).toEqual([
      {
        kind: 'mutation',
        phoneNumberId: PN,
        displayPhoneNumber: DISPLAY,
        mutation: 'edit',
        direction: 'inbound',
        origin: 'customer',
        contact: { ...noContact, waId: CUSTOMER },
        wamid: 'wamid.E',
        targetWamid: 'wamid.orig',
        timestamp: AT,
        newText: 'fixed',
        raw: expect.objectContaining({ id: 'wamid.E', type: 'edit' }),
        payload: editOf({ type: 'text', text: { body: 'fixed' } }),
      },
    ]);
    expect(edit({ type: 'image', image: { caption: 'new caption' } })[0]).toMatchObject({ newText: 'new caption' });
    expect(edit({ type: 'video', video: { caption: 'video caption' } })[0]).toMatchObject({ newText: 'video caption' });
    expect(edit({ type: 'document', document: { caption: 'doc caption' } })[0]).toMatchObject({ newText: 'doc caption' });
    expect(edit({ type: 'image', image: {} })[0]).toMatchObject({ newText: null });
    expect(edit()[0]).toMatchObject({ kind: 'mutation', newText: null });
    const revoke = normalizeChange(WABA, 'messages', { metadata, messages: [raw({ type: 'revoke', revoke: { original_message_id: 'wamid.gone' } }, 'wamid.R')] });
    expect(revoke).toEqual([{ kind: 'mutation', phoneNumberId: PN, displayPhoneNumber: DISPLAY, mutation: 'revoke', direction: 'inbound', origin: 'customer', contact: { ...noContact, waId: CUSTOMER }, wamid: 'wamid.R', targetWamid: 'wamid.gone', timestamp: AT, newText: null, raw: expect.objectContaining({ id: 'wamid.R' }), payload: expect.objectContaining({ id: 'wamid.R', timestamp: String(T) }) }]);
    // The type without its object is an ordinary (unreadable) message, not a mutation; nor is the
    // object on another type.
    for (const type of ['edit', 'revoke']) expect(normalizeChange(WABA, 'messages', { metadata, messages: [raw({ type })] })[0]).toMatchObject({ kind: 'message', message: { type, text: null } });
    const stray = { type: 'text', text: { body: 'plain' }, edit: { original_message_id: 'wamid.x' }, revoke: { original_message_id: 'wamid.y' } };
    expect(normalizeChange(WABA, 'messages', { metadata, messages: [raw(stray)] })[0]).toMatchObject({ kind: 'message', message: { type: 'text', text: 'plain' } });
  });

  it('reports webhook-level errors and payloads with nothing in them', () => {
    expect(normalizeChange(WABA, 'messages', { metadata, errors: [{ code: 131000 }, { code: 131001 }] })).toEqual([
      { kind: 'unknown', phoneNumberId: PN, field: 'messages', detail: 'webhook errors: 131000,131001', raw: [{ code: 131000 }, { code: 131001 }] },
    ]);
    const empty = { metadata, messages: [], statuses: [], errors: [] };
    expect(normalizeChange(WABA, 'messages', empty)).toEqual([{ kind: 'unknown', phoneNumberId: PN, field: 'messages', detail: 'messages payload with neither messages nor statuses', raw: empty }]);
    expect(normalizeChange(WABA, 'messages', { metadata })[0]).toMatchObject({ detail: 'messages payload with neither messages nor statuses' });
    // Statuses alone, or errors beside a message, are not "nothing".
    expect(normalizeChange(WABA, 'messages', { metadata, statuses: [{ id: 'w', status: 'sent', timestamp: '1' }] }).map((e) => e.kind)).toEqual(['status']);
    expect(normalizeChange(WABA, 'messages', { metadata, messages: [raw({ type: 'text', text: { body: 'x' } })], errors: [{ code: 1 }] }).map((e) => e.kind)).toEqual(['message', 'unknown']);
  });

  it('says where an invalid payload is wrong (at most five issues), partitioned like the delivery', () => {
    const bad = { metadata: { display_phone_number: DISPLAY, phone_number_id: 'abc' } };
    expect(normalizeChange(WABA, 'messages', bad)).toEqual([{ kind: 'unknown', phoneNumberId: null, field: 'messages', detail: 'invalid messages payload: metadata.phone_number_id: phone_number_id must be 1–32 digits', raw: bad }]);
    expect(normalizeChange(WABA, 'messages', 'x')[0]).toMatchObject({ phoneNumberId: null, detail: expect.stringMatching(/^invalid messages payload: \(root\): /) });
    const many = { metadata, messages: Array.from({ length: 7 }, (_, i) => ({ id: `w${i}`, timestamp: 'never', type: 'text' })) };
    const [event] = normalizeChange(WABA, 'messages', many);
    expect(event).toMatchObject({ kind: 'unknown', phoneNumberId: PN });
    const detail = (event as { detail: string }).detail;
    expect(detail.startsWith('invalid messages payload: messages.0.timestamp: ')).toBe(true);
    expect(detail.split('; ')).toHaveLength(5);
    expect(detail).toContain('; messages.4.timestamp: ');
    expect(detail).not.toContain('messages.5');
  });

  it('places a BSUID change before the messages of its delivery', () => {
    const value = {
      metadata,
      messages: [
        raw({ type: 'text', text: { body: 'before' } }, 'wamid.M1'),
        { from: CUSTOMER, from_user_id: 'MA.new', id: 'wamid.SYS', timestamp: String(T), type: 'system', system: { type: 'user_changed_user_id', previous_user_id: 'MA.old' } },
      ],
    };
    const events = normalizeChange(WABA, 'messages', value);
    expect(events.map((e) => e.kind)).toEqual(['user_id_change', 'message', 'message']);
    expect(events[0]).toEqual({ kind: 'user_id_change', phoneNumberId: PN, displayPhoneNumber: DISPLAY, previousUserId: 'MA.old', newUserId: 'MA.new', waId: CUSTOMER, wamid: 'wamid.SYS', timestamp: AT });
  });
});

describe('normalizeChange: echoes', () => {
  it('turns the business’s own messages into live outbound events keyed on the customer in `to`', () => {
    const value = valueOf(P.echo(N, CUSTOMER, 'wamid.E1', AT, P.text('Iyeh, kayna. 35 dh')));
    expect(normalizeChange(WABA, 'smb_message_echoes', value)).toEqual([
      { kind: 'message', phoneNumberId: PN, displayPhoneNumber: DISPLAY, direction: 'outbound', origin: 'app', live: true, contact: { ...noContact, waId: CUSTOMER }, message: expect.objectContaining({ wamid: 'wamid.E1', text: 'Iyeh, kayna. 35 dh' }) },
    ]);
    const withBsuid = { metadata, contacts: [{ user_id: 'MA.7', username: '@u' }], message_echoes: [{ from: DISPLAY, to: '', to_user_id: 'MA.7', id: 'wamid.E2', timestamp: String(T), type: 'text', text: { body: 'x' } }] };
    expect(normalizeChange(WABA, 'smb_message_echoes', withBsuid)[0]).toMatchObject({ contact: { waId: null, userId: 'MA.7', username: '@u' } });
    expect(normalizeChange(WABA, 'smb_message_echoes', { metadata })).toEqual([expect.objectContaining({ kind: 'unknown', phoneNumberId: PN, field: 'smb_message_echoes', detail: 'invalid smb_message_echoes payload: message_echoes: Invalid input: expected array, received undefined' })]);
  });
});

describe('normalizeChange: history', () => {
  const chunk = P.historyChunk(N, { phase: 1, chunkOrder: 3, progress: 40 }, [
    {
      waId: CUSTOMER,
      messages: [
        { wamid: 'wamid.H1', fromCustomer: true, at: AT, body: P.text('wach kayn?') },
        { wamid: 'wamid.H2', fromCustomer: false, at: AT, body: P.text('kayn'), status: 'READ' },
        { wamid: 'wamid.H3', fromCustomer: false, at: AT, body: P.mediaPlaceholder },
      ],
    },
    { waId: '212600000001', messages: [] },
  ]);

  it('turns a chunk into a chunk event followed by its messages, never live, directed by the thread', () => {
    const value = valueOf(chunk);
    const events = normalizeChange(WABA, 'history', value);
    // The hash is of the item as received, not as parsed (whose Dates are slow to stringify).
    const received = (value as { history: unknown[] }).history[0];
    expect(stableHash(received)).not.toBe(stableHash(historyItemSchema.parse(received)));
    expect(events[0]).toEqual({ kind: 'history_chunk', phoneNumberId: PN, displayPhoneNumber: DISPLAY, phase: 1, chunkOrder: 3, progress: 40, chunkHash: stableHash(received), threadCount: 2, messageCount: 3 });
    expect(events.slice(1).map((e) => e.kind === 'message' && [e.message.wamid, e.direction, e.origin, e.live, e.message.historyStatus, e.contact.waId])).toEqual([
      ['wamid.H1', 'inbound', 'history', false, 'READ', CUSTOMER],
      ['wamid.H2', 'outbound', 'history', false, 'READ', CUSTOMER],
      ['wamid.H3', 'outbound', 'history', false, 'DELIVERED', CUSTOMER],
    ]);
    expect(events[1]).toMatchObject({ contact: { ...noContact, waId: CUSTOMER } });
  });

  it('gives each message of a chunk its payload as received: its own, from its own thread', () => {
    const value = valueOf(
      P.historyChunk(N, { phase: 0, chunkOrder: 1, progress: 10 }, [
        { waId: CUSTOMER, messages: [{ wamid: 'wamid.A1', fromCustomer: true, at: AT, body: P.text('a1') }, { wamid: 'wamid.A2', fromCustomer: false, at: AT, body: P.text('a2') }] },
        { waId: '212600000001', messages: [{ wamid: 'wamid.B1', fromCustomer: true, at: AT, body: P.text('b1') }, { wamid: 'wamid.B2', fromCustomer: true, at: AT, body: P.image('media.b2') }] },
      ]),
    );
    const threads = (value as { history: Array<{ threads: Array<{ messages: unknown[] }> }> }).history[0]!.threads;
    const messages = normalizeChange(WABA, 'history', value).filter((e) => e.kind === 'message');
    expect(messages.map((e) => e.message.payload)).toEqual(threads.flatMap((t) => t.messages));
    // The very objects received (nothing parsed, no Dates): timestamps stay Meta's strings.
    expect(messages.map((e) => e.message.payload)).toEqual(threads.flatMap((t) => t.messages).map((m) => expect.objectContaining({ timestamp: String(T) })));
    expect(messages.every((e, i) => e.message.payload === threads.flatMap((t) => t.messages)[i])).toBe(true);
  });

  it('hashes a chunk by its content: the same chunk gives the same hash, another chunk another one', () => {
    const hashOf = (payload: unknown) => (normalizeChange(WABA, 'history', payload)[0] as { chunkHash: string }).chunkHash;
    const first = hashOf(valueOf(chunk));
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(hashOf(structuredClone(valueOf(chunk)))).toBe(first);
    expect(hashOf(valueOf(P.historyChunk(N, { phase: 1, chunkOrder: 4, progress: 40 }, [])))).not.toBe(first);
  });

  it('reads the counterpart from the thread context (BSUID and username too), else from the thread id', () => {
    const value = {
      metadata,
      history: [
        {
          metadata: { phase: 0, chunk_order: 0, progress: 100 },
          threads: [
            { id: 'ignored', context: { wa_id: '+212 611', user_id: 'MA.3', username: '@amina' }, messages: [{ from: '212611', id: 'h1', timestamp: '1', type: 'text', text: { body: 'a' } }, { from: DISPLAY, id: 'h2', timestamp: '2', type: 'text', text: { body: 'b' } }] },
            { id: '212622', messages: [{ from: '212622', id: 'h3', timestamp: '3', type: 'text', text: { body: 'c' } }] },
          ],
        },
      ],
    };
    const events = normalizeChange(WABA, 'history', value);
    expect(events.map((e) => e.kind === 'message' && [e.message.wamid, e.direction, e.contact])).toEqual([
      false,
      ['h1', 'inbound', { ...noContact, waId: '212611', userId: 'MA.3', username: '@amina' }],
      ['h2', 'outbound', { ...noContact, waId: '212611', userId: 'MA.3', username: '@amina' }],
      ['h3', 'inbound', { ...noContact, waId: '212622' }],
    ]);
    expect(events[0]).toMatchObject({ kind: 'history_chunk', phase: 0, chunkOrder: 0, progress: 100, threadCount: 2, messageCount: 3 });
  });

  it('without a phone for the counterpart (BSUID-only), tells the business by its own number', () => {
    const value = {
      metadata,
      history: [
        {
          metadata: { phase: 0, chunk_order: 1, progress: 10 },
          threads: [
            {
              id: '',
              context: { user_id: 'MA.4' },
              messages: [
                { from: '', from_user_id: 'MA.4', id: 'b1', timestamp: '1', type: 'text', text: { body: 'x' } },
                { from: `+${DISPLAY}`, id: 'b2', timestamp: '2', type: 'text', text: { body: 'y' } },
                { from: '212699', id: 'b3', timestamp: '3', type: 'text', text: { body: 'z' } },
              ],
            },
          ],
        },
      ],
    };
    const events = normalizeChange(WABA, 'history', value);
    expect(events.slice(1).map((e) => e.kind === 'message' && [e.message.wamid, e.direction, e.contact.waId, e.contact.userId])).toEqual([
      ['b1', 'inbound', null, 'MA.4'],
      ['b2', 'outbound', null, 'MA.4'],
      ['b3', 'inbound', null, 'MA.4'],
    ]);
    // With a known customer, anything not from them is the business's (a missing `from` too).
    const known = { metadata, history: [{ metadata: { phase: 0, chunk_order: 2, progress: 10 }, threads: [{ id: '212611', messages: [{ id: 'k1', timestamp: '1', type: 'text', text: { body: 'x' } }] }] }] };
    expect(normalizeChange(WABA, 'history', known)[1]).toMatchObject({ kind: 'message', direction: 'outbound' });
  });

  it('reports a declined history and an item with neither metadata nor errors', () => {
    const declined = valueOf(P.historyDeclined(N));
    expect(normalizeChange(WABA, 'history', declined)).toEqual([
      { kind: 'history_declined', phoneNumberId: PN, errors: [{ code: 2593109, title: 'History sync is turned off by the business from the WhatsApp Business App', error_data: { details: 'History sharing is turned off by the business' } }] },
    ]);
    expect(normalizeChange(WABA, 'history', { metadata, history: [{ errors: [] }] })).toEqual([{ kind: 'unknown', phoneNumberId: PN, field: 'history', detail: 'history item with neither metadata nor errors', raw: { errors: [] } }]);
    expect(normalizeChange(WABA, 'history', { metadata, history: [{}] })).toEqual([{ kind: 'unknown', phoneNumberId: PN, field: 'history', detail: 'history item with neither metadata nor errors', raw: {} }]);
    // A chunk without threads (a phase with nothing in it) is still a chunk.
    expect(normalizeChange(WABA, 'history', { metadata, history: [{ metadata: { phase: 2, chunk_order: 0, progress: 100 } }] })).toEqual([
      { kind: 'history_chunk', phoneNumberId: PN, displayPhoneNumber: DISPLAY, phase: 2, chunkOrder: 0, progress: 100, chunkHash: expect.stringMatching(/^[0-9a-f]{64}$/), threadCount: 0, messageCount: 0 },
    ]);
    expect(normalizeChange(WABA, 'history', { metadata, history: [] })).toEqual([{ kind: 'unknown', phoneNumberId: PN, field: 'history', detail: 'history payload with nothing in it', raw: { metadata, history: [] } }]);
    expect(normalizeChange(WABA, 'history', { metadata, history: [{ metadata: { phase: 3, chunk_order: 0, progress: 0 } }] })[0]).toMatchObject({ kind: 'unknown', phoneNumberId: PN, detail: 'invalid history payload: history.0.metadata.phase: Too big: expected number to be <=2' });
  });

  it('takes media follow-ups (customer and business) as history, never live', () => {
    const customer = normalizeChange(WABA, 'history', valueOf(P.historyMediaFollowUp(N, CUSTOMER, 'wamid.P1', AT, P.image('media.1', 'photo'), true)));
    expect(customer).toEqual([{ kind: 'message', phoneNumberId: PN, displayPhoneNumber: DISPLAY, direction: 'inbound', origin: 'history', live: false, contact: { ...noContact, waId: CUSTOMER }, message: expect.objectContaining({ wamid: 'wamid.P1', text: 'photo', media: expect.objectContaining({ id: 'media.1' }) }) }]);
    const business = normalizeChange(WABA, 'history', valueOf(P.historyMediaFollowUp(N, CUSTOMER, 'wamid.P2', AT, P.image('media.2'), false)));
    expect(business).toEqual([{ kind: 'message', phoneNumberId: PN, displayPhoneNumber: DISPLAY, direction: 'outbound', origin: 'history', live: false, contact: { ...noContact, waId: CUSTOMER }, message: expect.objectContaining({ wamid: 'wamid.P2', text: null }) }]);
    const withProfiles = { metadata, contacts: [{ wa_id: CUSTOMER, profile: { name: 'Y' } }], messages: [raw({ type: 'text', text: { body: 'x' } })], message_echoes: [{ from: DISPLAY, to: CUSTOMER, id: 'e', timestamp: '1', type: 'text', text: { body: 'y' } }] };
    expect(normalizeChange(WABA, 'history', withProfiles).map((e) => e.kind === 'message' && [e.direction, e.contact.profileName])).toEqual([
      ['inbound', 'Y'],
      ['outbound', 'Y'],
    ]);
  });
});

describe('normalizeChange: contact sync', () => {
  it('turns address-book adds and removes into contact_sync events', () => {
    const value = valueOf(P.contactSync(N, [
      { action: 'add', phone: '+212 612 345678', fullName: 'Youssef Alami', firstName: 'Youssef', at: AT },
      { action: 'remove', phone: '212600000000', at: AT },
    ]));
    expect(normalizeChange(WABA, 'smb_app_state_sync', value)).toEqual([
      { kind: 'contact_sync', phoneNumberId: PN, action: 'add', waId: CUSTOMER, userId: null, username: null, fullName: 'Youssef Alami', firstName: 'Youssef', timestamp: AT },
      { kind: 'contact_sync', phoneNumberId: PN, action: 'remove', waId: '212600000000', userId: null, username: null, fullName: null, firstName: null, timestamp: AT },
    ]);
    const bsuid = { metadata, state_sync: [{ type: 'contact', action: 'add', contact: { phone_number: '', user_id: 'MA.1', username: '@y' } }] };
    expect(normalizeChange(WABA, 'smb_app_state_sync', bsuid)).toEqual([{ kind: 'contact_sync', phoneNumberId: PN, action: 'add', waId: null, userId: 'MA.1', username: '@y', fullName: null, firstName: null, timestamp: null }]);
    expect(normalizeChange(WABA, 'smb_app_state_sync', { metadata, state_sync: [{ type: 'contact', action: 'add' }] })[0]).toMatchObject({ kind: 'contact_sync', waId: null, timestamp: null });
  });

  it('reports other item types and actions as unknown, and keeps the others', () => {
    const items = [
      { type: 'label', action: 'add' },
      { type: 'contact', action: 'edit', contact: { phone_number: '1' } },
      { type: 'contact', action: 'remove', contact: { phone_number: '2' } },
    ];
    expect(normalizeChange(WABA, 'smb_app_state_sync', { metadata, state_sync: items })).toEqual([
      { kind: 'unknown', phoneNumberId: PN, field: 'smb_app_state_sync', detail: 'state_sync item type=label action=add', raw: items[0] },
      { kind: 'unknown', phoneNumberId: PN, field: 'smb_app_state_sync', detail: 'state_sync item type=contact action=edit', raw: items[1] },
      expect.objectContaining({ kind: 'contact_sync', action: 'remove', waId: '2' }),
    ]);
    expect(normalizeChange(WABA, 'smb_app_state_sync', { metadata })[0]).toMatchObject({ kind: 'unknown', detail: expect.stringMatching(/^invalid smb_app_state_sync payload: state_sync: /) });
  });
});

describe('normalizeChange: account_update', () => {
  it('reads a disconnection with its reason', () => {
    const value = valueOf(P.accountUpdate(N, 'PARTNER_REMOVED', { reason: 'PRIMARY_INACTIVITY', initiatedBy: 'SYSTEM' }));
    expect(normalizeChange(WABA, 'account_update', value)).toEqual([
      { kind: 'account_update', wabaId: WABA, displayPhoneNumber: DISPLAY, event: 'PARTNER_REMOVED', reason: 'PRIMARY_INACTIVITY', initiatedBy: 'SYSTEM', notice: { banState: null, banDate: null, violationType: null, restrictions: [] }, raw: value },
    ]);
    expect(normalizeChange(WABA, 'account_update', { event: 'ACCOUNT_OFFBOARDED' })[0]).toMatchObject({ displayPhoneNumber: null, reason: null, initiatedBy: null });
    expect(normalizeChange(WABA, 'account_update', { phone_number: '+212 522' })).toEqual([{ kind: 'unknown', phoneNumberId: null, field: 'account_update', detail: 'invalid account_update payload: event: Invalid input: expected string, received undefined', raw: { phone_number: '+212 522' } }]);
  });

  it('reads ban, violation and restriction notices (Meta’s examples), expirations as ISO instants', () => {
    const change = (name: string) => fixture(name).entry[0]!.changes[0]!;
    const schedule = change('account_update.disabled_schedule');
    const [banned] = normalizeChange(WABA, schedule.field, schedule.value);
    expect(banned).toMatchObject({ kind: 'account_update', event: 'DISABLED_UPDATE', notice: { banState: 'SCHEDULE_FOR_DISABLE', violationType: null, restrictions: [] } });
    expect((banned as { notice: { banDate: string | null } }).notice.banDate).toEqual((schedule.value as { ban_info: { waba_ban_date: string } }).ban_info.waba_ban_date);
    const restricted = change('account_update.violation_restricted');
    expect(normalizeChange(WABA, restricted.field, restricted.value)[0]).toMatchObject({ event: 'ACCOUNT_VIOLATION', notice: { banState: null, banDate: null, violationType: 'SCAM', restrictions: [{ type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: new Date(1765792800 * 1000).toISOString() }] } });
    const restrictions = normalizeChange(WABA, 'account_update', { event: 'ACCOUNT_RESTRICTION', restriction_info: [{ restriction_type: 'X', expiration: '2026-12-31T00:00:00Z' }, {}] });
    expect(restrictions[0]).toMatchObject({ notice: { restrictions: [{ type: 'X', expiration: '2026-12-31T00:00:00Z' }, { type: null, expiration: null }] } });
  });
});

describe('normalizeChange: user_preferences', () => {
  const value = (prefs: unknown[], contacts?: unknown[]) => ({ messaging_product: 'whatsapp', metadata, ...(contacts ? { contacts } : {}), user_preferences: prefs });
  const pref = (p: Record<string, unknown>) => ({ category: 'marketing_messages', value: 'stop', timestamp: T, ...p });

  it('reads Meta’s stop / resume / signup examples', () => {
    for (const name of ['stop', 'resume', 'signup']) {
      const change = fixture(`user_preferences.${name}`).entry[0]!.changes[0]!;
      const [event] = normalizeChange(WABA, change.field, change.value);
      expect(event, name).toMatchObject({ kind: 'marketing_preference', phoneNumberId: PN, displayPhoneNumber: DISPLAY, value: name, contact: { waId: CUSTOMER } });
    }
    const signup = fixture('user_preferences.signup').entry[0]!.changes[0]!;
    const [event] = normalizeChange(WABA, signup.field, signup.value);
    expect(event).toEqual({
      kind: 'marketing_preference',
      phoneNumberId: PN,
      displayPhoneNumber: DISPLAY,
      contact: { waId: CUSTOMER, userId: 'MA.1234567890123456', username: null, countryCode: null, profileName: 'Youssef' },
      value: 'signup',
      detail: 'User signed up for marketing messages',
      signupId: '889123456789012',
      timestamp: new Date(1764590400 * 1000),
      raw: expect.objectContaining({ value: 'signup' }),
    });
    const other = fixture('user_preferences.other_category').entry[0]!.changes[0]!;
    expect(normalizeChange(WABA, other.field, other.value)[0]).toMatchObject({ kind: 'unknown', phoneNumberId: PN, field: 'user_preferences', detail: expect.stringMatching(/^user preference category=/) });
  });

  it('takes the user from a single `contacts` entry only for what the preference itself does not name', () => {
    const only = [{ wa_id: '212611', user_id: 'MA.only' }];
    expect(normalizeChange(WABA, 'user_preferences', value([pref({})], only))[0]).toMatchObject({ contact: { waId: '212611', userId: 'MA.only' } });
    // The preference names a BSUID: the contact's phone is not borrowed.
    expect(normalizeChange(WABA, 'user_preferences', value([pref({ user_id: 'MA.mine' })], only))[0]).toMatchObject({ contact: { waId: null, userId: 'MA.mine' } });
    // The preference names a phone: the contact's BSUID is not borrowed.
    expect(normalizeChange(WABA, 'user_preferences', value([pref({ wa_id: '212699' })], only))[0]).toMatchObject({ contact: { waId: '212699', userId: null } });
    // Two contacts: nobody can be chosen.
    expect(normalizeChange(WABA, 'user_preferences', value([pref({})], [...only, { wa_id: '212622' }]))).toEqual([
      { kind: 'unknown', phoneNumberId: PN, field: 'user_preferences', detail: "marketing preference 'stop' names no user (neither wa_id nor user_id)", raw: { ...pref({}), timestamp: AT } },
    ]);
  });

  it('names the category and value it does not handle; no detail and no signup id are null', () => {
    expect(normalizeChange(WABA, 'user_preferences', value([pref({ wa_id: '1', category: 'utility' })]))).toEqual([{ kind: 'unknown', phoneNumberId: PN, field: 'user_preferences', detail: 'user preference category=utility value=stop', raw: { ...pref({ wa_id: '1', category: 'utility' }), timestamp: AT } }]);
    expect(normalizeChange(WABA, 'user_preferences', value([pref({ wa_id: '1', value: 'pause' })]))[0]).toMatchObject({ kind: 'unknown', detail: 'user preference category=marketing_messages value=pause' });
    expect(normalizeChange(WABA, 'user_preferences', value([pref({ wa_id: '1', value: 'resume' })]))[0]).toMatchObject({ kind: 'marketing_preference', value: 'resume', detail: null, signupId: null, timestamp: AT });
    expect(normalizeChange(WABA, 'user_preferences', value([pref({ wa_id: '1', signup_id: 'abc' })]))[0]).toMatchObject({ signupId: 'abc' });
  });
});

describe('normalizeChange: other fields', () => {
  it('reports a field it does not handle, with the number when the payload names one', () => {
    expect(normalizeChange(WABA, 'phone_number_quality_update', { metadata })).toEqual([{ kind: 'unknown', phoneNumberId: PN, field: 'phone_number_quality_update', detail: "unhandled webhook field 'phone_number_quality_update'", raw: { metadata } }]);
    expect(normalizeChange(WABA, 'calls', { x: 1 })[0]).toMatchObject({ phoneNumberId: null });
  });

  it('hands standby and messaging_handovers to the routing module', () => {
    expect(normalizeChange(WABA, 'standby', { metadata, messages: [raw({ type: 'text', text: { body: 'x' } })] })[0]).toMatchObject({ kind: 'message', standby: true });
    expect(normalizeChange(WABA, 'messaging_handovers', { recipient: { phone_number_id: PN }, sender: { phone_number: CUSTOMER }, control_passed: {} })[0]).toMatchObject({ kind: 'handover', holder: 'coex' });
  });
});

describe('stableHash', () => {
  it('is the SHA-256 of the JSON text, in hex', () => {
    expect(stableHash({ a: 1, b: ['x'] })).toBe(createHash('sha256').update('{"a":1,"b":["x"]}').digest('hex'));
  });
});

describe('normalizeChangeIsolated', () => {
  const good = (id: string) => raw({ type: 'text', text: { body: id } }, id);
  const bad = (id: string) => ({ ...raw({ type: 'text', text: { body: id } }, id), timestamp: '99999999999' });
  const kinds = (events: DomainEvent[]) => events.map((e) => (e.kind === 'message' ? e.message.wamid : e.kind === 'status' ? `status:${e.wamid}` : e.kind === 'unknown' ? `unknown:${e.detail}` : e.kind));

  it('keeps the valid items beside one that cannot be read, and says why that one failed', () => {
    const value = { metadata, contacts: [{ wa_id: CUSTOMER, profile: { name: 'Y' } }], messages: [good('m1'), bad('m2'), good('m3')], statuses: [{ id: 's1', status: 'read', timestamp: '1' }] };
    const events = normalizeChangeIsolated(WABA, 'messages', value);
    expect(kinds(events)).toEqual(['m1', 'unknown:invalid messages payload: messages.0.timestamp: timestamp out of range', 'm3', 'status:s1']);
    // Each item keeps the rest of its value (metadata, contacts).
    expect(events[0]).toMatchObject({ phoneNumberId: PN, contact: { profileName: 'Y' } });
    expect(events[1]).toMatchObject({ phoneNumberId: PN, raw: { metadata, contacts: value.contacts, messages: [bad('m2')] } });
  });

  it('splits every item list of every field the same way', () => {
    const echoes = normalizeChangeIsolated(WABA, 'smb_message_echoes', { metadata, message_echoes: [bad('e1'), good('e2')] });
    expect(kinds(echoes)).toEqual(['unknown:invalid smb_message_echoes payload: message_echoes.0.timestamp: timestamp out of range', 'e2']);
    const prefs = normalizeChangeIsolated(WABA, 'user_preferences', { metadata, user_preferences: [{ wa_id: '1', category: 'marketing_messages', value: 'stop', timestamp: T }, { wa_id: '2', category: 'marketing_messages' }] });
    expect(prefs.map((e) => e.kind)).toEqual(['marketing_preference', 'unknown']);
    const sync = normalizeChangeIsolated(WABA, 'smb_app_state_sync', { metadata, state_sync: [{ type: 'contact', action: 'add', contact: { phone_number: '1' } }, { type: 'contact' }] });
    expect(sync.map((e) => e.kind)).toEqual(['contact_sync', 'unknown']);
    const history = normalizeChangeIsolated(WABA, 'history', { metadata, history: [{ metadata: { phase: 9, chunk_order: 0, progress: 0 } }], messages: [good('p1')] });
    expect(history.map((e) => e.kind)).toEqual(['message', 'unknown']);
    const statuses = normalizeChangeIsolated(WABA, 'messages', { metadata, statuses: [{ id: 's1', status: 'read', timestamp: '1' }, { id: '', status: 'read', timestamp: '1' }] });
    expect(statuses.map((e) => e.kind)).toEqual(['status', 'unknown']);
  });

  it('returns the whole result when it parsed, failed for another reason, or has a single item', () => {
    const fine = { metadata, messages: [good('a'), good('b')] };
    expect(normalizeChangeIsolated(WABA, 'messages', fine)).toEqual(normalizeChange(WABA, 'messages', fine));
    const single = { metadata, messages: [bad('a')], statuses: [] };
    expect(normalizeChangeIsolated(WABA, 'messages', single)).toEqual(normalizeChange(WABA, 'messages', single));
    // Metadata itself is wrong: every item would fail the same way, once is enough.
    const noNumber = { metadata: { phone_number_id: 'x' }, messages: [good('a'), good('b')] };
    expect(normalizeChangeIsolated(WABA, 'messages', noNumber)).toHaveLength(2);
    expect(normalizeChangeIsolated(WABA, 'messages', noNumber).every((e) => e.kind === 'unknown')).toBe(true);
    const unhandled = { metadata, messages: [good('a'), good('b')] };
    expect(normalizeChangeIsolated(WABA, 'calls', unhandled)).toEqual([expect.objectContaining({ kind: 'unknown', detail: "unhandled webhook field 'calls'" })]);
    for (const value of ['text', null, undefined, [good('a'), good('b')]]) expect(normalizeChangeIsolated(WABA, 'messages', value), JSON.stringify(value)).toHaveLength(1);
    // A field whose name starts like the reason of a parse failure is not one.
    expect(normalizeChangeIsolated(WABA, 'invalid field', unhandled)).toEqual([expect.objectContaining({ kind: 'unknown', detail: "unhandled webhook field 'invalid field'" })]);
    // A change with nothing in it gives nothing.
    expect(normalizeChangeIsolated(WABA, 'smb_app_state_sync', { metadata, state_sync: [] })).toEqual([]);
  });

  it('does not split a payload whose invalid part is not an item list', () => {
    const value = { metadata, contacts: 'broken', messages: [good('a'), good('b')] };
    const events = normalizeChangeIsolated(WABA, 'messages', value);
    expect(events.map((e) => e.kind)).toEqual(['unknown', 'unknown']);
    expect(events.every((e) => e.kind === 'unknown' && e.detail.startsWith('invalid messages payload: contacts: '))).toBe(true);
    // The webhook-level error list is not an item list: a broken one fails the whole change once.
    const errors = { metadata, errors: [{ code: 'x' }, { code: 'y' }] };
    expect(normalizeChangeIsolated(WABA, 'messages', errors)).toEqual(normalizeChange(WABA, 'messages', errors));
  });
});

describe('normalizeDelivery', () => {
  it('normalizes only the changes of the partition asked for, across entries, in order', () => {
    const envelope = envelopeSchema.parse({
      object: 'whatsapp_business_account',
      entry: [
        { id: WABA, changes: [{ field: 'messages', value: { metadata, messages: [raw({ type: 'text', text: { body: '1' } }, 'w1')] } }, { field: 'account_update', value: { event: 'ACCOUNT_RECONNECTED' } }] },
        { id: WABA, changes: [{ field: 'messages', value: { metadata: { ...metadata, phone_number_id: '999' }, messages: [raw({ type: 'text', text: { body: '2' } }, 'w2')] } }, { field: 'smb_message_echoes', value: { metadata, message_echoes: [{ ...raw({ type: 'text', text: { body: '3' } }, 'w3'), to: CUSTOMER }, bad()] } }] },
      ],
    });
    function bad() {
      return { to: CUSTOMER, id: 'w4', timestamp: 'x', type: 'text' };
    }
    expect(normalizeDelivery(envelope, PN).map((e) => (e.kind === 'message' ? e.message.wamid : e.kind))).toEqual(['w1', 'w3', 'unknown']);
    expect(normalizeDelivery(envelope, '999').map((e) => (e.kind === 'message' ? e.message.wamid : e.kind))).toEqual(['w2']);
    expect(normalizeDelivery(envelope, `waba:${WABA}`)).toEqual([expect.objectContaining({ kind: 'account_update', event: 'ACCOUNT_RECONNECTED' })]);
    expect(normalizeDelivery(envelope, 'unparsed')).toEqual([]);
  });
});

describe('history lanes: a number\'s history applied in partitions by customer', () => {
  /** Customers spread over every lane (the first one found for each lane). */
  const customers = (() => {
    const byLane = new Map<number, string>();
    for (let i = 0; byLane.size < HISTORY_LANES && i < 1000; i++) {
      const waId = `2126${String(i).padStart(8, '0')}`;
      if (!byLane.has(historyLaneOf(waId))) byLane.set(historyLaneOf(waId), waId);
    }
    return [...byLane].sort(([a], [b]) => a - b).map(([, waId]) => waId);
  })();
  const chunk = (waIds: string[], tag = 'c') =>
    P.historyChunk(N, { phase: 0, chunkOrder: 1, progress: 40 }, waIds.map((waId, t) => ({
      waId,
      messages: [0, 1].map((m) => ({ wamid: `wamid.${tag}.${t}.${m}`, fromCustomer: m === 1, at: AT.getTime() + m * 1000, body: P.text(`${t}.${m}`) })),
    })));
  const wamidsOf = (events: DomainEvent[] | undefined) => (events ?? []).flatMap((e) => (e.kind === 'message' ? [e.message.wamid] : []));

  it('names a key for each lane and its number, and reads them back', () => {
    expect(HISTORY_LANES).toBe(3);
    expect(customers).toHaveLength(HISTORY_LANES);
    expect(historyPartition(PN, 2)).toBe(`${PN}/h2`);
    expect(partitionParts(`${PN}/h2`)).toEqual({ number: PN, lane: 2 });
    expect(partitionParts(PN)).toEqual({ number: PN, lane: null });
    expect(partitionParts(`waba:${WABA}`)).toEqual({ number: `waba:${WABA}`, lane: null });
    expect(partitionParts(`${PN}/hx`)).toEqual({ number: `${PN}/hx`, lane: null });
    // Letters and digits only: what sanitizing can change (NUL, lone surrogates) and a '+' do not move a customer.
    expect(historyLaneOf(`+${customers[1]}`)).toBe(1);
    expect(historyLaneOf(`${customers[2]}\u0000`)).toBe(2);
    expect(historyLaneOf(`${customers[2]}\ufffd`)).toBe(2);
    expect(historyLaneOf(Number(customers[0]))).toBe(0);
    expect(historyLaneOf(undefined)).toBe(historyLaneOf(''));
  });

  it('a chunk is acknowledged into its customers\' lanes only (not its number\'s partition, which live traffic uses), as follow-ups are; a chunk with no thread and a decline into the number\'s; the rest of a number\'s deliveries as before', () => {
    const keysOf = (payload: unknown) => partitionKeysOf(envelopeSchema.parse(payload));
    expect(keysOf(chunk([customers[2]!, customers[0]!, customers[2]!]))).toEqual([`${PN}/h0`, `${PN}/h2`]);
    expect(keysOf(P.historyChunk(N, { phase: 1, chunkOrder: 9, progress: 100 }, []))).toEqual([PN]);
    expect(keysOf(P.historyMediaFollowUp(N, customers[1]!, 'wamid.f', AT, P.image('m1', 'x'), true))).toEqual([`${PN}/h1`]);
    expect(keysOf(P.historyMediaFollowUp(N, customers[2]!, 'wamid.g', AT, P.image('m2', 'y'), false))).toEqual([`${PN}/h2`]);
    expect(keysOf(P.historyDeclined(N))).toEqual([PN]);
    expect(keysOf(P.inboundMessage(N, { waId: customers[1]!, name: 'A' }, 'wamid.live', AT, P.text('live')))).toEqual([PN]);
  });

  it('shares a chunk out: each message once, in its customer\'s lane; the chunk\'s progress in its first lane', () => {
    const envelope = envelopeSchema.parse(chunk([customers[2]!, customers[1]!]));
    expect(normalizeDeliveryByPartition(envelope).get(`${PN}/h1`)!.map((e) => e.kind)).toEqual(['history_chunk', 'message', 'message']);
    const byPartition = normalizeDeliveryByPartition(envelopeSchema.parse(chunk(customers)));
    expect([...byPartition.keys()]).toEqual(customers.map((_, lane) => `${PN}/h${lane}`));
    expect(byPartition.get(`${PN}/h0`)!.map((e) => e.kind)).toEqual(['history_chunk', 'message', 'message']);
    const envelopeOfAll = envelopeSchema.parse(chunk(customers));
    for (const [lane, waId] of customers.entries()) {
      const events = byPartition.get(`${PN}/h${lane}`)!;
      expect(wamidsOf(events)).toEqual([`wamid.c.${lane}.0`, `wamid.c.${lane}.1`]);
      expect(events.every((e) => e.kind === 'history_chunk' || (e.kind === 'message' && e.contact.waId === waId))).toBe(true);
      expect(normalizeDelivery(envelopeOfAll, `${PN}/h${lane}`)).toEqual(events);
    }
    // Nothing for a partition the delivery does not name, its number's included.
    expect(normalizeDelivery(envelopeOfAll, PN)).toEqual([]);
    expect(normalizeDelivery(envelopeOfAll, '999')).toEqual([]);
  });

  it('an unreadable item of a follow-up-only delivery is reported once, by its first lane', () => {
    const followUp = P.historyMediaFollowUp(N, customers[1]!, 'wamid.f', AT, P.image('m1', 'x'), true);
    const value = followUp.entry[0]!.changes[0]!.value as { messages: unknown[] };
    value.messages.push({ from: customers[2], id: 'wamid.bad', timestamp: 'not a time', type: 'image' });
    const envelope = envelopeSchema.parse(followUp);
    expect(partitionKeysOf(envelope)).toEqual([`${PN}/h1`, `${PN}/h2`]);
    const byPartition = normalizeDeliveryByPartition(envelope);
    expect(byPartition.get(`${PN}/h1`)!.map((e) => (e.kind === 'message' ? e.message.wamid : e.kind))).toEqual(['wamid.f', 'unknown']);
    expect(byPartition.get(`${PN}/h2`)).toEqual([]);
  });

  it('the acknowledgement (raw text) and the worker (text made storable) put every message of a chunk in a partition the delivery has', () => {
    // A customer id with a NUL and one with a lone surrogate: the worker reads them sanitized.
    const rawText = JSON.stringify(chunk([`${customers[0]}\u0000`, `${customers[1]}\ud800`, customers[2]!]));
    const ackKeys = partitionKeysOf(envelopeSchema.parse(JSON.parse(rawText)));
    const worker = normalizeDeliveryByPartition(envelopeSchema.parse(sanitizeParsed(rawText, JSON.parse(rawText))));
    expect(ackKeys).toEqual([`${PN}/h0`, `${PN}/h1`, `${PN}/h2`]);
    expect([...worker.keys()]).toEqual(ackKeys);
    expect([...worker.values()].flatMap(wamidsOf).sort()).toEqual(['0.0', '0.1', '1.0', '1.1', '2.0', '2.1'].map((k) => `wamid.c.${k}`));
  });
});
