import { describe, expect, it } from 'vitest';
import { envelopeSchema } from './schemas.js';
import { normalizeDelivery, partitionKeysOf } from './normalize.js';
import { classifyCreationType, creationTypeOf, normalizeHandover, normalizeStandby, userIdChangeEvents } from './routing.js';
import { messageSchema } from './schemas.js';
import * as M from '../../../test/fixtures/meta-2026.js';

const N = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };
const AT = Date.UTC(2026, 11, 5, 10, 0, 0);

function normalize(payload: unknown) {
  const envelope = envelopeSchema.parse(payload);
  const [key] = partitionKeysOf(envelope);
  return { key, events: normalizeDelivery(envelope, key!) };
}

describe('Meta 2026 webhook shapes', () => {
  it('user_changed_user_id: a change event before the system message itself', () => {
    const { events } = normalize(M.userChangedUserId(N, { previousUserId: 'MA.111', newUserId: 'MA.222' }, 'wamid.SYS1', AT));
    expect(events.map((e) => e.kind)).toEqual(['user_id_change', 'message']);
    expect(events[0]).toMatchObject({ kind: 'user_id_change', previousUserId: 'MA.111', newUserId: 'MA.222', waId: null, wamid: 'wamid.SYS1' });
    expect(events[1]).toMatchObject({ kind: 'message', contact: { waId: null, userId: 'MA.222' }, message: { type: 'system' } });
  });

  it('a user_changed_number system message is not a BSUID change', () => {
    const payload = M.userChangedUserId(N, { previousUserId: 'MA.1', newUserId: 'MA.2' }, 'wamid.SYS2', AT);
    const message = payload.entry[0]!.changes[0]!.value.messages as Array<{ system: Record<string, unknown> }>;
    message[0]!.system = { body: 'User A changed from 1 to 2', type: 'user_changed_number', new_wa_id: '212600000002' };
    expect(normalize(payload).events.map((e) => e.kind)).toEqual(['message']);
  });

  it('standby: customer messages and the handler’s echoes, flagged standby; statuses as usual', () => {
    const inbound = normalize(M.standbyMessage(N, { waId: '212612345678', userId: 'MA.9' }, 'wamid.SB1', AT, { type: 'text', text: { body: 'salam' } }));
    expect(inbound.key).toBe(N.phoneNumberId);
    expect(inbound.events).toEqual([expect.objectContaining({ kind: 'message', direction: 'inbound', origin: 'customer', live: true, standby: true, contact: expect.objectContaining({ waId: '212612345678', userId: 'MA.9' }) })]);
    const echo = normalize(M.standbyEcho(N, '212612345678', 'wamid.SB2', AT, { type: 'text', text: { body: 'Marhba!' } }, 'created_by_1p_bot'));
    expect(echo.events).toEqual([expect.objectContaining({ kind: 'message', direction: 'outbound', origin: 'app', standby: true })]);
  });

  it('messaging_handovers: partitioned by the business number under `recipient`; passed → CoEx, taken → the named role', () => {
    const passed = normalize(M.handover(N, { waId: '212612345678' }, 'control_passed', AT));
    expect(passed.key).toBe(N.phoneNumberId);
    expect(passed.events).toEqual([expect.objectContaining({ kind: 'handover', handover: 'control_passed', holder: 'coex', contact: expect.objectContaining({ waId: '212612345678' }), timestamp: new Date(AT) })]);
    const taken = normalize(M.handover(N, { waId: '212612345678' }, 'control_taken', AT, { new_owner_app_id: '998877' }));
    expect(taken.events[0]).toMatchObject({ kind: 'handover', holder: 'other_app', appId: '998877' });
    const byAgent = normalize(M.handover(N, { waId: '212612345678' }, 'control_taken', AT, { previous_owner: 'APP', new_owner: 'AI_AGENT' }));
    expect(byAgent.events[0]).toMatchObject({ holder: 'meta_agent' });
  });

  it('messaging_handovers with metadata instead of recipient, and a BSUID-only customer', () => {
    const payload = M.handover(N, { waId: '', userId: 'US.13491208655302741918' }, 'control_taken', AT);
    const value = payload.entry[0]!.changes[0]!.value as Record<string, unknown>;
    delete value.recipient;
    value.metadata = { display_phone_number: N.displayPhoneNumber, phone_number_id: N.phoneNumberId };
    const { key, events } = normalize(payload);
    expect(key).toBe(N.phoneNumberId);
    expect(events[0]).toMatchObject({ kind: 'handover', contact: { waId: null, userId: 'US.13491208655302741918' } });
  });

  it('a handover that names no customer is kept as unknown, not guessed', () => {
    const payload = M.handover(N, { waId: '' }, 'control_passed', AT);
    expect(normalize(payload).events).toEqual([expect.objectContaining({ kind: 'unknown', field: 'messaging_handovers' })]);
  });

  it('classifies message_creation_type: user → person, created_by_1p_bot → bot, anything else → unknown', () => {
    expect(classifyCreationType('user')).toBe('person');
    expect(classifyCreationType('created_by_1p_bot')).toBe('bot');
    expect(classifyCreationType('created_by_3p_bot')).toBe('unknown');
    expect(classifyCreationType(null)).toBe('absent');
  });
});

