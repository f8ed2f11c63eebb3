import { describe, expect, it } from 'vitest';
import { normalizeChange } from './normalize.js';

const metadata = { display_phone_number: '212522123456', phone_number_id: '106540352242922' };
const value = (prefs: unknown[], contacts?: unknown[]) => ({ messaging_product: 'whatsapp', metadata, ...(contacts ? { contacts } : {}), user_preferences: prefs });

describe('user_preferences', () => {
  it('becomes a marketing_preference event with the customer, the value and the time', () => {
    const [e] = normalizeChange('102290129340398', 'user_preferences', value([{ wa_id: '212612345678', detail: 'User requested to stop marketing messages', category: 'marketing_messages', value: 'stop', timestamp: 1764583200 }], [{ profile: { name: 'Youssef' }, wa_id: '212612345678' }]));
    expect(e).toMatchObject({ kind: 'marketing_preference', phoneNumberId: '106540352242922', value: 'stop', detail: 'User requested to stop marketing messages', signupId: null, timestamp: new Date(1764583200 * 1000), contact: { waId: '212612345678', profileName: 'Youssef' } });
  });

  it('reads a BSUID-only user and a signup id (string timestamps too)', () => {
    const [e] = normalizeChange('1', 'user_preferences', value([{ user_id: 'MA.123', category: 'marketing_messages', value: 'signup', signup_id: 889, timestamp: '1764590400' }], [{ user_id: 'MA.123' }]));
    expect(e).toMatchObject({ kind: 'marketing_preference', value: 'signup', signupId: '889', contact: { waId: null, userId: 'MA.123' } });
  });

  it('reports other categories, other values, a preference naming nobody, and a broken payload as unknown', () => {
    const events = normalizeChange('1', 'user_preferences', value([
      { wa_id: '1', category: 'unknown', value: 'bla', timestamp: 1 },
      { wa_id: '1', category: 'marketing_messages', value: 'interested', timestamp: 1 },
      { category: 'marketing_messages', value: 'stop', timestamp: 1 },
    ]));
    expect(events.map((e) => e.kind)).toEqual(['unknown', 'unknown', 'unknown']);
    expect(normalizeChange('1', 'user_preferences', { metadata, user_preferences: 'nope' })).toEqual([expect.objectContaining({ kind: 'unknown', detail: expect.stringContaining('invalid user_preferences payload') })]);
  });
});
