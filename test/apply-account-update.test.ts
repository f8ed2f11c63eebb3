import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import { applyEvents } from '../core/src/store/apply.js';
import { normalizeChange } from '../core/src/whatsapp/normalize.js';

/**
 * apply.ts's account updates on its own database: which numbers a DISABLED_UPDATE REINSTATE
 * reconnects — the disabled ones and those the former reading of DISABLED_UPDATE / ACCOUNT_VIOLATION
 * left 'restricted' (LEGACY_BAN_REASONS), never one restricted or disconnected for another reason.
 * No runtime, so mutation testing (docs/testing.md) can run it per mutant;
 * test/consent-account-signals.test.ts covers account updates through webhooks and a runtime.
 */
describe.each(backends())('store: apply, account updates [%s]', { timeout: 10_000 }, (backend) => {
  let database: MigratedDatabase;
  let handle: DatabaseHandle;
  const WABA = '102290129340777';

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
    await handle.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas' }).execute();
  });
  afterAll(async () => {
    await database?.close();
  });

  it('REINSTATE reconnects the disabled numbers and those restricted by the old reading of DISABLED_UPDATE / ACCOUNT_VIOLATION only', async () => {
    const numbers: Array<[string, string, string | null]> = [
      ['70654035220001', 'disabled', 'DISABLED_UPDATE: account disabled by Meta'],
      ['70654035220002', 'restricted', 'DISABLED_UPDATE'],
      ['70654035220003', 'restricted', 'ACCOUNT_VIOLATION'],
      ['70654035220004', 'restricted', 'ACCOUNT_RESTRICTION: RESTRICTED_BIZ_INITIATED_MESSAGING'],
      ['70654035220005', 'restricted', null],
      ['70654035220006', 'disconnected', 'DISABLED_UPDATE'],
    ];
    for (const [id, status, reason] of numbers) {
      await handle.db.insertInto('whatsapp_numbers').values({ phone_number_id: id, tenant_id: 'atlas', waba_id: WABA, display_phone_number: null, connection_status: status, connection_reason: reason }).execute();
    }
    const events = normalizeChange(WABA, 'account_update', { event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: 'REINSTATE', waba_ban_date: 'April 17, 2025' } });
    await handle.db.transaction().execute((trx) => applyEvents(trx, events, { defaultTenantId: 'atlas' }));
    const after = await handle.db.selectFrom('whatsapp_numbers').select(['phone_number_id', 'connection_status', 'connection_reason']).where('waba_id', '=', WABA).orderBy('phone_number_id').execute();
    const reinstated = 'DISABLED_UPDATE: account reinstated by Meta (April 17, 2025)';
    expect(after.map((r) => [r.phone_number_id, r.connection_status, r.connection_reason])).toEqual([
      ['70654035220001', 'connected', reinstated],
      ['70654035220002', 'connected', reinstated],
      ['70654035220003', 'connected', reinstated],
      ['70654035220004', 'restricted', 'ACCOUNT_RESTRICTION: RESTRICTED_BIZ_INITIATED_MESSAGING'],
      ['70654035220005', 'restricted', null],
      ['70654035220006', 'disconnected', 'DISABLED_UPDATE'],
    ]);
  });
  it('a restriction on adding phone numbers only warns; one on business-initiated messaging holds templates until its end; one on replies stops sending', async () => {
    const waba = '102290129340790';
    await handle.db.insertInto('whatsapp_numbers').values({ phone_number_id: '70654035250001', tenant_id: 'atlas', waba_id: waba, display_phone_number: '212522000011' }).execute();
    const apply = async (value: Record<string, unknown>) => handle.db.transaction().execute((trx) => applyEvents(trx, normalizeChange(waba, 'account_update', value), { defaultTenantId: 'atlas' }));
    const state = async () => handle.db.selectFrom('whatsapp_numbers').select(['connection_status', 'account_warning']).where('waba_id', '=', waba).executeTakeFirstOrThrow();
    const addOnly = await apply({ event: 'ACCOUNT_RESTRICTION', restriction_info: [{ restriction_type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expiration: '2026-12-20T10:00:00+0000' }] });
    expect(addOnly.accountNotices.map((n) => n.effect)).toEqual(['warning']);
    expect(await state()).toEqual({
      connection_status: 'connected',
      account_warning: 'Meta restricted this WhatsApp Business Account (RESTRICTED_ADD_PHONE_NUMBER_ACTION until 2026-12-20T10:00:00+0000), not its messaging: sending continues.',
    });
    // Business-initiated messaging: the number keeps sending replies; templates are held until the end.
    const held = async () => (await handle.db.selectFrom('whatsapp_numbers').select(sql<string | null>`business_initiated_blocked_until::text`.as('until')).where('waba_id', '=', waba).executeTakeFirstOrThrow()).until;
    const business = await apply({ event: 'ACCOUNT_RESTRICTION', restriction_info: [{ restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: '2026-12-20T10:00:00+0000' }] });
    expect(business.accountNotices.map((n) => n.effect)).toEqual(['warning']);
    expect((await state()).connection_status).toBe('connected');
    expect(await held()).toBe('2026-12-20 10:00:00+00');
    await apply({ event: 'ACCOUNT_RESTRICTION', restriction_info: [{ restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING' }] });
    expect(await held()).toBe('infinity');
    // A reconnection lifts the hold; an update about something else (even one that warns) leaves it.
    await apply({ event: 'MM_LITE_TERMS_SIGNED' });
    await apply({ event: 'ACCOUNT_VIOLATION', violation_info: { violation_type: 'SPAM' } });
    expect(await held()).toBe('infinity');
    await apply({ event: 'ACCOUNT_RECONNECTED' });
    expect(await held()).toBeNull();
    const messaging = await apply({ event: 'ACCOUNT_RESTRICTION', restriction_info: [{ restriction_type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING', expiration: '2026-12-20T10:00:00+0000' }] });
    expect(messaging.accountNotices.map((n) => n.effect)).toEqual(['stopped_sending']);
    expect((await state()).connection_status).toBe('restricted');
  });

  it('an update naming a phone number changes that number only, records the event on it and reports a notice per number changed; a warning is set and a reconnection clears it', async () => {
    const waba = '102290129340778';
    const numbers = [
      ['70654035230001', '212522000001'],
      ['70654035230002', '212522000002'],
    ] as const;
    for (const [id, display] of numbers) await handle.db.insertInto('whatsapp_numbers').values({ phone_number_id: id, tenant_id: 'atlas', waba_id: waba, display_phone_number: display }).execute();
    const apply = async (value: Record<string, unknown>) => handle.db.transaction().execute((trx) => applyEvents(trx, normalizeChange(waba, 'account_update', value), { defaultTenantId: 'atlas' }));
    const state = async () =>
      (await handle.db.selectFrom('whatsapp_numbers').select(['phone_number_id', 'connection_status', 'connection_reason', 'account_warning', 'account_warning_at', 'updated_at']).where('waba_id', '=', waba).orderBy('phone_number_id').execute()).map(
        (r) => [r.phone_number_id, r.connection_status, r.connection_reason, r.account_warning, r.account_warning_at !== null],
      );
    const removed = await apply({ phone_number: '212522000001', event: 'PARTNER_REMOVED', disconnection_info: { reason: 'removed in Business Manager', initiated_by: 'USER' } });
    expect(removed.accountEvents).toBe(1);
    expect(removed.accountNotices).toEqual([{ phoneNumberId: '70654035230001', wabaId: waba, event: 'PARTNER_REMOVED', effect: 'stopped_sending', detail: 'removed in Business Manager', warning: null }]);
    expect(await state()).toEqual([
      ['70654035230001', 'disconnected', 'removed in Business Manager', null, false],
      ['70654035230002', 'connected', null, null, false],
    ]);
    const recorded = await handle.db.selectFrom('account_events').select(['phone_number_id', 'event', 'effect', 'reason', 'initiated_by']).where('waba_id', '=', waba).orderBy('id').execute();
    expect(recorded).toEqual([{ phone_number_id: '70654035230001', event: 'PARTNER_REMOVED', effect: 'stopped_sending', reason: 'removed in Business Manager', initiated_by: 'USER' }]);
    // A policy violation without restriction: every number of the WABA warned, sending goes on.
    const violation = await apply({ event: 'ACCOUNT_VIOLATION', violation_info: { violation_type: 'ADULT' } });
    const warning = 'Policy violation reported by Meta (ADULT): sending continues, but repeated violations can restrict or disable the account. Review it in WhatsApp Manager.';
    expect(violation.accountNotices.map((n) => [n.phoneNumberId, n.effect, n.warning])).toEqual([
      ['70654035230001', 'warning', warning],
      ['70654035230002', 'warning', warning],
    ]);
    expect(await state()).toEqual([
      ['70654035230001', 'disconnected', 'removed in Business Manager', warning, true],
      ['70654035230002', 'connected', null, warning, true],
    ]);
    // Reconnected: connected again, and the warning cleared.
    await apply({ phone_number: '212522000001', event: 'ACCOUNT_RECONNECTED' });
    expect((await state())[0]).toEqual(['70654035230001', 'connected', 'ACCOUNT_RECONNECTED', null, false]);
    // An event that changes nothing: recorded, no notice, no number written.
    const before = await handle.db.selectFrom('whatsapp_numbers').select(['phone_number_id', 'updated_at']).where('waba_id', '=', waba).orderBy('phone_number_id').execute();
    const none = await apply({ phone_number: '212522000002', event: 'VERIFIED_ACCOUNT' });
    expect([none.accountEvents, none.accountNotices]).toEqual([1, []]);
    expect(await handle.db.selectFrom('whatsapp_numbers').select(['phone_number_id', 'updated_at']).where('waba_id', '=', waba).orderBy('phone_number_id').execute()).toEqual(before);
    // A REINSTATE for numbers no ban stopped: their status stays, the warning is cleared.
    const reinstate = await apply({ event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: 'REINSTATE' } });
    expect(reinstate.accountNotices.map((n) => n.effect)).toEqual(['resumed_sending', 'resumed_sending']);
    expect(await state()).toEqual([
      ['70654035230001', 'connected', 'ACCOUNT_RECONNECTED', null, false],
      ['70654035230002', 'connected', null, null, false],
    ]);
  });

  it('an update naming a phone number reaches that number even when its WABA was never learned', async () => {
    await handle.db.insertInto('whatsapp_numbers').values({ phone_number_id: '70654035240001', tenant_id: 'atlas', waba_id: null, display_phone_number: '212522000009' }).execute();
    await handle.db.transaction().execute((trx) => applyEvents(trx, normalizeChange('102290129340780', 'account_update', { phone_number: '212522000009', event: 'PARTNER_REMOVED' }), { defaultTenantId: 'atlas' }));
    expect(await handle.db.selectFrom('whatsapp_numbers').select(['connection_status']).where('phone_number_id', '=', '70654035240001').executeTakeFirstOrThrow()).toEqual({ connection_status: 'disconnected' });
  });

  it('an update for a WABA CoEx has no number of is recorded and reported without a number', async () => {
    const waba = '102290129340779';
    const outcome = await handle.db.transaction().execute((trx) => applyEvents(trx, normalizeChange(waba, 'account_update', { event: 'ACCOUNT_DELETED' }), { defaultTenantId: 'atlas' }));
    expect(outcome.accountNotices).toEqual([{ phoneNumberId: null, wabaId: waba, event: 'ACCOUNT_DELETED', effect: 'stopped_sending', detail: null, warning: null }]);
    expect(await handle.db.selectFrom('account_events').select(['phone_number_id', 'event', 'effect']).where('waba_id', '=', waba).execute()).toEqual([{ phone_number_id: null, event: 'ACCOUNT_DELETED', effect: 'stopped_sending' }]);
  });
});
