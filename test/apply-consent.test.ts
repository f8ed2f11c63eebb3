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
});
