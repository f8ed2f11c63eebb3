import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  GRAPH_ID,
  MAX_UNIX_SECONDS,
  accountUpdateValueSchema,
  echoesValueSchema,
  envelopeSchema,
  historyValueSchema,
  messageSchema,
  messagesValueSchema,
  stateSyncValueSchema,
  unixSeconds,
  userPreferencesValueSchema,
} from './schemas.js';
import { handoverValueSchema, standbyValueSchema } from './routing-schemas.js';

/**
 * The schemas accept Meta's shapes with unknown keys, and refuse a known key of the wrong type at
 * every level (the refusal is what isolates a bad item: normalize.ts). Fast, for mutation testing.
 */

const metadata = { display_phone_number: '212522123456', phone_number_id: '106540352242922' };
const message = {
  from: '212612345678',
  id: 'wamid.1',
  timestamp: '1764583200',
  type: 'text',
  text: { body: 'salam' },
  context: { from: '212522123456', id: 'wamid.0', referred_product: { catalog_id: 'c', product_retailer_id: 'p' } },
  image: { id: 'm', mime_type: 'image/jpeg' },
  errors: [{ code: 131051, title: 't', error_data: { details: 'd' } }],
  edit: { original_message_id: 'wamid.0', message: { type: 'text', text: { body: 'new' } } },
  unknown_key: { anything: true },
};

/** A deep copy of `base` with the value at `path` replaced. */
function withAt(base: unknown, path: Array<string | number>, value: unknown): unknown {
  const copy = structuredClone(base) as Record<string | number, unknown>;
  let at = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path.at(-1)!] = value;
  return copy;
}

/** `schema` parses `base`, and refuses it once any of `paths` holds `bad`. */
function refusesAt(schema: z.ZodType, base: unknown, paths: Array<Array<string | number>>, bad: unknown) {
  expect(schema.safeParse(base).success, 'the valid sample').toBe(true);
  for (const path of paths) expect(schema.safeParse(withAt(base, path, bad)).success, path.join('.')).toBe(false);
}

describe('unixSeconds', () => {
  const error = (v: unknown) => unixSeconds.safeParse(v).error?.issues.map((i) => i.message);

  it('reads Unix seconds from a string or a number, up to 2100-01-01', () => {
    expect(unixSeconds.parse('1764583200')).toEqual(new Date(1764583200 * 1000));
    expect(unixSeconds.parse(1764583200)).toEqual(new Date(1764583200 * 1000));
    expect(unixSeconds.parse('0')).toEqual(new Date(0));
    expect(MAX_UNIX_SECONDS).toBe(4_102_444_800);
    expect(unixSeconds.parse(String(MAX_UNIX_SECONDS))).toEqual(new Date('2100-01-01T00:00:00Z'));
    expect(unixSeconds.parse(MAX_UNIX_SECONDS)).toEqual(new Date('2100-01-01T00:00:00Z'));
  });

  it('refuses later instants, padded or signed strings, fractions and negatives, saying why', () => {
    expect(error(String(MAX_UNIX_SECONDS + 1))).toEqual(['timestamp out of range']);
    expect(error(MAX_UNIX_SECONDS + 1)).toEqual(['timestamp out of range']);
    expect(error('9'.repeat(20))).toEqual(['timestamp out of range']);
    for (const v of [' 1764583200', '1764583200 ', '+1', '-1', '1.5', '', '1'.repeat(21), 'x1']) expect(error(v), JSON.stringify(v)).toContain('timestamp out of range');
    for (const v of [-1, 1.5, Number.NaN, null, true]) expect(unixSeconds.safeParse(v).success, String(v)).toBe(false);
  });
});

describe('GRAPH_ID', () => {
  it('is 1–32 digits and nothing around them', () => {
    for (const ok of ['1', '106540352242922', '9'.repeat(32)]) expect(GRAPH_ID.test(ok), ok).toBe(true);
    for (const bad of ['', '9'.repeat(33), ' 1', '1 ', 'a1', '1a', '1\n']) expect(GRAPH_ID.test(bad), JSON.stringify(bad)).toBe(false);
  });
});

