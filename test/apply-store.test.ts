import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import { applyEvents, type ApplyOutcome } from '../core/src/store/apply.js';
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
    expect((await apply(edit('wamid.E1', 'wamid.E0', 'second', 20))).mutations).toBe(1);
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
