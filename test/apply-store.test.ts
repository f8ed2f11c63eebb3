import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import { applyEvents, recordWabaIds, type ApplyOutcome } from '../core/src/store/apply.js';
import { normalizeChange } from '../core/src/whatsapp/normalize.js';
import * as P from '../core/src/whatsapp/payloads.js';

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

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
    await handle.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas' }).execute();
  });
  afterAll(async () => {
    await database?.close();
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
    await apply(P.inboundMessage(Z, { waId: CUSTOMER }, 'wamid.Z0', at(0), P.text('hi')));
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
});