/** Exact outputs of each routing function on its own (fast: mutation testing runs them per mutant). */
describe('routing functions', () => {
  const metadata = { display_phone_number: N.displayPhoneNumber, phone_number_id: N.phoneNumberId };
  const recipient = { display_phone_number: N.displayPhoneNumber, phone_number_id: N.phoneNumberId };
  const ts = String(AT / 1000);
  const noContact = { waId: null, userId: null, username: null, countryCode: null, profileName: null };
  const handover = (value: Record<string, unknown>) => normalizeHandover(N.wabaId, 'messaging_handovers', { messaging_product: 'whatsapp', ...value });

  it('standby: echoes keyed on the customer in `to`, edits stay unflagged mutations, statuses kept', () => {
    const value = {
      metadata,
      contacts: [{ wa_id: '212612345678', user_id: 'MA.9', profile: { name: 'Client' } }],
      message_echoes: [{ from: N.displayPhoneNumber, to: '212612345678', id: 'wamid.E', timestamp: ts, type: 'text', text: { body: 'bot reply' } }],
      messages: [{ from: '212612345678', id: 'wamid.ED', timestamp: ts, type: 'edit', edit: { original_message_id: 'wamid.O', message: { type: 'text', text: { body: 'new' } } } }],
      statuses: [{ id: 'wamid.S', status: 'read', timestamp: ts, recipient_id: '212612345678' }],
    };
    const events = normalizeStandby('standby', value);
    expect(events.map((e) => e.kind)).toEqual(['mutation', 'message', 'status']);
    expect(events[0]).toMatchObject({ kind: 'mutation', mutation: 'edit', newText: 'new' });
    expect(events[0]).not.toHaveProperty('standby');
    expect(events[1]).toEqual({
      kind: 'message',
      phoneNumberId: N.phoneNumberId,
      displayPhoneNumber: N.displayPhoneNumber,
      direction: 'outbound',
      origin: 'app',
      live: true,
      standby: true,
      contact: { waId: '212612345678', userId: 'MA.9', username: null, countryCode: null, profileName: 'Client' },
      message: expect.objectContaining({ wamid: 'wamid.E', text: 'bot reply' }),
    });
    expect(events[2]).toMatchObject({ kind: 'status', wamid: 'wamid.S', status: 'read' });
    expect(events[2]).not.toHaveProperty('standby');
  });

  it('standby: an empty or invalid payload is reported as unknown', () => {
    expect(normalizeStandby('standby', { metadata })).toEqual([{ kind: 'unknown', phoneNumberId: N.phoneNumberId, field: 'standby', detail: 'standby payload with nothing in it', raw: { metadata } }]);
    expect(normalizeStandby('standby', { metadata: {} })).toEqual([
      { kind: 'unknown', phoneNumberId: null, field: 'standby', detail: 'invalid standby payload: metadata.display_phone_number: Invalid input: expected string, received undefined; metadata.phone_number_id: Invalid input: expected string, received undefined', raw: { metadata: {} } },
    ]);
    expect(normalizeStandby('standby', 'x')[0]).toMatchObject({ kind: 'unknown', detail: expect.stringMatching(/^invalid standby payload: \(root\): /) });
    // At most five issues are named.
    const many = normalizeStandby('standby', { metadata, messages: Array.from({ length: 7 }, (_, i) => ({ id: `w${i}`, timestamp: 'x', type: 'text' })) });
    expect((many[0] as { detail: string }).detail.split('; ')).toHaveLength(5);
  });

  it('messaging_handovers: the exact event, with the customer’s profile and the business number', () => {
    const value = { recipient, sender: { phone_number: '+212 612-345678' }, contacts: [{ wa_id: '212612345678', user_id: 'MA.9', username: '@c', country_code: 'MA', profile: { name: 'Client' } }], timestamp: ts, control_taken: { new_owner_role: 'AI_AGENT', new_owner: 'APP', new_owner_app_id: 998877 } };
    expect(handover(value)).toEqual([
      {
        kind: 'handover',
        wabaId: N.wabaId,
        phoneNumberId: N.phoneNumberId,
        displayPhoneNumber: N.displayPhoneNumber,
        contact: { waId: '212612345678', userId: 'MA.9', username: '@c', countryCode: 'MA', profileName: 'Client' },
        handover: 'control_taken',
        holder: 'meta_agent',
        appId: '998877',
        timestamp: new Date(AT),
        raw: expect.objectContaining({ control_taken: value.control_taken }),
      },
    ]);
  });

  it('messaging_handovers: the customer from sender.wa_id, contacts or a BSUID; display number from metadata or recipient', () => {
    expect(handover({ recipient, sender: { wa_id: '212611' }, control_passed: {} })[0]).toMatchObject({ contact: { ...noContact, waId: '212611' }, displayPhoneNumber: N.displayPhoneNumber, timestamp: null, appId: null });
    expect(handover({ recipient, contacts: [{ wa_id: '212622' }], control_passed: {} })[0]).toMatchObject({ contact: { ...noContact, waId: '212622' } });
    expect(handover({ recipient, sender: { user_id: 'MA.1' }, contacts: [{ user_id: 'MA.2' }], control_passed: {} })[0]).toMatchObject({ contact: { ...noContact, userId: 'MA.1' } });
    expect(handover({ recipient, contacts: [{ user_id: 'MA.2' }], control_passed: {} })[0]).toMatchObject({ contact: { ...noContact, userId: 'MA.2' } });
    expect(handover({ metadata: { display_phone_number: '212500', phone_number_id: '42' }, recipient, sender: { wa_id: '1' }, control_passed: {} })[0]).toMatchObject({ phoneNumberId: '42', displayPhoneNumber: '212500' });
    expect(handover({ recipient: { phone_number_id: '43' }, sender: { wa_id: '1' }, control_passed: {} })[0]).toMatchObject({ phoneNumberId: '43', displayPhoneNumber: null });
  });

  it('messaging_handovers: passed → CoEx whatever it names; taken → the named role, by default another app', () => {
    const taken = (detail: Record<string, unknown>) => handover({ recipient, sender: { wa_id: '1' }, control_taken: detail })[0];
    expect(handover({ recipient, sender: { wa_id: '1' }, control_passed: { new_owner_role: 'AI_AGENT', new_owner_app_id: 5 } })[0]).toMatchObject({ handover: 'control_passed', holder: 'coex', appId: null });
    for (const role of ['AI', 'agent', 'META', 'bot', 'BUSINESS_AGENT', 'META_BUSINESS_AGENTS', 'x_ai']) expect(taken({ new_owner_role: role }), role).toMatchObject({ holder: 'meta_agent' });
    for (const role of ['APP', 'PARTNER', 'maintainer', 'robot', 'agents', '']) expect(taken({ new_owner_role: role }), role).toMatchObject({ holder: 'other_app' });
    // new_owner_role wins over new_owner; new_owner alone counts.
    expect(taken({ new_owner_role: 'APP', new_owner: 'AI_AGENT' })).toMatchObject({ holder: 'other_app' });
    expect(taken({ new_owner: 'AI_AGENT' })).toMatchObject({ holder: 'meta_agent' });
    expect(taken({})).toMatchObject({ holder: 'other_app', appId: null });
    expect(taken({ new_owner_app_id: '77' })).toMatchObject({ appId: '77' });
    expect(taken({ new_owner_app_id: 0 })).toMatchObject({ appId: '0' });
    // Without a detail object, the `type` names the handover.
    expect(handover({ recipient, sender: { wa_id: '1' }, type: 'control_taken' })[0]).toMatchObject({ handover: 'control_taken', holder: 'other_app', appId: null });
    expect(handover({ recipient, sender: { wa_id: '1' }, type: 'control_passed' })[0]).toMatchObject({ handover: 'control_passed', holder: 'coex' });
  });

  it('messaging_handovers: says what is missing, and reports an invalid payload', () => {
    const detailOf = (events: ReturnType<typeof handover>) => events.map((e) => e.kind === 'unknown' && [e.phoneNumberId, e.detail]);
    expect(detailOf(handover({ sender: { wa_id: '1' }, control_passed: {} }))).toEqual([[null, 'messaging_handovers without a phone number id']]);
    expect(detailOf(handover({ recipient, sender: { wa_id: '' }, control_passed: {} }))).toEqual([[N.phoneNumberId, 'messaging_handovers without a customer']]);
    expect(detailOf(handover({ recipient, sender: { wa_id: '1' } }))).toEqual([[N.phoneNumberId, 'messaging_handovers without control_passed/control_taken']]);
    expect(detailOf(handover({ recipient, sender: { wa_id: '1' }, type: 'control_requested' }))).toEqual([[N.phoneNumberId, 'messaging_handovers without control_passed/control_taken']]);
    expect(detailOf(handover({ recipient, control_passed: {} }))).toEqual([[N.phoneNumberId, 'messaging_handovers without a customer']]);
    const bad = { recipient, sender: { wa_id: '1' }, timestamp: 'soon', control_passed: {} };
    expect(normalizeHandover(N.wabaId, 'messaging_handovers', bad)).toEqual([{ kind: 'unknown', phoneNumberId: null, field: 'messaging_handovers', detail: 'invalid messaging_handovers payload: timestamp: timestamp out of range', raw: bad }]);
  });

  it('user_changed_user_id: the new id from the sender, else from the system object; none or the same id is no change', () => {
    const system = (m: Record<string, unknown>, sys: Record<string, unknown>) =>
      messageSchema.parse({ id: 'wamid.S', timestamp: '1', type: 'system', ...m, system: { type: 'user_changed_user_id', previous_user_id: 'MA.old', ...sys } });
    const change = (m: Record<string, unknown>, sys: Record<string, unknown> = {}) => userIdChangeEvents(N.phoneNumberId, N.displayPhoneNumber, [system(m, sys)]);
    expect(change({ from: '+212 612', from_user_id: 'MA.new' })).toEqual([{ kind: 'user_id_change', phoneNumberId: N.phoneNumberId, displayPhoneNumber: N.displayPhoneNumber, previousUserId: 'MA.old', newUserId: 'MA.new', waId: '212612', wamid: 'wamid.S', timestamp: new Date(1000) }]);
    expect(change({}, { new_user_id: 'MA.n2', user_id: 'MA.u' })[0]).toMatchObject({ newUserId: 'MA.n2', waId: null });
    expect(change({}, { user_id: 'MA.u' })[0]).toMatchObject({ newUserId: 'MA.u' });
    expect(change({})).toEqual([]);
    expect(change({ from_user_id: 'MA.old' })).toEqual([]);
    expect(change({ from_user_id: 'MA.new' }, { previous_user_id: '' })).toEqual([]);
    // Only system messages count, whatever else carries such an object.
    const text = messageSchema.parse({ id: 'w', timestamp: '1', type: 'text', from_user_id: 'MA.new', text: { body: 'x' }, system: { type: 'user_changed_user_id', previous_user_id: 'MA.old' } });
    expect(userIdChangeEvents(N.phoneNumberId, N.displayPhoneNumber, [text])).toEqual([]);
  });

  it('reads an echo’s message_creation_type; empty or missing is none', () => {
    const echo = (extra: Record<string, unknown>) => messageSchema.parse({ id: 'w', timestamp: '1', type: 'text', text: { body: 'x' }, ...extra });
    expect(creationTypeOf(echo({ message_creation_type: 'created_by_1p_bot' }))).toBe('created_by_1p_bot');
    expect(creationTypeOf(echo({ message_creation_type: 'user' }))).toBe('user');
    expect(creationTypeOf(echo({ message_creation_type: '' }))).toBeNull();
    expect(creationTypeOf(echo({ message_creation_type: 5 }))).toBeNull();
    expect(creationTypeOf(echo({}))).toBeNull();
    expect(classifyCreationType('')).toBe('unknown');
  });
});
