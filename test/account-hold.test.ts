import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import { runCli } from './helpers/server-process.js';
import { liftTemplatesHold } from '../core/src/store/account-hold.js';
import { getAccountState } from '../core/src/store/queries.js';

/**
 * Lifting Meta's hold on business-initiated messaging by hand (Meta can end a restriction early
 * without a webhook): the store function, tenant-scoped, and `coex account <id> --lift-hold` as a
 * real process on the same database. The API route and the campaigns resuming are in
 * consent-account-e2e.test.ts.
 */
describe.each(backends())('lifting a hold on business-initiated messaging [%s]', { timeout: 60_000 }, (backend) => {
  let database: MigratedDatabase;
  let n = 0;
  const number = async (heldUntil: Date | 'infinity' | null, warning: string | null = 'Meta restricted business-initiated messaging: templates and campaigns are held') => {
    const phoneNumberId = `80654035224${String(++n).padStart(4, '0')}`;
    await database.handle.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas' }).onConflict((oc) => oc.doNothing()).execute();
    await database.handle.db
      .insertInto('whatsapp_numbers')
      .values({
        phone_number_id: phoneNumberId,
        tenant_id: 'atlas',
        waba_id: '102290129340398',
        business_initiated_blocked_until: heldUntil === null ? null : heldUntil === 'infinity' ? sql`'infinity'::timestamptz` : heldUntil,
        account_warning: warning,
      })
      .execute();
    return phoneNumberId;
  };

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
  });
  afterAll(async () => {
    await database?.close();
  });

  it('clears the hold and its warning and records who lifted it; nothing held or another tenant’s number is refused', async () => {
    const until = new Date(Date.now() + 7 * 86_400_000);
    const held = await number(until);
    const db = database.handle.db;
    expect(await liftTemplatesHold(db, 'another-tenant', held, 'x')).toEqual({ kind: 'not_found' });
    expect(await liftTemplatesHold(db, null, '999', 'x')).toEqual({ kind: 'not_found' });
    expect(await liftTemplatesHold(db, 'atlas', held, 'amine')).toEqual({ kind: 'lifted', until: until.toISOString() });
    const state = (await getAccountState(db, 'atlas', held))!;
    expect(state).toMatchObject({ templates_held: null, warning: null, sending: true });
    expect(state.events[0]).toMatchObject({ event: 'HOLD_LIFTED', effect: 'resumed_sending', initiated_by: 'amine', detail: `business-initiated messaging hold lifted by hand (Meta's end was ${until.toISOString()})` });
    expect(await liftTemplatesHold(db, 'atlas', held, 'amine')).toEqual({ kind: 'nothing_held' });

    // A hold whose end has passed is no hold; one without an end is.
    const lapsed = await number(new Date(Date.now() - 1000));
    expect(await liftTemplatesHold(db, null, lapsed, 'x')).toEqual({ kind: 'nothing_held' });
    const noEnd = await number('infinity');
    expect(await liftTemplatesHold(db, null, noEnd, 'x')).toEqual({ kind: 'lifted', until: null });
    expect((await getAccountState(db, null, noEnd))!.events[0]).toMatchObject({ detail: 'business-initiated messaging hold lifted by hand (Meta gave no end)' });
  });

  it('coex account <id> --lift-hold, as a process: lifts it, prints the state; a second run says nothing is held', async () => {
    const held = await number(new Date(Date.now() + 86_400_000));
    const dataDir = mkdtempSync(join(tmpdir(), 'coex-account-cli-'));
    try {
      const env = { DATABASE_URL: database.databaseUrl, DATA_DIR: dataDir };
      const first = await runCli(['account', held, '--lift-hold', '--actor', 'ops@atlas'], env);
      expect(first.output).toContain("hold lifted (Meta's end was");
      expect(first.code).toBe(0);
      expect(first.output).toMatch(/HOLD_LIFTED\tresumed_sending\tbusiness-initiated messaging hold lifted by hand/);
      expect(first.output).not.toContain('templates and campaigns held');
      const state = (await getAccountState(database.handle.db, null, held))!;
      expect(state.events[0]).toMatchObject({ event: 'HOLD_LIFTED', initiated_by: 'ops@atlas' });
      const second = await runCli(['account', held, '--lift-hold'], env);
      expect(second.code).not.toBe(0);
      expect(second.output).toContain('nothing is held');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