describe('value schemas', () => {
  it('messages: every nested object of a message, a status and a profile is checked', () => {
    const value = {
      messaging_product: 'whatsapp',
      metadata,
      contacts: [{ profile: { name: 'Y', username: '@y' }, wa_id: '212612345678', user_id: 'MA.1' }],
      messages: [message],
      statuses: [{ id: 'wamid.2', status: 'read', timestamp: '1', recipient_id: '1', pricing: { billable: true }, errors: [{ code: 1 }] }],
      errors: [{ code: 131000 }],
    };
    refusesAt(messagesValueSchema, value, [
      ['messaging_product'],
      ['metadata', 'display_phone_number'],
      ['contacts', 0, 'wa_id'],
      ['contacts', 0, 'profile', 'name'],
      ['messages', 0, 'id'],
      ['messages', 0, 'text', 'body'],
      ['messages', 0, 'context', 'id'],
      ['messages', 0, 'context', 'referred_product', 'catalog_id'],
      ['messages', 0, 'image', 'id'],
      ['messages', 0, 'errors', 0, 'title'],
      ['messages', 0, 'errors', 0, 'error_data', 'details'],
      ['messages', 0, 'edit', 'original_message_id'],
      ['messages', 0, 'edit', 'message', 'type'],
      ['messages', 0, 'edit', 'message', 'text', 'body'],
      ['statuses', 0, 'status'],
      ['statuses', 0, 'errors', 0, 'code'],
      ['errors', 0, 'code'],
    ], true);
    refusesAt(messagesValueSchema, value, [['messaging_product'], ['errors', 0, 'code'], ['statuses', 0, 'id'], ['messages', 0, 'id']], '');
    // Unknown keys pass through.
    expect(messagesValueSchema.parse(value).messages?.[0]).toMatchObject({ unknown_key: { anything: true }, timestamp: new Date(1764583200 * 1000) });
  });

  it('echoes, history, state sync and account updates: the same at every level', () => {
    refusesAt(echoesValueSchema, { messaging_product: 'whatsapp', metadata, message_echoes: [message] }, [['messaging_product'], ['message_echoes', 0, 'type']], true);
    const history = {
      messaging_product: 'whatsapp',
      metadata,
      history: [{ metadata: { phase: 2, chunk_order: 0, progress: 100 }, threads: [{ id: '1', context: { wa_id: '1', user_id: 'MA.1', username: '@u' }, messages: [message] }], errors: [{ code: 1 }] }],
      messages: [message],
      message_echoes: [message],
    };
    refusesAt(historyValueSchema, history, [['messaging_product'], ['history', 0, 'threads', 0, 'id'], ['history', 0, 'threads', 0, 'context', 'wa_id'], ['history', 0, 'metadata', 'phase'], ['history', 0, 'metadata', 'chunk_order'], ['history', 0, 'metadata', 'progress']], true);
    refusesAt(historyValueSchema, history, [['history', 0, 'metadata', 'phase'], ['history', 0, 'metadata', 'chunk_order'], ['history', 0, 'metadata', 'progress']], -1);
    refusesAt(historyValueSchema, history, [['history', 0, 'metadata', 'phase'], ['history', 0, 'metadata', 'chunk_order']], 1.5);
    refusesAt(historyValueSchema, history, [['history', 0, 'metadata', 'phase']], 3);
    refusesAt(historyValueSchema, history, [['history', 0, 'metadata', 'progress']], 100.5);
    for (const [phase, chunk, progress] of [[0, 0, 0], [1, 7, 37.5], [2, 1000, 100]] as const) {
      expect(historyValueSchema.safeParse(withAt(history, ['history', 0, 'metadata'], { phase, chunk_order: chunk, progress })).success).toBe(true);
    }
    const sync = { messaging_product: 'whatsapp', metadata, state_sync: [{ type: 'contact', action: 'add', contact: { full_name: 'A', phone_number: '1' }, metadata: { timestamp: '1' } }] };
    refusesAt(stateSyncValueSchema, sync, [['messaging_product'], ['state_sync', 0, 'action'], ['state_sync', 0, 'contact', 'phone_number'], ['state_sync', 0, 'metadata', 'timestamp']], true);
    const account = { phone_number: '1', event: 'ACCOUNT_VIOLATION', disconnection_info: { reason: 'R', initiated_by: 'USER' }, ban_info: { waba_ban_state: 'DISABLE', waba_ban_date: 'April 17, 2025' }, violation_info: { violation_type: 'SCAM' }, restriction_info: [{ restriction_type: 'X', expiration: 1765792800 }] };
    refusesAt(accountUpdateValueSchema, account, [['event'], ['disconnection_info', 'reason'], ['ban_info', 'waba_ban_state'], ['violation_info', 'violation_type'], ['restriction_info', 0, 'restriction_type'], ['restriction_info', 0, 'expiration']], true);
    expect(accountUpdateValueSchema.safeParse(withAt(account, ['restriction_info', 0, 'expiration'], '2026-12-31')).success).toBe(true);
    const prefs = { messaging_product: 'whatsapp', metadata, user_preferences: [{ wa_id: '1', category: 'marketing_messages', value: 'stop', signup_id: 5, timestamp: 1 }] };
    refusesAt(userPreferencesValueSchema, prefs, [['messaging_product'], ['user_preferences', 0, 'value'], ['user_preferences', 0, 'signup_id']], true);
  });

  it('standby and messaging_handovers (Meta’s 2026 fields)', () => {
    refusesAt(standbyValueSchema, { messaging_product: 'whatsapp', metadata, messages: [message], message_echoes: [message] }, [['metadata', 'phone_number_id'], ['message_echoes', 0, 'id']], true);
    const handover = {
      messaging_product: 'whatsapp',
      recipient: { display_phone_number: '212522123456', phone_number_id: '106540352242922' },
      sender: { phone_number: '1', wa_id: '1', user_id: 'MA.1' },
      timestamp: '1',
      control_taken: { previous_owner: 'APP', new_owner: 'AI', previous_owner_app_id: 1, new_owner_app_id: '2', metadata: 'm' },
    };
    refusesAt(handoverValueSchema, handover, [['recipient', 'phone_number_id'], ['sender', 'phone_number'], ['control_taken', 'new_owner'], ['control_taken', 'previous_owner_app_id'], ['control_taken', 'new_owner_app_id']], true);
    for (const id of [1, '1']) expect(handoverValueSchema.safeParse(withAt(handover, ['control_taken', 'previous_owner_app_id'], id)).success).toBe(true);
  });
});

describe('envelopeSchema', () => {
  it('reads the envelope, defaults missing changes to none, refuses wrong types', () => {
    expect(envelopeSchema.parse({ object: 'whatsapp_business_account', entry: [{ id: '1', time: 5 }] })).toEqual({ object: 'whatsapp_business_account', entry: [{ id: '1', time: 5, changes: [] }] });
    refusesAt(envelopeSchema, { object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'messages', value: {} }] }] }, [['object'], ['entry', 0, 'id'], ['entry', 0, 'changes', 0, 'field']], true);
  });

  it('keeps unknown keys of a message, so the raw payload stays whole', () => {
    expect(messageSchema.parse(message)).toMatchObject({ unknown_key: { anything: true } });
  });
});
