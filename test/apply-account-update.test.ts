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
});
