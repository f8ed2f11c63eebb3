import { describe, expect, it } from 'vitest';
import { envelopeSchema } from './schemas.js';
import { normalizeDelivery, partitionKeysOf } from './normalize.js';
import { classifyCreationType } from './routing.js';
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
