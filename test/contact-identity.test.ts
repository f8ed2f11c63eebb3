import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { startTestServer, type TestServer } from './helpers/runtime.js';
import * as P from '../core/src/whatsapp/payloads.js';
import { setBotState } from '../core/src/store/bot.js';

/**
 * One customer, one contact and one thread, whichever identity Meta sends: phone (wa_id), business-
 * scoped user id (BSUID), or both, in any order (coex-spec.md §1; core/src/store/contact-identity.ts).
 */

const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };
const t0 = Date.UTC(2026, 10, 24, 9, 0, 0);
const at = (minutes: number) => t0 + minutes * 60_000;

/** A message from a username user whose phone Meta hides (empty `from` and `wa_id`, BSUID given). */
function fromHiddenPhone(userId: string, wamid: string, when: number, text: string) {
  return P.inboundMessage(N, { waId: '', userId, name: 'Salma' }, wamid, when, P.text(text), { from_user_id: userId });
}
function fromPhone(waId: string, userId: string | undefined, wamid: string, when: number, text: string) {
  return P.inboundMessage(N, { waId, ...(userId ? { userId } : {}), name: 'Salma' }, wamid, when, P.text(text), userId ? { from_user_id: userId } : {});
}

describe.each(backends())('contact identity: phone and BSUID [%s]', (backend) => {
  let s: TestServer;
  let seq = 0;
  beforeAll(async () => {
    s = await startTestServer(backend, { COEX_AGENT: 'off' });
  });
  afterAll(async () => {
    await s?.close();
  });

  const ids = () => {
    seq += 1;
    return { waId: `2126555${String(seq).padStart(5, '0')}`, userId: `MA.${1000000 + seq}` };
  };
  async function deliver(...payloads: unknown[]) {
    for (const p of payloads) expect((await s.postWebhook(p)).status).toBe(200);
    await s.runtime.waitForInboxDrained();
  }
  async function contactsOf(waId: string, userId: string) {
    return s.runtime.db
      .selectFrom('contacts')
      .select(['id', 'contact_key', 'wa_id', 'user_id'])
      .where('phone_number_id', '=', N.phoneNumberId)
      .where((eb) => eb.or([eb('wa_id', '=', waId), eb('user_id', '=', userId), eb('contact_key', '=', `bsuid:${userId}`)]))
      .execute();
  }
  async function threadsOf(contactIds: string[]) {
    return s.runtime.db.selectFrom('threads').select(['id', 'bot_state']).where('contact_id', 'in', contactIds).execute();
  }
  async function textsOf(threadId: string) {
    return (await s.runtime.db.selectFrom('messages').select('text').where('thread_id', '=', threadId).orderBy('provider_timestamp').execute()).map((m) => m.text);
  }

  it('a customer first seen by BSUID only, later with their phone, keeps one contact and one thread', async () => {
    const c = ids();
    await deliver(fromHiddenPhone(c.userId, `wamid.ID-${backend}-1a`, at(0), 'salam'));
    expect(await contactsOf(c.waId, c.userId)).toEqual([expect.objectContaining({ contact_key: `bsuid:${c.userId}`, wa_id: null, user_id: c.userId })]);
    await deliver(fromPhone(c.waId, c.userId, `wamid.ID-${backend}-1b`, at(1), 'rah 3titkom numero'));
    const contacts = await contactsOf(c.waId, c.userId);
    expect(contacts).toEqual([expect.objectContaining({ contact_key: c.waId, wa_id: c.waId, user_id: c.userId })]);
    const threads = await threadsOf(contacts.map((x) => x.id));
    expect(threads).toHaveLength(1);
    expect(await textsOf(threads[0]!.id)).toEqual(['salam', 'rah 3titkom numero']);
  });

  it('a customer known by phone who later writes with the phone hidden stays in the same thread', async () => {
    const c = ids();
    await deliver(fromPhone(c.waId, c.userId, `wamid.ID-${backend}-2a`, at(0), 'first'));
    await deliver(fromHiddenPhone(c.userId, `wamid.ID-${backend}-2b`, at(60 * 24 * 40), 'forty days later'));
    const contacts = await contactsOf(c.waId, c.userId);
    expect(contacts).toEqual([expect.objectContaining({ contact_key: c.waId, user_id: c.userId })]);
    const [thread] = await threadsOf(contacts.map((x) => x.id));
    expect(await textsOf(thread!.id)).toEqual(['first', 'forty days later']);
  });

  it('merges two existing contacts once a message links them, keeping every message and a human pause', async () => {
    const c = ids();
    // Known by phone (no BSUID yet), and separately by BSUID only: two rows, two threads.
    await deliver(fromPhone(c.waId, undefined, `wamid.ID-${backend}-3a`, at(0), 'by phone'));
    await deliver(fromHiddenPhone(c.userId, `wamid.ID-${backend}-3b`, at(1), 'by username'));
    const before = await contactsOf(c.waId, c.userId);
    expect(before).toHaveLength(2);
    const bsuidRow = before.find((x) => x.contact_key === `bsuid:${c.userId}`)!;
    const [bsuidThread] = await threadsOf([bsuidRow.id]);
    await setBotState(s.runtime.db, bsuidThread!.id, 'default', 'pause', 'crm_hubspot_pause', 'rep@atlas.ma');

    await deliver(fromPhone(c.waId, c.userId, `wamid.ID-${backend}-3c`, at(2), 'both'));
    const after = await contactsOf(c.waId, c.userId);
    expect(after).toEqual([expect.objectContaining({ contact_key: c.waId, wa_id: c.waId, user_id: c.userId })]);
    const threads = await threadsOf(after.map((x) => x.id));
    expect(threads).toEqual([expect.objectContaining({ bot_state: 'paused' })]);
    expect(await textsOf(threads[0]!.id)).toEqual(['by phone', 'by username', 'both']);
    const events = await s.runtime.db.selectFrom('bot_events').select(['cause', 'thread_id']).where('thread_id', '=', threads[0]!.id).execute();
    expect(events.map((e) => e.cause)).toContain('crm_hubspot_pause');
    expect(await s.runtime.db.selectFrom('threads').select('id').where('id', '=', bsuidThread!.id).executeTakeFirst()).toBeUndefined();
  });

  it('resolves both identities inside one delivery, whatever their order', async () => {
    const c = ids();
    const hidden = fromHiddenPhone(c.userId, `wamid.ID-${backend}-4a`, at(0), 'hidden first');
    const linked = fromPhone(c.waId, c.userId, `wamid.ID-${backend}-4b`, at(1), 'then linked');
    // One change carrying both messages and both contact entries, the BSUID-only one first.
    const value = hidden.entry[0]!.changes[0]!.value as { contacts: unknown[]; messages: unknown[] };
    const other = linked.entry[0]!.changes[0]!.value as { contacts: unknown[]; messages: unknown[] };
    value.contacts.push(...other.contacts);
    value.messages.push(...other.messages);
    await deliver(hidden);
    const contacts = await contactsOf(c.waId, c.userId);
    expect(contacts).toEqual([expect.objectContaining({ contact_key: c.waId, user_id: c.userId })]);
    const [thread] = await threadsOf(contacts.map((x) => x.id));
    expect(await textsOf(thread!.id)).toEqual(['hidden first', 'then linked']);
  });
});
