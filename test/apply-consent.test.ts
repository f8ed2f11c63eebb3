import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import { applyEvents, type ApplyOutcome } from '../core/src/store/apply.js';
import { normalizeChange } from '../core/src/whatsapp/normalize.js';
import * as P from '../core/src/whatsapp/payloads.js';

/**
 * apply.ts's 131050 path on its own database: a failed status refusing a marketing message is an
 * opt-out recorded once per refused message (the dedupe key `131050:<wamid>`), and a refusal of
 * another message is kept in the history; one on a number never seen records nothing. No runtime,
 * so mutation testing (docs/testing.md) can run it per mutant; test/apply-store.test.ts covers the
 * opt-out itself.
 */
describe.each(backends())('store: apply, 131050 refusals [%s]', { timeout: 10_000 }, (backend) => {
  let database: MigratedDatabase;
  let handle: DatabaseHandle;
  let n = 0;
  const AT = Date.UTC(2026, 10, 20, 9, 0, 0);
  const CUSTOMER = '212612345678';
  const numberRef = (): P.NumberRef => ({ wabaId: '102290129340398', phoneNumberId: `60654035224${String(++n).padStart(4, '0')}`, displayPhoneNumber: '212522123456' });
  type Payload = { entry: Array<{ id: string; changes: Array<{ field: string; value: unknown }> }> };
  const apply = async (...payloads: Payload[]): Promise<ApplyOutcome> => {
    const events = payloads.flatMap((p) => p.entry.flatMap((e) => e.changes.flatMap((c) => normalizeChange(e.id, c.field, c.value))));
    return handle.db.transaction().execute((trx) => applyEvents(trx, events, { defaultTenantId: 'atlas' }));
  };
  const at = (seconds: number) => AT + seconds * 1000;
  const refused = (N: P.NumberRef, wamid: string, seconds: number) => P.statusUpdate(N, wamid, 'failed', at(seconds), CUSTOMER, { errors: [{ code: 131050, title: 'Unable to deliver: the user has stopped marketing messages' }] });
  const history = async (N: P.NumberRef) =>
    handle.db.selectFrom('opt_out_events').select(['wa_id', 'action', 'source', 'applied', 'dedupe_key', 'signal_at']).where('phone_number_id', '=', N.phoneNumberId).orderBy('id').execute();

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
    await handle.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas' }).execute();
  });
  afterAll(async () => {
    await database?.close();
  });

  it('a 131050 refusal is keyed by the refused message: its redelivery is a duplicate, a refusal of another message is history', async () => {
    const N = numberRef();
    await apply(P.echo(N, CUSTOMER, 'wamid.C1', at(0), P.text('promo 1')));
    await apply(P.echo(N, CUSTOMER, 'wamid.C2', at(5), P.text('promo 2')));
    const first = await apply(refused(N, 'wamid.C1', 10));
    expect(first.consentChanges).toEqual([{ action: 'opt_out', tenantId: 'atlas', phoneNumberId: N.phoneNumberId, waId: CUSTOMER, source: '131050', detail: 'Meta 131050 (status webhook)', messageId: null, threadId: null }]);
    expect(await history(N)).toEqual([{ wa_id: CUSTOMER, action: 'opt_out', source: '131050', applied: true, dedupe_key: '131050:wamid.C1', signal_at: new Date(at(10)) }]);
    // Meta redelivers the same status: nothing new.
    expect((await apply(refused(N, 'wamid.C1', 10))).consentChanges).toEqual([]);
    expect(await history(N)).toHaveLength(1);
    // Another marketing message refused later: same state, kept in the history (not applied).
    expect((await apply(refused(N, 'wamid.C2', 20))).consentChanges).toEqual([]);
    expect(await history(N)).toEqual([
      { wa_id: CUSTOMER, action: 'opt_out', source: '131050', applied: true, dedupe_key: '131050:wamid.C1', signal_at: new Date(at(10)) },
      { wa_id: CUSTOMER, action: 'opt_out', source: '131050', applied: false, dedupe_key: '131050:wamid.C2', signal_at: new Date(at(20)) },
    ]);
  });

  it('a 131050 refusal on a number never seen records nothing and does not fail the batch', async () => {
    const unseen = numberRef();
    const outcome = await apply(refused(unseen, 'wamid.U1', 10));
    expect(outcome.statusesRecorded).toBe(1);
    expect(outcome.consentChanges).toEqual([]);
    expect(await history(unseen)).toEqual([]);
    expect(await handle.db.selectFrom('whatsapp_numbers').select('phone_number_id').where('phone_number_id', '=', unseen.phoneNumberId).execute()).toEqual([]);
  });
  /** A `user_preferences` change in Meta's shape (test/fixtures/meta-webhooks/user_preferences.*.json). */
  const preference = (N: P.NumberRef, who: { waId?: string; userId?: string }, value: 'stop' | 'resume' | 'signup', seconds: number, extra: Record<string, unknown> = {}) => ({
    entry: [
      {
        id: N.wabaId,
        changes: [
          {
            field: 'user_preferences',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: N.displayPhoneNumber, phone_number_id: N.phoneNumberId },
              contacts: [{ profile: { name: 'Youssef' }, ...(who.waId ? { wa_id: who.waId } : {}), ...(who.userId ? { user_id: who.userId } : {}) }],
              user_preferences: [{ ...(who.waId ? { wa_id: who.waId } : {}), ...(who.userId ? { user_id: who.userId } : {}), category: 'marketing_messages', value, timestamp: at(seconds) / 1000, ...extra }],
            },
          },
        ],
      },
    ],
  });

  it('user_preferences: stop, resume and signup are consent signals with their details, each recorded once; a stop is reported as an opt-out change', async () => {
    const N = numberRef();
    const stop = await apply(preference(N, { waId: CUSTOMER }, 'stop', 10, { detail: 'User requested to stop marketing messages' }));
    expect(stop.consentChanges).toEqual([expect.objectContaining({ waId: CUSTOMER })]);
    await apply(preference(N, { waId: CUSTOMER }, 'resume', 20));
    await apply(preference(N, { waId: CUSTOMER }, 'signup', 30, { detail: 'User signed up for marketing messages', signup_id: '889123456789012' }));
    await apply(preference(N, { waId: CUSTOMER }, 'signup', 40));
    // The same signal again: a duplicate.
    await apply(preference(N, { waId: CUSTOMER }, 'stop', 10, { detail: 'User requested to stop marketing messages' }));
    const rows = await handle.db.selectFrom('opt_out_events').select(['wa_id', 'action', 'source', 'detail', 'dedupe_key', 'signal_at']).where('phone_number_id', '=', N.phoneNumberId).orderBy('signal_at').execute();
    const key = (value: string, seconds: number, signup = '') => `user_preferences:${CUSTOMER}:${value}:${at(seconds) / 1000}${signup}`;
    expect(rows).toEqual([
      { wa_id: CUSTOMER, action: 'opt_out', source: 'whatsapp', detail: 'stop: User requested to stop marketing messages', dedupe_key: key('stop', 10), signal_at: new Date(at(10)) },
      { wa_id: CUSTOMER, action: 'opt_in', source: 'whatsapp', detail: 'resume', dedupe_key: key('resume', 20), signal_at: new Date(at(20)) },
      { wa_id: CUSTOMER, action: 'opt_in', source: 'whatsapp', detail: 'signed up (signup 889123456789012): User signed up for marketing messages', dedupe_key: key('signup', 30, ':889123456789012'), signal_at: new Date(at(30)) },
      { wa_id: CUSTOMER, action: 'opt_in', source: 'whatsapp', detail: 'signed up', dedupe_key: key('signup', 40), signal_at: new Date(at(40)) },
    ]);
  });

  it('user_preferences of a customer known only by a BSUID: no phone to apply it to, kept as an unknown event with its delivery', async () => {
    const N = numberRef();
    const events = normalizeChange(N.wabaId, 'user_preferences', preference(N, { userId: 'MA.77' }, 'stop', 10).entry[0]!.changes[0]!.value);
    // Applied as the worker applies one delivery: its inbox row named by `inboxId` alone.
    const inbox = (await handle.db.insertInto('webhook_inbox').values({ partition_key: N.phoneNumberId, body_sha256: `sha-${N.phoneNumberId}`, raw_body: '{}' }).returning('id').executeTakeFirstOrThrow()).id;
    const outcome = await handle.db.transaction().execute((trx) => applyEvents(trx, events, { defaultTenantId: 'atlas', inboxId: inbox }));
    expect(outcome.unknown).toBe(1);
    const [row] = await handle.db.selectFrom('unknown_events').select(['inbox_id', 'phone_number_id', 'field', 'detail', 'payload']).where('phone_number_id', '=', N.phoneNumberId).execute();
    expect(row).toEqual({ inbox_id: inbox, phone_number_id: N.phoneNumberId, field: 'user_preferences', detail: "marketing preference 'stop' for a user known only by user id MA.77: no phone number to apply it to", payload: expect.objectContaining({ user_id: 'MA.77', value: 'stop' }) });
    expect(await handle.db.selectFrom('opt_out_events').select('id').where('phone_number_id', '=', N.phoneNumberId).execute()).toEqual([]);
  });
});
