import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import { applyEvents, reconcileStatuses, recordWabaIds, upsertContacts, upsertThreads, type ApplyOutcome } from '../core/src/store/apply.js';
import { normalizeChange } from '../core/src/whatsapp/normalize.js';
import { pageMessages } from '../core/src/store/paging.js';
import { listMessages } from '../core/src/store/queries.js';
import * as P from '../core/src/whatsapp/payloads.js';
import * as M from './fixtures/meta-2026.js';

/**
 * apply.ts on its own database, fed with normalized payloads in Meta's shapes: statuses folded in by
 * rank (never backwards, whatever the timestamps and the order of arrival), edits and revokes in
 * either order, a history chunk counted once, 131050 recorded as an opt-out. No runtime, so mutation
 * testing (docs/testing.md) can run it per mutant.
 */
describe.each(backends())('store: apply [%s]', { timeout: 10_000 }, (backend) => {
  let database: MigratedDatabase;
  let handle: DatabaseHandle;
  let n = 0;
  const AT = Date.UTC(2026, 10, 20, 9, 0, 0);
  const CUSTOMER = '212612345678';
  const numberRef = (): P.NumberRef => ({ wabaId: '102290129340398', phoneNumberId: `50654035224${String(++n).padStart(4, '0')}`, displayPhoneNumber: '212522123456' });
  type Payload = { entry: Array<{ id: string; changes: Array<{ field: string; value: unknown }> }> };
  const apply = async (...payloads: Payload[]): Promise<ApplyOutcome> => {
    const events = payloads.flatMap((p) => p.entry.flatMap((e) => e.changes.flatMap((c) => normalizeChange(e.id, c.field, c.value))));
    return handle.db.transaction().execute((trx) => applyEvents(trx, events, { defaultTenantId: 'atlas' }));
  };
  const message = async (N: P.NumberRef, wamid: string) =>
    handle.db.selectFrom('messages').select(['status', 'status_rank', 'status_at', 'error', 'text', 'edited_at', 'revoked_at']).where('phone_number_id', '=', N.phoneNumberId).where('wamid', '=', wamid).executeTakeFirstOrThrow();
  const at = (seconds: number) => AT + seconds * 1000;
  /** Until some backend of this database waits for a lock (the transaction a test holds open). */
  const waitForLockWait = async () => {
    for (let i = 0; i < 500; i++) {
      const r = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(handle.db);
      if (r.rows[0]!.n > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('no transaction waited for a lock');
  };
  /** The thread of a customer (by phone) on a number. */
  const threadOf = async (N: P.NumberRef, waId: string) =>
    handle.db
      .selectFrom('threads')
      .innerJoin('contacts', 'contacts.id', 'threads.contact_id')
      .select(['threads.id', 'threads.last_message_at', 'threads.last_customer_message_at', 'threads.control_holder', 'threads.control_event_at', 'threads.bot_version', 'threads.bot_state', 'threads.bot_paused_until'])
      .where('threads.phone_number_id', '=', N.phoneNumberId)
      .where('contacts.wa_id', '=', waId)
      .executeTakeFirstOrThrow();
  /** A text message whose `contacts` entry is given as is (every detail Meta may send). */
  const fromContact = (N: P.NumberRef, wamid: string, seconds: number, contact: { wa_id: string } & Record<string, unknown>): Payload => ({
    entry: [
      {
        id: N.wabaId,
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: N.displayPhoneNumber, phone_number_id: N.phoneNumberId },
              contacts: [contact],
              messages: [{ from: contact.wa_id, id: wamid, timestamp: String(at(seconds) / 1000), type: 'text', text: { body: wamid } }],
            },
          },
        ],
      },
    ],
  });

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
    await handle.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas' }).execute();
  });
  afterAll(async () => {
    await database?.close();
  });

  it('messages of one second are read back in the order they arrived, also when one transaction stored them all', async () => {
    // A customer types fast: six messages in the same second (Meta's timestamps are in seconds), one
    // delivery, one transaction. Ordered by time and then a random id, they came back shuffled — in
    // the thread view, the CRM cards and the agent's context alike.
    const N = numberRef();
    const texts = ['salam', 'wach kayn', 'l9ftan', 'f taille M', 'b 250 dh?', 'merci'];
    const delivery = P.inboundMessage(N, { waId: CUSTOMER }, 'wamid.fast.0', at(1), P.text(texts[0]!));
    const value = delivery.entry[0]!.changes[0]!.value as { messages: Array<Record<string, unknown>> };
    for (let i = 1; i < texts.length; i++) value.messages.push({ ...value.messages[0]!, id: `wamid.fast.${i}`, text: { body: texts[i] } });
    await apply(delivery);
    // And a reply from the phone in that same second, in a later delivery.
    await apply(P.echo(N, CUSTOMER, 'wamid.fast.reply', at(1), P.text('iyeh kayn')));
    const thread = await threadOf(N, CUSTOMER);
    const scope = 'atlas';
    expect((await listMessages(handle.db, scope, thread.id))!.map((m) => m.text)).toEqual([...texts, 'iyeh kayn']);
    expect((await listMessages(handle.db, scope, thread.id, 1000, { latest: 3 }))!.map((m) => m.text)).toEqual(['b 250 dh?', 'merci', 'iyeh kayn']);
    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const page = (await pageMessages(handle.db, scope, thread.id, { limit: 2, ...(cursor ? { cursor } : {}) }))!;
      paged.push(...page.messages.map((m) => m.text!));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(paged).toEqual([...texts, 'iyeh kayn']);
  });

  it('folds statuses in by rank: an older `read` beats a newer `delivered`; a later `sent` never moves it back', async () => {
    const N = numberRef();
    await apply(P.echo(N, CUSTOMER, 'wamid.S1', at(0), P.text('out')));
    const outcome = await apply(P.statusUpdate(N, 'wamid.S1', 'read', at(10), CUSTOMER), P.statusUpdate(N, 'wamid.S1', 'delivered', at(20), CUSTOMER));
    expect(outcome.statusesRecorded).toBe(2);
    expect(await message(N, 'wamid.S1')).toMatchObject({ status: 'read', status_rank: 4, status_at: new Date(at(10)) });
    await apply(P.statusUpdate(N, 'wamid.S1', 'sent', at(30), CUSTOMER));
    expect(await message(N, 'wamid.S1')).toMatchObject({ status: 'read', status_rank: 4 });
    await apply(P.statusUpdate(N, 'wamid.S1', 'played', at(5), CUSTOMER));
    expect(await message(N, 'wamid.S1')).toMatchObject({ status: 'played', status_rank: 5, status_at: new Date(at(5)) });
    // A repeated status is absorbed.
    await apply(P.statusUpdate(N, 'wamid.S1', 'played', at(5), CUSTOMER));
    expect(Number((await handle.db.selectFrom('message_statuses').select((eb) => eb.fn.countAll<string>().as('c')).where('wamid', '=', 'wamid.S1').executeTakeFirstOrThrow()).c)).toBe(4);
  });

  it('folds the statuses of several messages of a number given in one call; re-archives in HubSpot what changed', async () => {
    const N = numberRef();
    await apply(P.echo(N, CUSTOMER, 'wamid.A1', at(0), P.text('a')), P.echo(N, CUSTOMER, 'wamid.A2', at(1), P.text('b')));
    const hubspot = (await handle.db.insertInto('crm_connections').values({ tenant_id: 'atlas', crm: 'hubspot', account: `portal-${n}`, credentials_enc: '' }).returning('id').executeTakeFirstOrThrow()).id;
    const woo = (await handle.db.insertInto('crm_connections').values({ tenant_id: 'atlas', crm: 'woocommerce', account: `shop-${n}`, credentials_enc: '' }).returning('id').executeTakeFirstOrThrow()).id;
    const ids = await handle.db.selectFrom('messages').select(['id', 'wamid']).where('phone_number_id', '=', N.phoneNumberId).orderBy('wamid').execute();
    for (const connection of [hubspot, woo]) {
      for (const m of ids) await handle.db.insertInto('crm_outbox').values({ tenant_id: 'atlas', connection_id: connection, kind: 'archive', ref_id: m.id, payload: '{}', status: 'done', attempts: 2 }).execute();
    }
    await apply(P.statusUpdate(N, 'wamid.A1', 'delivered', at(10), CUSTOMER), P.statusUpdate(N, 'wamid.A2', 'read', at(11), CUSTOMER));
    expect(await message(N, 'wamid.A1')).toMatchObject({ status: 'delivered' });
    expect(await message(N, 'wamid.A2')).toMatchObject({ status: 'read' });
    const outbox = async (connection: string) => (await handle.db.selectFrom('crm_outbox').select(['status', 'attempts']).where('connection_id', '=', connection).orderBy('id').execute()).map((r) => [r.status, r.attempts]);
    expect(await outbox(hubspot)).toEqual([
      ['pending', 0],
      ['pending', 0],
    ]);
    // Only HubSpot records show the status; other CRMs are not written again.
    expect(await outbox(woo)).toEqual([
      ['done', 2],
      ['done', 2],
    ]);
    // A status that changes nothing re-archives nothing.
    await handle.db.updateTable('crm_outbox').set({ status: 'done' }).where('connection_id', '=', hubspot).execute();
    await apply(P.statusUpdate(N, 'wamid.A1', 'sent', at(12), CUSTOMER));
    expect(await outbox(hubspot)).toEqual([
      ['done', 0],
      ['done', 0],
    ]);
  });

  it('a status that arrives before its message is folded in when the message comes; failures keep their errors', async () => {
    const N = numberRef();
    const errors = [{ code: 131026, title: 'Message undeliverable' }];
    await apply(P.statusUpdate(N, 'wamid.F1', 'failed', at(10), CUSTOMER, { errors }));
    await apply(P.echo(N, CUSTOMER, 'wamid.F1', at(0), P.text('out')));
    expect(await message(N, 'wamid.F1')).toMatchObject({ status: 'failed', status_rank: 6, error: errors });
    // An unknown status ranks lowest and changes nothing.
    await apply(P.statusUpdate(N, 'wamid.F1', 'mystery', at(20), CUSTOMER));
    expect(await message(N, 'wamid.F1')).toMatchObject({ status: 'failed' });
    const [row] = (await sql<{ status_rank: number }>`select status_rank from message_statuses where wamid = 'wamid.F1' and status = 'mystery'`.execute(handle.db)).rows;
    expect(row!.status_rank).toBe(0);
  });

  it('a 131050 failure (the customer stopped marketing) is recorded as an opt-out, once', async () => {
    const N = numberRef();
    await apply(P.echo(N, CUSTOMER, 'wamid.M1', at(0), P.text('promo')));
    const outcome = await apply(P.statusUpdate(N, 'wamid.M1', 'failed', at(10), CUSTOMER, { errors: [{ code: 131050, title: 'Unable to deliver: the user has stopped marketing messages' }] }));
    expect(outcome.consentChanges).toHaveLength(1);
    await apply(P.statusUpdate(N, 'wamid.M1', 'failed', at(10), CUSTOMER, { errors: [{ code: 131050 }] }));
    const events = await handle.db.selectFrom('opt_out_events').select(['wa_id', 'action', 'source', 'detail']).where('phone_number_id', '=', N.phoneNumberId).execute();
    expect(events).toEqual([{ wa_id: CUSTOMER, action: 'opt_out', source: '131050', detail: 'Meta 131050 (status webhook)' }]);
    // 131050 among other errors counts; a failure without errors or on a number never seen does not.
    await apply(P.echo(N, '212600000077', 'wamid.M4', at(0), P.text('promo')));
    await apply(P.statusUpdate(N, 'wamid.M4', 'failed', at(30), '212600000077', { errors: [{ code: 131026 }, { code: 131050 }] }));
    expect(await handle.db.selectFrom('opt_out_events').select('wa_id').where('phone_number_id', '=', N.phoneNumberId).orderBy('id').execute()).toEqual([{ wa_id: CUSTOMER }, { wa_id: '212600000077' }]);
    await apply(P.statusUpdate(N, 'wamid.M5', 'failed', at(40), '212600000078'));
    const unseen = numberRef();
    await apply(P.statusUpdate(unseen, 'wamid.U1', 'failed', at(40), CUSTOMER, { errors: [{ code: 131050 }] }));
    expect(await handle.db.selectFrom('opt_out_events').select('id').where('phone_number_id', '=', unseen.phoneNumberId).execute()).toEqual([]);
    await handle.db.deleteFrom('opt_out_events').where('wa_id', '=', '212600000077').execute();
    // Other failures are not opt-outs.
    await apply(P.statusUpdate(N, 'wamid.M2', 'failed', at(20), CUSTOMER, { errors: [{ code: 131026 }] }));
    await apply(P.statusUpdate(N, 'wamid.M3', 'delivered', at(20), CUSTOMER, { errors: [{ code: 131050 }] }));
    expect(await handle.db.selectFrom('opt_out_events').select('id').where('phone_number_id', '=', N.phoneNumberId).execute()).toHaveLength(1);
  });

  it('applies edits and revokes in either order; an older edit never replaces a newer one', async () => {
    const N = numberRef();
    const edit = (wamid: string, target: string, text: string, seconds: number) =>
      P.inboundMessage(N, { waId: CUSTOMER }, wamid, at(seconds), { type: 'edit', edit: { original_message_id: target, message: { type: 'text', text: { body: text } } } });
    const revoke = (wamid: string, target: string, seconds: number) => P.inboundMessage(N, { waId: CUSTOMER }, wamid, at(seconds), { type: 'revoke', revoke: { original_message_id: target } });
    await apply(P.inboundMessage(N, { waId: CUSTOMER }, 'wamid.E0', at(0), P.text('first')));
    const byCustomer = await apply(edit('wamid.E1', 'wamid.E0', 'second', 20));
    expect(byCustomer.mutations).toBe(1);
    // The customer editing their own message is not the business acting: the agent goes on.
    expect(byCustomer.pausedThreads).toEqual([]);
    await apply(edit('wamid.E2', 'wamid.E0', 'stale', 10));
    expect(await message(N, 'wamid.E0')).toMatchObject({ text: 'second', edited_at: new Date(at(20)), revoked_at: null });
    // The edit arrives before the message it edits.
    await apply(edit('wamid.E4', 'wamid.E3', 'fixed', 40));
    await apply(P.inboundMessage(N, { waId: CUSTOMER }, 'wamid.E3', at(30), P.text('typo')));
    expect(await message(N, 'wamid.E3')).toMatchObject({ text: 'fixed', edited_at: new Date(at(40)) });
    // A revoke, also before its message.
    await apply(revoke('wamid.R1', 'wamid.R0', 60));
    await apply(P.inboundMessage(N, { waId: CUSTOMER }, 'wamid.R0', at(50), P.text('oops')));
    expect(await message(N, 'wamid.R0')).toMatchObject({ revoked_at: new Date(at(60)) });
  });

  it('an edit or a revoke made on the phone pauses the agent; one made by Meta’s bot does not', async () => {
    const N = numberRef();
    await apply(P.echo(N, CUSTOMER, 'wamid.P0', at(0), P.text('first')));
    const thread = (await handle.db.selectFrom('threads').select('id').where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow()).id;
    // The echo itself paused the agent; resume it to see what the edit does.
    await handle.db.updateTable('threads').set({ bot_state: 'active' }).where('id', '=', thread).execute();
    const echoMutation = (wamid: string, body: Record<string, unknown>, creation?: string) => ({
      object: 'whatsapp_business_account',
      entry: [{ id: N.wabaId, changes: [{ field: 'smb_message_echoes', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: N.displayPhoneNumber, phone_number_id: N.phoneNumberId }, message_echoes: [{ from: N.displayPhoneNumber, to: CUSTOMER, id: wamid, timestamp: String(at(5) / 1000), ...body, ...(creation ? { message_creation_type: creation } : {}) }] } }] }],
    });
    const bot = await apply(echoMutation('wamid.P1', { type: 'edit', edit: { original_message_id: 'wamid.P0', message: { type: 'text', text: { body: 'bot fix' } } } }, 'created_by_1p_bot'));
    expect(bot.pausedThreads).toEqual([]);
    const person = await apply(echoMutation('wamid.P2', { type: 'revoke', revoke: { original_message_id: 'wamid.P0' } }));
    expect(person.pausedThreads).toEqual([thread]);
    const causes = (await handle.db.selectFrom('bot_events').select(['cause', 'to_state']).where('thread_id', '=', thread).orderBy('id').execute()).map((e) => [e.cause, e.to_state]);
    expect(causes.at(-1)).toEqual(['app_revoke', 'paused']);
    expect(causes.filter(([cause]) => cause === 'app_edit')).toEqual([]);
  });

  it('applies the messages of several numbers in one call: each number its tenant, contacts, threads, statuses, edits and app activity', async () => {
    const [A, B] = [numberRef(), numberRef()];
    // A is known without its display number (and to another tenant); B is new.
    await handle.db.insertInto('tenants').values({ id: 'other', name: 'Other' }).onConflict((oc) => oc.doNothing()).execute();
    await handle.db.insertInto('whatsapp_numbers').values({ phone_number_id: A.phoneNumberId, tenant_id: 'other', display_phone_number: null }).execute();
    // A status and an edit recorded before their message, for A's wamid.M0 only.
    await apply(P.statusUpdate(A, 'wamid.M0', 'read', at(5), CUSTOMER));
    await apply(P.inboundMessage(A, { waId: CUSTOMER }, 'wamid.ME', at(6), { type: 'edit', edit: { original_message_id: 'wamid.M0', message: { type: 'text', text: { body: 'edited on A' } } } }));
    const outcome = await apply(
      P.inboundMessage(A, { waId: CUSTOMER, name: 'Youssef' }, 'wamid.M0', at(1), P.text('to A')),
      P.inboundMessage(B, { waId: CUSTOMER, name: 'Youssef' }, 'wamid.M0', at(2), P.text('to B')),
      P.echo(B, CUSTOMER, 'wamid.M1', at(3), P.text('from B’s phone')),
      P.inboundMessage(A, { waId: CUSTOMER, name: 'Youssef' }, 'wamid.M0', at(1), P.text('to A')),
    );
    expect(outcome.messagesInserted).toBe(3);
    expect(outcome.messagesMerged).toBe(0);
    expect(outcome.live.map((l) => [l.phoneNumberId, l.tenantId, l.wamid, l.direction, l.text])).toEqual([
      [A.phoneNumberId, 'other', 'wamid.M0', 'inbound', 'to A'],
      [B.phoneNumberId, 'atlas', 'wamid.M0', 'inbound', 'to B'],
      [B.phoneNumberId, 'atlas', 'wamid.M1', 'outbound', 'from B’s phone'],
    ]);
    const numbers = await handle.db.selectFrom('whatsapp_numbers').select(['phone_number_id', 'tenant_id', 'display_phone_number', sql<boolean>`last_echo_at is not null`.as('echoed')]).where('phone_number_id', 'in', [A.phoneNumberId, B.phoneNumberId]).orderBy('phone_number_id').execute();
    expect(numbers).toEqual([
      { phone_number_id: A.phoneNumberId, tenant_id: 'other', display_phone_number: A.displayPhoneNumber, echoed: false },
      { phone_number_id: B.phoneNumberId, tenant_id: 'atlas', display_phone_number: B.displayPhoneNumber, echoed: true },
    ]);
    // One contact and one thread per number, each with its tenant; the messages on their own number's thread.
    const contacts = await handle.db.selectFrom('contacts').select(['id', 'phone_number_id', 'tenant_id', 'wa_id', 'profile_name']).where('phone_number_id', 'in', [A.phoneNumberId, B.phoneNumberId]).orderBy('phone_number_id').execute();
    expect(contacts.map((c) => [c.phone_number_id, c.tenant_id, c.wa_id, c.profile_name])).toEqual([
      [A.phoneNumberId, 'other', CUSTOMER, 'Youssef'],
      [B.phoneNumberId, 'atlas', CUSTOMER, 'Youssef'],
    ]);
    const threads = await handle.db.selectFrom('threads').select(['id', 'phone_number_id', 'tenant_id', 'contact_id', 'last_message_at', 'last_customer_message_at']).where('phone_number_id', 'in', [A.phoneNumberId, B.phoneNumberId]).orderBy('phone_number_id').execute();
    expect(threads.map((t) => [t.phone_number_id, t.tenant_id, t.contact_id, t.last_message_at, t.last_customer_message_at])).toEqual([
      [A.phoneNumberId, 'other', contacts[0]!.id, new Date(at(1)), new Date(at(1))],
      [B.phoneNumberId, 'atlas', contacts[1]!.id, new Date(at(3)), new Date(at(2))],
    ]);
    const messages = await handle.db.selectFrom('messages').select(['phone_number_id', 'tenant_id', 'thread_id', 'wamid', 'text', 'status', 'edited_at']).where('phone_number_id', 'in', [A.phoneNumberId, B.phoneNumberId]).orderBy('phone_number_id').orderBy('wamid').execute();
    expect(messages).toEqual([
      { phone_number_id: A.phoneNumberId, tenant_id: 'other', thread_id: threads[0]!.id, wamid: 'wamid.M0', text: 'edited on A', status: 'read', edited_at: new Date(at(6)) },
      { phone_number_id: B.phoneNumberId, tenant_id: 'atlas', thread_id: threads[1]!.id, wamid: 'wamid.M0', text: 'to B', status: 'received', edited_at: null },
      { phone_number_id: B.phoneNumberId, tenant_id: 'atlas', thread_id: threads[1]!.id, wamid: 'wamid.M1', text: 'from B’s phone', status: null, edited_at: null },
    ]);
    // Known now: a second call writes no contact, thread or number, and merges.
    const again = await apply(P.inboundMessage(A, { waId: CUSTOMER }, 'wamid.M0', at(1), P.text('to A')), P.inboundMessage(B, { waId: CUSTOMER }, 'wamid.M2', at(9), P.text('later')));
    expect([again.messagesInserted, again.messagesMerged, again.live.map((l) => l.wamid)]).toEqual([1, 1, ['wamid.M2']]);
    expect((await handle.db.selectFrom('threads').select('last_message_at').where('id', '=', threads[1]!.id).executeTakeFirstOrThrow()).last_message_at).toEqual(new Date(at(9)));
    expect(await handle.db.selectFrom('contacts').select('id').where('phone_number_id', 'in', [A.phoneNumberId, B.phoneNumberId]).execute()).toHaveLength(2);
  });

  it('a known number learns its display number from its first message that names it; a WABA is recorded only when it is all digits', async () => {
    const [Z, W] = [numberRef(), numberRef()];
    for (const N of [Z, W]) await handle.db.insertInto('whatsapp_numbers').values({ phone_number_id: N.phoneNumberId, tenant_id: 'atlas', display_phone_number: null }).execute();
    // The first message of the batch that names a display number gives it (a later empty one does not).
    await apply(P.inboundMessage(Z, { waId: CUSTOMER }, 'wamid.Z0', at(0), P.text('hi')), P.inboundMessage({ ...Z, displayPhoneNumber: '' }, { waId: CUSTOMER }, 'wamid.Z1', at(1), P.text('again')));
    const wabas = new Map([[Z.phoneNumberId, 'x123'], [W.phoneNumberId, '123x']]);
    await handle.db.transaction().execute((trx) => recordWabaIds(trx, wabas));
    const rows = await handle.db.selectFrom('whatsapp_numbers').select(['phone_number_id', 'display_phone_number', 'waba_id']).where('phone_number_id', 'in', [Z.phoneNumberId, W.phoneNumberId]).orderBy('phone_number_id').execute();
    expect(rows).toEqual([
      { phone_number_id: Z.phoneNumberId, display_phone_number: Z.displayPhoneNumber, waba_id: null },
      { phone_number_id: W.phoneNumberId, display_phone_number: null, waba_id: null },
    ]);
    await handle.db.transaction().execute((trx) => recordWabaIds(trx, new Map([[W.phoneNumberId, '102290129340398']])));
    expect((await handle.db.selectFrom('whatsapp_numbers').select('waba_id').where('phone_number_id', '=', W.phoneNumberId).executeTakeFirstOrThrow()).waba_id).toBe('102290129340398');
  });

  it('counts a history chunk once, even delivered twice, and completes the sync at progress 100', async () => {
    const N = numberRef();
    const chunk = (order: number, progress: number) =>
      P.historyChunk(N, { phase: 1, chunkOrder: order, progress }, [{ waId: CUSTOMER, messages: [{ wamid: `wamid.H${order}`, fromCustomer: true, at: at(order), body: P.text(`old ${order}`) }] }]);
    const sync = async () => handle.db.selectFrom('sync_state').select(['history_progress', 'history_chunks', 'history_messages', 'history_status']).where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();
    expect((await apply(chunk(1, 40))).historyChunks).toBe(1);
    expect((await apply(chunk(1, 40))).historyChunks).toBe(0);
    expect(await sync()).toEqual({ history_progress: 40, history_chunks: 1, history_messages: 1, history_status: 'in_progress' });
    await apply(chunk(3, 100));
    expect(await sync()).toEqual({ history_progress: 100, history_chunks: 2, history_messages: 2, history_status: 'complete' });
    // A late chunk with less progress leaves the sync complete.
    await apply(chunk(2, 60));
    expect(await sync()).toEqual({ history_progress: 100, history_chunks: 3, history_messages: 3, history_status: 'complete' });
  });

  it('a new thread starts with its batch’s clocks and holder: the latest activity, the latest live customer message, the signal of the latest live customer message', async () => {
    const N = numberRef();
    const [C1, C2, C3, C4, C5, C6, C7, C8] = ['212611000001', '212611000002', '212611000003', '212611000004', '212611000005', '212611000006', '212611000007', '212611000008'];
    const outcome = await apply(
      // C1, newest first: an echo (a bot's: it pauses nothing) later than the customer's messages moves only the last activity.
      P.inboundMessage(N, { waId: C1 }, 'wamid.T1', at(5), P.text('newer')),
      P.inboundMessage(N, { waId: C1 }, 'wamid.T2', at(3), P.text('older')),
      M.echoWithCreationType(N, C1, 'wamid.T3', at(8), P.text('reply'), 'created_by_1p_bot'),
      // C2: a standby message, then an older regular one: the latest decides (Meta's agent holds it).
      M.standbyMessage(N, { waId: C2 }, 'wamid.T4', at(4), P.text('standby')),
      P.inboundMessage(N, { waId: C2 }, 'wamid.T5', at(2), P.text('older, regular')),
      // C3: the same second, the message given last decides.
      P.inboundMessage(N, { waId: C3 }, 'wamid.T6', at(7), P.text('regular')),
      M.standbyMessage(N, { waId: C3 }, 'wamid.T7', at(7), P.text('standby, same second')),
      // C4: only an echo — no customer clock, no signal: CoEx's defaults.
      M.echoWithCreationType(N, C4, 'wamid.T8', at(6), P.text('hello'), 'created_by_1p_bot'),
      // C6, oldest first: the later message sets the customer clock and the holder's time.
      P.inboundMessage(N, { waId: C6 }, 'wamid.T10', at(1), P.text('first')),
      P.inboundMessage(N, { waId: C6 }, 'wamid.T11', at(3), P.text('second')),
      // One wamid delivered twice, naming C7 then C8 (the last copy wins): C7 has a thread all the same.
      P.inboundMessage(N, { waId: C7 }, 'wamid.T12', at(2), P.text('copy')),
      P.inboundMessage(N, { waId: C8 }, 'wamid.T12', at(2), P.text('copy')),
    );
    expect(outcome.messagesInserted).toBe(11);
    // C5: only history — not live, so neither the window nor the holder moves.
    await apply(P.historyChunk(N, { phase: 0, chunkOrder: 1, progress: 10 }, [{ waId: C5, messages: [{ wamid: 'wamid.T9', fromCustomer: true, at: at(9), body: P.text('old') }] }]));
    const view = async (waId: string) => {
      const t = await threadOf(N, waId);
      return [t.last_message_at, t.last_customer_message_at, t.control_holder, t.control_event_at, String(t.bot_version)];
    };
    expect(await view(C1)).toEqual([new Date(at(8)), new Date(at(5)), 'coex', new Date(at(5)), '0']);
    expect(await view(C2)).toEqual([new Date(at(4)), new Date(at(4)), 'meta_agent', new Date(at(4)), '1']);
    expect(await view(C3)).toEqual([new Date(at(7)), new Date(at(7)), 'meta_agent', new Date(at(7)), '1']);
    expect(await view(C4)).toEqual([new Date(at(6)), null, 'coex', null, '0']);
    expect(await view(C5)).toEqual([new Date(at(9)), null, 'coex', null, '0']);
    expect(await view(C6)).toEqual([new Date(at(3)), new Date(at(3)), 'coex', new Date(at(3)), '0']);
    expect((await threadOf(N, C7)).id).toEqual(expect.any(String));
    expect(await view(C8)).toEqual([new Date(at(2)), new Date(at(2)), 'coex', new Date(at(2)), '0']);
  });

  it('a known thread’s clocks only move forward, and its holder follows the latest live customer message', async () => {
    const N = numberRef();
    const C = '212611000011';
    await apply(P.inboundMessage(N, { waId: C }, 'wamid.K1', at(10), P.text('first')));
    const view = async () => {
      const t = await threadOf(N, C);
      return [t.last_message_at, t.last_customer_message_at, t.control_holder, t.control_event_at, String(t.bot_version)];
    };
    expect(await view()).toEqual([new Date(at(10)), new Date(at(10)), 'coex', new Date(at(10)), '0']);
    // Older messages (a late delivery, a history message) move nothing.
    await apply(M.standbyMessage(N, { waId: C }, 'wamid.K2', at(5), P.text('late standby')));
    await apply(P.historyChunk(N, { phase: 0, chunkOrder: 1, progress: 10 }, [{ waId: C, messages: [{ wamid: 'wamid.K3', fromCustomer: true, at: at(30), body: P.text('history') }] }]));
    expect(await view()).toEqual([new Date(at(30)), new Date(at(10)), 'coex', new Date(at(10)), '0']);
    // A later standby message, with an older regular one in the same batch: Meta's agent holds it.
    await apply(M.standbyMessage(N, { waId: C }, 'wamid.K4', at(40), P.text('standby')), P.inboundMessage(N, { waId: C }, 'wamid.K5', at(35), P.text('regular, older')));
    expect(await view()).toEqual([new Date(at(40)), new Date(at(40)), 'meta_agent', new Date(at(40)), '1']);
    // An echo moves the last activity only; a later regular message gives the thread back to CoEx.
    await apply(M.echoWithCreationType(N, C, 'wamid.K6', at(50), P.text('reply'), 'created_by_1p_bot'));
    expect(await view()).toEqual([new Date(at(50)), new Date(at(40)), 'meta_agent', new Date(at(40)), '1']);
    await apply(P.inboundMessage(N, { waId: C }, 'wamid.K7', at(60), P.text('back')));
    expect(await view()).toEqual([new Date(at(60)), new Date(at(60)), 'coex', new Date(at(60)), '1']);
  });

  it('a batch naming a customer twice keeps every detail given; an unchanged contact is not written again, a changed detail is', async () => {
    const N = numberRef();
    const W = '212611000021';
    const contact = async () =>
      handle.db.selectFrom('contacts').select(['id', 'wa_id', 'user_id', 'username', 'country_code', 'profile_name', 'updated_at']).where('phone_number_id', '=', N.phoneNumberId).execute();
    const full = { wa_id: W, user_id: 'MA.1', country_code: 'MA', username: 'youssef.b', profile: { name: 'Youssef' } };
    // The second copy names only another name: it replaces the name and keeps the rest.
    await apply(fromContact(N, 'wamid.D1', 1, full), fromContact(N, 'wamid.D2', 2, { wa_id: W, profile: { name: 'Youssef B' } }));
    const [first] = await contact();
    expect(first).toMatchObject({ wa_id: W, user_id: 'MA.1', username: 'youssef.b', country_code: 'MA', profile_name: 'Youssef B' });
    // The other way round: a copy without details, then the full one.
    const N2 = numberRef();
    await apply(fromContact(N2, 'wamid.D3', 1, { wa_id: W }), fromContact(N2, 'wamid.D4', 2, full));
    expect(await handle.db.selectFrom('contacts').select(['user_id', 'username', 'country_code', 'profile_name']).where('phone_number_id', '=', N2.phoneNumberId).executeTakeFirstOrThrow()).toEqual({
      user_id: 'MA.1',
      username: 'youssef.b',
      country_code: 'MA',
      profile_name: 'Youssef',
    });
    // The same details again, or fewer: the row is not written (updated_at stays).
    await apply(fromContact(N, 'wamid.D5', 3, { ...full, profile: { name: 'Youssef B' } }));
    await apply(fromContact(N, 'wamid.D6', 4, { wa_id: W }));
    expect(await contact()).toEqual([first]);
    // Each detail that changes is written, alone, and the others are kept.
    const changes: Array<[Record<string, unknown>, Record<string, string>]> = [
      [{ user_id: 'MA.2' }, { user_id: 'MA.2' }],
      [{ username: 'yb' }, { username: 'yb' }],
      [{ country_code: 'FR' }, { country_code: 'FR' }],
      [{ profile: { name: 'Youssef Benali' } }, { profile_name: 'Youssef Benali' }],
    ];
    let previous = first!;
    for (const [i, [given, stored]] of changes.entries()) {
      await apply(fromContact(N, `wamid.D${10 + i}`, 10 + i, { wa_id: W, ...given }));
      const [now] = await contact();
      expect(now).toEqual({ ...previous, ...stored, updated_at: expect.any(Date) });
      expect(now!.updated_at.getTime()).toBeGreaterThan(previous.updated_at.getTime());
      previous = now!;
    }
    // A customer first known by their BSUID only learns their phone number.
    const N3 = numberRef();
    await apply(M.fromBsuid(N3, 'MA.9', 'wamid.D20', at(20), P.text('hi')));
    await apply(fromContact(N3, 'wamid.D21', 21, { wa_id: W, user_id: 'MA.9', profile: { name: 'Salma' } }));
    const known = async () => handle.db.selectFrom('contacts').select(['id', 'wa_id', 'user_id', 'updated_at']).where('phone_number_id', '=', N3.phoneNumberId).execute();
    const [paired] = await known();
    expect(paired).toMatchObject({ wa_id: W, user_id: 'MA.9' });
    // Then a message naming only the BSUID: it belongs to that contact (keyed by the phone), on its
    // thread, and — the details being the same — writes nothing to it.
    await apply(M.fromBsuid(N3, 'MA.9', 'wamid.D22', at(22), P.text('again')));
    expect(await known()).toEqual([paired]);
    const threads = await handle.db.selectFrom('messages').select('thread_id').distinct().where('phone_number_id', '=', N3.phoneNumberId).execute();
    expect(threads).toHaveLength(1);
    // A customer who changed their BSUID: a late message still carrying the old one lands on their contact.
    const N4 = numberRef();
    await apply(M.fromBsuid(N4, 'MA.old', 'wamid.D30', at(30), P.text('hi')));
    await apply(M.userChangedUserId(N4, { previousUserId: 'MA.old', newUserId: 'MA.new' }, 'wamid.D31', at(31)));
    const late = await apply(M.fromBsuid(N4, 'MA.old', 'wamid.D32', at(29), P.text('sent before the change')));
    expect(late.messagesInserted).toBe(1);
    const rows = await handle.db.selectFrom('messages').innerJoin('threads', 'threads.id', 'messages.thread_id').select(['messages.wamid', 'threads.contact_id']).where('messages.phone_number_id', '=', N4.phoneNumberId).execute();
    expect(new Set(rows.map((r) => r.contact_id)).size).toBe(1);
    expect(rows.map((r) => r.wamid).sort()).toEqual(['wamid.D30', 'wamid.D31', 'wamid.D32'].filter((w) => rows.some((r) => r.wamid === w)));
    expect(rows.map((r) => r.wamid)).toContain('wamid.D32');
    expect(await handle.db.selectFrom('contacts').select('user_id').where('phone_number_id', '=', N4.phoneNumberId).execute()).toEqual([{ user_id: 'MA.new' }]);
  });

  it('a live echo by a person pauses its thread from that echo’s time; a bot’s or a standby handler’s echo does not; phone activity counts a person’s echoes only', async () => {
    const [N, B] = [numberRef(), numberRef()];
    const [C1, C2, C3, C4, C5] = ['212611000031', '212611000032', '212611000033', '212611000034', '212611000035'];
    // Threads known and active first.
    for (const [X, C] of [[N, C1], [N, C2], [N, C3], [N, C4], [N, C5], [B, C1]] as const) await apply(P.inboundMessage(X, { waId: C }, `wamid.E-${C}`, at(0), P.text('hi')));
    await handle.db.updateTable('threads').set({ bot_state: 'off' }).where('id', '=', (await threadOf(N, C4)).id).execute();
    const outcome = await apply(
      // C1: two echoes by a person; a customer message after them does not stretch the pause.
      M.echoWithCreationType(N, C1, 'wamid.E2', at(20), P.text('second'), 'user'),
      // C5: two echoes in the order they were written: the latter counts.
      P.echo(N, C5, 'wamid.E11', at(10), P.text('one')),
      P.echo(N, C5, 'wamid.E12', at(30), P.text('two')),
      P.echo(N, C1, 'wamid.E1', at(10), P.text('first, delivered last')),
      P.inboundMessage(N, { waId: C1 }, 'wamid.E3', at(25), P.text('thanks')),
      // C2: a bot's echo, and a standby handler's echo without a creation type.
      M.echoWithCreationType(N, C2, 'wamid.E4', at(11), P.text('bot'), 'created_by_1p_bot'),
      M.standbyEcho(N, C2, 'wamid.E5', at(12), P.text('meta agent')),
      // C3: a creation type CoEx does not know: a person, to be safe, and reported.
      M.echoWithCreationType(N, C3, 'wamid.E6', at(13), P.text('who?'), 'created_by_something_new'),
      // C4: the agent is off — nothing to pause.
      P.echo(N, C4, 'wamid.E7', at(14), P.text('me')),
      // On B a bot's echo, and a person's echo on the standby field (written in the app holding the
      // thread): it pauses CoEx's agent, but the phone app was not used there.
      M.echoWithCreationType(B, C1, 'wamid.E8', at(15), P.text('bot'), 'created_by_1p_bot'),
      M.standbyEcho(B, C1, 'wamid.E9', at(16), P.text('a person in the other app'), 'user'),
    );
    const [t1, t2, t3, t4, t5, b1] = [await threadOf(N, C1), await threadOf(N, C2), await threadOf(N, C3), await threadOf(N, C4), await threadOf(N, C5), await threadOf(B, C1)];
    expect(new Set(outcome.pausedThreads)).toEqual(new Set([t1.id, t3.id, t5.id, b1.id]));
    expect(outcome.pausedThreads).toHaveLength(4);
    expect(outcome.unknownCreationTypes).toEqual(['created_by_something_new']);
    // The tenant's default quiet period (1,800 s) from the person's latest echo.
    expect([t1.bot_state, t1.bot_paused_until]).toEqual(['paused', new Date(at(20 + 1800))]);
    expect([t3.bot_state, t3.bot_paused_until]).toEqual(['paused', new Date(at(13 + 1800))]);
    expect([t5.bot_state, t5.bot_paused_until]).toEqual(['paused', new Date(at(30 + 1800))]);
    expect(await handle.db.selectFrom('bot_events').select(['cause', 'to_state']).where('thread_id', '=', t1.id).execute()).toEqual([{ cause: 'app_echo', to_state: 'paused' }]);
    expect([b1.bot_state, b1.bot_paused_until]).toEqual(['paused', new Date(at(16 + 1800))]);
    expect([t2.bot_state, t4.bot_state]).toEqual(['active', 'off']);
    const echoed = await handle.db.selectFrom('whatsapp_numbers').select(['phone_number_id', 'last_echo_at']).where('phone_number_id', 'in', [N.phoneNumberId, B.phoneNumberId]).execute();
    expect(echoed.find((r) => r.phone_number_id === N.phoneNumberId)!.last_echo_at).toBeInstanceOf(Date);
    expect(echoed.find((r) => r.phone_number_id === B.phoneNumberId)!.last_echo_at).toBeNull();
    // History echoes are not live: no pause, no activity.
    await handle.db.updateTable('threads').set({ bot_state: 'active', bot_paused_until: null }).where('id', '=', t2.id).execute();
    const history = await apply(P.historyChunk(B, { phase: 0, chunkOrder: 1, progress: 5 }, [{ waId: C2, messages: [{ wamid: 'wamid.E10', fromCustomer: false, at: at(30), body: P.text('old reply') }] }]));
    expect(history.pausedThreads).toEqual([]);
    expect((await handle.db.selectFrom('whatsapp_numbers').select('last_echo_at').where('phone_number_id', '=', B.phoneNumberId).executeTakeFirstOrThrow()).last_echo_at).toBeNull();
  });

  it('reports what a batch inserted: live messages with their media and origin, history media to fetch, and merged copies apart', async () => {
    const N = numberRef();
    const C = '212611000041';
    const first = await apply(
      P.inboundMessage(N, { waId: C }, 'wamid.O1', at(1), P.voiceNote('media-voice-1')),
      M.standbyMessage(N, { waId: C }, 'wamid.O2', at(2), P.image('media-image-2', 'photo')),
      P.inboundMessage(N, { waId: C }, 'wamid.O5', at(3), P.text('and a question'), { context: { from: N.displayPhoneNumber, id: 'wamid.O0' } }),
      P.historyChunk(N, { phase: 0, chunkOrder: 1, progress: 5 }, [{ waId: C, messages: [{ wamid: 'wamid.O3', fromCustomer: true, at: at(0), body: P.mediaPlaceholder }, { wamid: 'wamid.O4', fromCustomer: true, at: at(0), body: P.text('old text') }] }]),
    );
    const thread = (await threadOf(N, C)).id;
    expect(first.live.map(({ messageId: _id, ...item }) => item)).toEqual([
      { threadId: thread, tenantId: 'atlas', phoneNumberId: N.phoneNumberId, wamid: 'wamid.O1', direction: 'inbound', origin: 'customer', type: 'audio', voice: true, mediaId: 'media-voice-1', text: null, standby: false },
      { threadId: thread, tenantId: 'atlas', phoneNumberId: N.phoneNumberId, wamid: 'wamid.O2', direction: 'inbound', origin: 'customer', type: 'image', voice: false, mediaId: 'media-image-2', text: 'photo', standby: true },
      { threadId: thread, tenantId: 'atlas', phoneNumberId: N.phoneNumberId, wamid: 'wamid.O5', direction: 'inbound', origin: 'customer', type: 'text', voice: false, mediaId: null, text: 'and a question', standby: false },
    ]);
    expect(first.historyMedia).toEqual([]);
    const ids = await handle.db.selectFrom('messages').select(['id', 'wamid']).where('phone_number_id', '=', N.phoneNumberId).execute();
    expect(first.live.map((l) => l.messageId)).toEqual(['wamid.O1', 'wamid.O2', 'wamid.O5'].map((w) => ids.find((r) => r.wamid === w)!.id));
    // The placeholder's media follow-up is merged into it and reported as history media to fetch.
    const followUp = await apply(P.historyMediaFollowUp(N, C, 'wamid.O3', at(0), P.image('media-image-3'), true), P.inboundMessage(N, { waId: C }, 'wamid.O1', at(1), P.voiceNote('media-voice-1')));
    expect([followUp.messagesInserted, followUp.messagesMerged, followUp.live]).toEqual([0, 2, []]);
    expect(followUp.historyMedia.map((h) => [h.wamid, h.origin, h.type, h.mediaId, h.voice])).toEqual([['wamid.O3', 'history', 'image', 'media-image-3', false]]);
  });
  it('stores each message’s columns: statuses of history messages, reply context, media and its work, errors, standby and the echo’s creation type', async () => {
    const N = numberRef();
    const C = '212611000051';
    const unsupported = { type: 'unsupported', errors: [{ code: 131051, title: 'Message type unknown', message: 'Message type unknown', error_data: { details: 'Message type is currently not supported.' } }] };
    await apply(
      P.inboundMessage(N, { waId: C }, 'wamid.C1', at(1), P.voiceNote('media-c1', 'c'.repeat(64)), { context: { from: N.displayPhoneNumber, id: 'wamid.C0' } }),
      P.inboundMessage(N, { waId: C }, 'wamid.C2', at(2), unsupported),
      M.standbyMessage(N, { waId: C }, 'wamid.C3', at(3), P.image('media-c3')),
      M.echoWithCreationType(N, C, 'wamid.C4', at(4), P.text('bot reply'), 'created_by_1p_bot'),
      P.historyChunk(N, { phase: 0, chunkOrder: 1, progress: 5 }, [
        {
          waId: C,
          messages: [
            { wamid: 'wamid.C5', fromCustomer: true, at: at(0), body: P.text('old question'), status: 'READ' },
            { wamid: 'wamid.C6', fromCustomer: false, at: at(0), body: P.text('old answer'), status: 'DELIVERED' },
          ],
        },
      ]),
    );
    const rows = await handle.db
      .selectFrom('messages')
      .select(['wamid', 'direction', 'origin', 'type', 'status', 'history_status', 'context_wamid', 'media_id', 'media_mime', 'media_sha256', 'media_voice', 'media_state', 'transcript_state', 'standby', 'creation_type', 'error'])
      .where('phone_number_id', '=', N.phoneNumberId)
      .orderBy('wamid')
      .execute();
    const none = { context_wamid: null, media_id: null, media_mime: null, media_sha256: null, media_voice: false, media_state: null, transcript_state: null, standby: false, creation_type: null, error: null, history_status: null };
    expect(rows).toEqual([
      { ...none, wamid: 'wamid.C1', direction: 'inbound', origin: 'customer', type: 'audio', status: 'received', context_wamid: 'wamid.C0', media_id: 'media-c1', media_mime: 'audio/ogg; codecs=opus', media_sha256: 'c'.repeat(64), media_voice: true, media_state: 'pending', transcript_state: 'pending' },
      { ...none, wamid: 'wamid.C2', direction: 'inbound', origin: 'customer', type: 'unsupported', status: 'received', error: unsupported.errors },
      { ...none, wamid: 'wamid.C3', direction: 'inbound', origin: 'customer', type: 'image', status: 'received', media_id: 'media-c3', media_mime: 'image/jpeg', media_sha256: 'b'.repeat(64), media_state: 'pending', standby: true },
      { ...none, wamid: 'wamid.C4', direction: 'outbound', origin: 'app', type: 'text', status: null, creation_type: 'created_by_1p_bot' },
      { ...none, wamid: 'wamid.C5', direction: 'inbound', origin: 'history', type: 'text', status: 'read', history_status: 'READ' },
      { ...none, wamid: 'wamid.C6', direction: 'outbound', origin: 'history', type: 'text', status: 'delivered', history_status: 'DELIVERED' },
    ]);
    // Each message keeps its own payload as Meta sent it.
    const payloads = await handle.db.selectFrom('messages').select(['wamid', 'payload']).where('phone_number_id', '=', N.phoneNumberId).orderBy('wamid').execute();
    expect(payloads.map((p) => p.payload)).toEqual([
      expect.objectContaining({ id: 'wamid.C1', type: 'audio', audio: expect.objectContaining({ id: 'media-c1', voice: true }), context: { from: N.displayPhoneNumber, id: 'wamid.C0' } }),
      expect.objectContaining({ id: 'wamid.C2', type: 'unsupported' }),
      expect.objectContaining({ id: 'wamid.C3', type: 'image' }),
      expect.objectContaining({ id: 'wamid.C4', type: 'text', text: { body: 'bot reply' }, message_creation_type: 'created_by_1p_bot' }),
      expect.objectContaining({ id: 'wamid.C5', text: { body: 'old question' }, history_context: { status: 'READ' } }),
      expect.objectContaining({ id: 'wamid.C6', text: { body: 'old answer' } }),
    ]);
  });

  it('stores messages, echoes, history messages, statuses and edits exactly as Meta sent them (its timestamps, its keys), not as parsed', async () => {
    const N = numberRef();
    const C = '212611000052';
    const deliveries = [
      P.inboundMessage(N, { waId: C }, 'wamid.P1', at(1), P.text('salam'), { referral: { source_type: 'ad', source_id: '42' } }),
      P.echo(N, C, 'wamid.P2', at(2), P.text('from the phone')),
      P.historyChunk(N, { phase: 0, chunkOrder: 1, progress: 5 }, [{ waId: C, messages: [{ wamid: 'wamid.P0', fromCustomer: true, at: at(0), body: P.text('old'), status: 'READ' }] }]),
      P.statusUpdate(N, 'wamid.P2', 'read', at(3), C),
      P.inboundMessage(N, { waId: C }, 'wamid.P3', at(4), { type: 'edit', edit: { original_message_id: 'wamid.P1', message: { type: 'text', text: { body: 'salam!' } } } }),
    ];
    await apply(...deliveries);
    // What Meta sent, found by id in the deliveries (each a plain JSON object, timestamps strings of seconds).
    const sent = new Map<string, unknown>();
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(visit);
      else if (node !== null && typeof node === 'object') {
        const record = node as Record<string, unknown>;
        if (typeof record.id === 'string' && record.id.startsWith('wamid.') && 'timestamp' in record) sent.set(`${'status' in record ? 'status' : 'item'}:${record.id}`, JSON.parse(JSON.stringify(record)));
        Object.values(record).forEach(visit);
      }
    };
    visit(deliveries);
    const messages = await handle.db.selectFrom('messages').select(['wamid', 'payload']).where('phone_number_id', '=', N.phoneNumberId).orderBy('wamid').execute();
    expect(messages.map((m) => [m.wamid, m.payload])).toEqual(['wamid.P0', 'wamid.P1', 'wamid.P2'].map((w) => [w, sent.get(`item:${w}`)]));
    expect(messages.map((m) => (m.payload as { timestamp: unknown }).timestamp)).toEqual([String(at(0) / 1000), String(at(1) / 1000), String(at(2) / 1000)]);
    const status = await handle.db.selectFrom('message_statuses').select('payload').where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();
    expect(status.payload).toEqual(sent.get('status:wamid.P2'));
    const edit = await handle.db.selectFrom('message_mutations').select('payload').where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();
    expect(edit.payload).toEqual(sent.get('item:wamid.P3'));
  });

  it('upsertThreads: a thread for each contact, nothing for none; a thread another transaction created meanwhile is the one returned', async () => {
    const N = numberRef();
    await handle.db.insertInto('whatsapp_numbers').values({ phone_number_id: N.phoneNumberId, tenant_id: 'atlas' }).execute();
    expect(await handle.db.transaction().execute((trx) => upsertThreads(trx, 'atlas', N.phoneNumberId, []))).toEqual(new Map());
    const contacts = await handle.db.transaction().execute((trx) => upsertContacts(trx, 'atlas', N.phoneNumberId, ['212611000061', '212611000062'].map((waId) => ({ waId, userId: null, username: null, countryCode: null, profileName: null }))));
    const [a, b] = [contacts.get('212611000061')!, contacts.get('212611000062')!];
    // A send to a new customer: a bare thread, CoEx's defaults.
    const created = await handle.db.transaction().execute((trx) => upsertThreads(trx, 'atlas', N.phoneNumberId, [a]));
    expect(await handle.db.selectFrom('threads').select(['id', 'control_holder', 'bot_version', 'last_customer_message_at']).where('contact_id', '=', a).execute()).toEqual([
      { id: created.get(a)!, control_holder: 'coex', bot_version: '0', last_customer_message_at: null },
    ]);
    // Another transaction inserts b's thread and holds it uncommitted; ours reads nothing, waits on
    // the insert, and — once the other commits — returns that thread.
    const other = await handle.db.startTransaction().execute();
    try {
      const theirs = (await other.insertInto('threads').values({ tenant_id: 'atlas', phone_number_id: N.phoneNumberId, contact_id: b }).returning('id').executeTakeFirstOrThrow()).id;
      const ours = handle.db.transaction().execute((trx) => upsertThreads(trx, 'atlas', N.phoneNumberId, [a, b]));
      await waitForLockWait();
      await other.commit().execute();
      expect(await ours).toEqual(new Map([[a, created.get(a)!], [b, theirs]]));
    } finally {
      if (!other.isCommitted && !other.isRolledBack) await other.rollback().execute();
    }
  });

  it('writes new contacts and threads in one order, so that two batches naming the same new customers in other orders cannot deadlock', async () => {
    const identity = (waId: string) => ({ waId, userId: null, username: null, countryCode: null, profileName: null });
    // T1 holds the lower key; T2 names both, in either order: in key order it waits on the lower one
    // holding nothing, T1 then writes the higher one and commits. Out of that order, T2 would hold the
    // higher one while waiting on the lower: a deadlock.
    for (const reversed of [true, false]) {
      const N = numberRef();
      const [low, high] = ['212611000071', '212611000072'];
      await handle.db.insertInto('whatsapp_numbers').values({ phone_number_id: N.phoneNumberId, tenant_id: 'atlas' }).execute();
      const both = <T,>(a: T, b: T): T[] => (reversed ? [b, a] : [a, b]);
      const t1 = await handle.db.startTransaction().execute();
      const t3 = await handle.db.startTransaction().execute();
      try {
        await upsertContacts(t1, 'atlas', N.phoneNumberId, [identity(low)]);
        const t2 = handle.db.transaction().execute((trx) => upsertContacts(trx, 'atlas', N.phoneNumberId, both(identity(low), identity(high))));
        await waitForLockWait();
        const ofT1 = await upsertContacts(t1, 'atlas', N.phoneNumberId, [identity(high)]);
        await t1.commit().execute();
        const ofT2 = await t2;
        expect(ofT2.get(high)).toBe(ofT1.get(high));
        // Threads: the same, by contact id.
        const [first, second] = [ofT2.get(low)!, ofT2.get(high)!].sort();
        await upsertThreads(t3, 'atlas', N.phoneNumberId, [first!]);
        const t4 = handle.db.transaction().execute((trx) => upsertThreads(trx, 'atlas', N.phoneNumberId, both(first!, second!)));
        await waitForLockWait();
        const threadsOfT3 = await upsertThreads(t3, 'atlas', N.phoneNumberId, [second!]);
        await t3.commit().execute();
        expect((await t4).get(second!)).toBe(threadsOfT3.get(second!));
      } finally {
        for (const t of [t1, t3]) if (!t.isCommitted && !t.isRolledBack) await t.rollback().execute();
      }
    }
  });
  it('a declined history sync is recorded with Meta’s errors, on a number it makes known', async () => {
    const N = numberRef();
    await apply(P.historyDeclined(N));
    const sync = await handle.db.selectFrom('sync_state').select(['history_status', 'history_error']).where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();
    expect(sync.history_status).toBe('declined');
    expect(sync.history_error).toEqual([expect.objectContaining({ code: 2593109, title: 'History sync is turned off by the business from the WhatsApp Business App' })]);
    expect(await handle.db.selectFrom('whatsapp_numbers').select(['tenant_id', 'display_phone_number']).where('phone_number_id', '=', N.phoneNumberId).execute()).toEqual([{ tenant_id: 'atlas', display_phone_number: null }]);
  });

  it('contact sync: the phone book’s names on the contact, a removal kept apart, older items never over newer ones; the sync counted', async () => {
    const N = numberRef();
    const W = '212611000081';
    const contact = async () =>
      handle.db.selectFrom('contacts').select(['wa_id', 'phone_book_name', 'phone_book_first_name', 'phone_book_removed_at', 'phone_book_updated_at']).where('phone_number_id', '=', N.phoneNumberId).execute();
    const sync = async () => handle.db.selectFrom('sync_state').select(['contacts_status', 'contacts_count', 'contacts_last_at']).where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();
    const added = await apply(P.contactSync(N, [{ action: 'add', phone: W, fullName: 'Youssef Benali', firstName: 'Youssef', at: at(10) }]));
    expect(added.contactsSynced).toBe(1);
    expect(await contact()).toEqual([{ wa_id: W, phone_book_name: 'Youssef Benali', phone_book_first_name: 'Youssef', phone_book_removed_at: null, phone_book_updated_at: new Date(at(10)) }]);
    expect(await sync()).toEqual({ contacts_status: 'receiving', contacts_count: 1, contacts_last_at: new Date(at(10)) });
    // An older removal arrives late: ignored.
    await apply(P.contactSync(N, [{ action: 'remove', phone: W, at: at(5) }]));
    expect((await contact())[0]).toMatchObject({ phone_book_removed_at: null, phone_book_updated_at: new Date(at(10)) });
    // A newer removal: the names stay, the removal is recorded; a removal does not count a contact.
    await apply(P.contactSync(N, [{ action: 'remove', phone: W, at: at(20) }]));
    expect(await contact()).toEqual([{ wa_id: W, phone_book_name: 'Youssef Benali', phone_book_first_name: 'Youssef', phone_book_removed_at: new Date(at(20)), phone_book_updated_at: new Date(at(20)) }]);
    expect(await sync()).toEqual({ contacts_status: 'receiving', contacts_count: 1, contacts_last_at: new Date(at(20)) });
    // Added back later without names: the names it had are kept, the removal cleared.
    await apply(P.contactSync(N, [{ action: 'add', phone: W, at: at(30) }]));
    expect(await contact()).toEqual([{ wa_id: W, phone_book_name: 'Youssef Benali', phone_book_first_name: 'Youssef', phone_book_removed_at: null, phone_book_updated_at: new Date(at(30)) }]);
    // A late older item does not move the last-sync time back.
    await apply(P.contactSync(N, [{ action: 'add', phone: '212611000082', fullName: 'Salma', at: at(1) }]));
    expect(await sync()).toEqual({ contacts_status: 'receiving', contacts_count: 3, contacts_last_at: new Date(at(30)) });
  });
  it('a handover sets who holds the thread, at the handover’s time, creating contact and thread when new', async () => {
    const N = numberRef();
    const C = '212611000091';
    await apply(M.handover(N, { waId: C }, 'control_taken', at(10)));
    const t = await threadOf(N, C);
    expect([t.control_holder, t.control_event_at]).toEqual(['other_app', new Date(at(10))]);
    await apply(M.handover(N, { waId: C }, 'control_passed', at(20)));
    const back = await threadOf(N, C);
    expect([back.id, back.control_holder, back.control_event_at]).toEqual([t.id, 'coex', new Date(at(20))]);
  });

  it('a BSUID change for a customer CoEx has not met creates them under the new id; for one it knows, renames them', async () => {
    const N = numberRef();
    const first = await apply(M.userChangedUserId(N, { previousUserId: 'MA.a', newUserId: 'MA.b' }, 'wamid.U1', at(1)));
    expect(first.contactsSynced).toBe(1);
    expect(await handle.db.selectFrom('contacts').select(['contact_key', 'user_id']).where('phone_number_id', '=', N.phoneNumberId).execute()).toEqual([{ contact_key: 'bsuid:MA.b', user_id: 'MA.b' }]);
    await apply(M.userChangedUserId(N, { previousUserId: 'MA.b', newUserId: 'MA.c' }, 'wamid.U2', at(2)));
    expect(await handle.db.selectFrom('contacts').select(['user_id']).where('phone_number_id', '=', N.phoneNumberId).execute()).toEqual([{ user_id: 'MA.c' }]);
  });

  it('a contact sync item naming only a BSUID lands on the contact known by phone with that BSUID', async () => {
    const N = numberRef();
    const W = '212611000092';
    await apply(fromContact(N, 'wamid.B1', 1, { wa_id: W, user_id: 'MA.92', profile: { name: 'Nadia' } }));
    await apply({
      entry: [
        {
          id: N.wabaId,
          changes: [
            {
              field: 'smb_app_state_sync',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: N.displayPhoneNumber, phone_number_id: N.phoneNumberId },
                state_sync: [{ type: 'contact', action: 'add', contact: { full_name: 'Nadia Alaoui', user_id: 'MA.92' }, metadata: { timestamp: String(at(5) / 1000) } }],
              },
            },
          ],
        },
      ],
    });
    expect(await handle.db.selectFrom('contacts').select(['contact_key', 'wa_id', 'user_id', 'phone_book_name']).where('phone_number_id', '=', N.phoneNumberId).execute()).toEqual([
      { contact_key: W, wa_id: W, user_id: 'MA.92', phone_book_name: 'Nadia Alaoui' },
    ]);
  });

  it('a pause already running longer, or without end, is kept; a shorter one is extended from the echo', async () => {
    const N = numberRef();
    const C = '212611000093';
    await apply(P.inboundMessage(N, { waId: C }, 'wamid.Q0', at(0), P.text('hi')));
    const id = (await threadOf(N, C)).id;
    const pause = async (until: Date | null) => handle.db.updateTable('threads').set({ bot_state: 'paused', bot_paused_until: until }).where('id', '=', id).execute();
    const echo = async (wamid: string, seconds: number) => {
      await apply(P.echo(N, C, wamid, at(seconds), P.text('from the phone')));
      return (await threadOf(N, C)).bot_paused_until;
    };
    await pause(new Date(at(100_000)));
    expect(await echo('wamid.Q1', 10)).toEqual(new Date(at(100_000)));
    await pause(null);
    expect(await echo('wamid.Q2', 20)).toBeNull();
    await pause(new Date(at(30 + 1800)));
    expect(await echo('wamid.Q3', 30)).toEqual(new Date(at(30 + 1800)));
    await pause(new Date(at(40)));
    expect(await echo('wamid.Q4', 50)).toEqual(new Date(at(50 + 1800)));
    // Active: paused from the echo.
    await handle.db.updateTable('threads').set({ bot_state: 'active', bot_paused_until: new Date(at(100_000)) }).where('id', '=', id).execute();
    expect(await echo('wamid.Q5', 60)).toEqual(new Date(at(60 + 1800)));
  });

  it('writes more than a statement’s worth (1,000) of messages and of statuses in slices, each once; an event the worker cannot read records its delivery', async () => {
    const N = numberRef();
    const messages = Array.from({ length: 1001 }, (_, i) => P.echo(N, CUSTOMER, `wamid.L${i}`, at(i), P.text(`m${i}`)));
    const statuses = Array.from({ length: 1001 }, (_, i) => P.statusUpdate(N, `wamid.L${i}`, 'delivered', at(i + 1), CUSTOMER));
    const outcome = await apply(...messages, ...statuses);
    expect([outcome.messagesInserted, outcome.messagesMerged, outcome.statusesRecorded]).toEqual([1001, 0, 1001]);
    expect(Number((await handle.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).where('phone_number_id', '=', N.phoneNumberId).where('status', '=', 'delivered').executeTakeFirstOrThrow()).n)).toBe(1001);
    const inbox = (await handle.db.insertInto('webhook_inbox').values({ partition_key: N.phoneNumberId, body_sha256: `sha-u-${N.phoneNumberId}`, raw_body: '{}' }).returning('id').executeTakeFirstOrThrow()).id;
    const unknown = await handle.db.transaction().execute((trx) => applyEvents(trx, normalizeChange(N.wabaId, 'some_new_field', { phone_number_id: N.phoneNumberId }), { defaultTenantId: 'atlas', inboxId: inbox }));
    expect(unknown.unknown).toBe(1);
    expect(await handle.db.selectFrom('unknown_events').select(['inbox_id', 'field']).where('inbox_id', '=', inbox).execute()).toEqual([{ inbox_id: inbox, field: 'some_new_field' }]);
  });
  it('reconcileStatuses folds statuses that came first into a message written afterwards (a send’s own message)', async () => {
    const N = numberRef();
    await apply(P.statusUpdate(N, 'wamid.S9', 'delivered', at(5), CUSTOMER));
    // The send path writes its message itself, then folds in what arrived before it.
    await apply(P.echo(N, CUSTOMER, 'wamid.S0', at(0), P.text('seed')));
    const thread = (await handle.db.selectFrom('threads').select(['id', 'tenant_id']).where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow());
    await handle.db.insertInto('messages').values({ tenant_id: thread.tenant_id, phone_number_id: N.phoneNumberId, thread_id: thread.id, wamid: 'wamid.S9', direction: 'outbound', origin: 'api', type: 'text', text: 'sent', provider_timestamp: new Date(at(4)), payload: '{}' }).execute();
    expect(await message(N, 'wamid.S9')).toMatchObject({ status: null });
    await handle.db.transaction().execute((trx) => reconcileStatuses(trx, N.phoneNumberId, ['wamid.S9']));
    expect(await message(N, 'wamid.S9')).toMatchObject({ status: 'delivered', status_at: new Date(at(5)) });
  });
  it('pausing a thread locks the thread only, not its tenant (a tenant being edited does not hold up an echo)', async () => {
    const N = numberRef();
    await apply(P.inboundMessage(N, { waId: '212611000094' }, 'wamid.K0', at(0), P.text('hi')));
    const editing = await handle.db.startTransaction().execute();
    try {
      await sql`select id from tenants where id = 'atlas' for update`.execute(editing);
      const events = normalizeChange(N.wabaId, 'smb_message_echoes', P.echo(N, '212611000094', 'wamid.K1', at(1), P.text('from the phone')).entry[0]!.changes[0]!.value);
      const outcome = await handle.db.transaction().execute(async (trx) => {
        await sql`set local lock_timeout = '2s'`.execute(trx);
        return applyEvents(trx, events, { defaultTenantId: 'atlas' });
      });
      expect(outcome.pausedThreads).toHaveLength(1);
    } finally {
      await editing.rollback().execute();
    }
  });
});
