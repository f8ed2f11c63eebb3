import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import { ensureNumber } from '../core/src/store/apply.js';
import { applyUserIdChange, contactKeyOf, currentUserIds, followUserIdChanges, mergeContacts, NUMBER_LOCK, resolveContactKeys } from '../core/src/store/contact-identity.js';
import type { ContactIdentity } from '../core/src/whatsapp/normalize.js';

/**
 * contact-identity.ts on its own database, rows written and read back directly: phone and BSUID rows
 * resolved, re-keyed and merged (with their threads, messages, bot history, agent turns and campaign
 * recipients), BSUID changes recorded, followed and folded into one contact. No runtime, so mutation
 * testing (docs/testing.md) can run it per mutant; test/contact-identity.test.ts covers the same
 * through webhooks.
 */
describe.each(backends())('store: contact identity [%s]', { timeout: 10_000 }, (backend) => {
  let database: MigratedDatabase;
  let handle: DatabaseHandle;
  let n = 0;
  const AT = Date.UTC(2026, 10, 24, 9, 0, 0);
  const at = (minutes: number) => new Date(AT + minutes * 60_000);
  const OLD = at(-10_000);

  /** A fresh number of tenant `atlas`. */
  const number = async (): Promise<string> => {
    const id = `50654035226${String(++n).padStart(4, '0')}`;
    await ensureNumber(handle.db, id, '212522123456', 'atlas');
    return id;
  };
  const identity = (waId: string | null, userId: string | null): ContactIdentity => ({ waId, userId, username: null, countryCode: null, profileName: null });
  type ContactValues = { waId?: string | null; userId?: string | null; username?: string | null; countryCode?: string | null; profileName?: string | null; phoneBookName?: string | null; phoneBookFirstName?: string | null; createdAt?: Date };
  const contact = async (phoneNumberId: string, key: string, v: ContactValues = {}): Promise<string> => {
    const row = await handle.db
      .insertInto('contacts')
      .values({
        tenant_id: 'atlas',
        phone_number_id: phoneNumberId,
        contact_key: key,
        wa_id: v.waId ?? null,
        user_id: v.userId ?? null,
        username: v.username ?? null,
        country_code: v.countryCode ?? null,
        profile_name: v.profileName ?? null,
        phone_book_name: v.phoneBookName ?? null,
        phone_book_first_name: v.phoneBookFirstName ?? null,
        created_at: v.createdAt ?? OLD,
        updated_at: OLD,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  };
  type ThreadValues = { botState?: string; pausedUntil?: Date | null; customerAt?: Date | null; lastAt?: Date | null; botVersion?: number };
  const thread = async (phoneNumberId: string, contactId: string, v: ThreadValues = {}): Promise<string> => {
    const row = await handle.db
      .insertInto('threads')
      .values({
        tenant_id: 'atlas',
        phone_number_id: phoneNumberId,
        contact_id: contactId,
        bot_state: v.botState ?? 'active',
        bot_paused_until: v.pausedUntil ?? null,
        last_customer_message_at: v.customerAt ?? null,
        last_message_at: v.lastAt ?? null,
        bot_version: String(v.botVersion ?? 0),
        updated_at: OLD,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  };
  const message = async (phoneNumberId: string, threadId: string, wamid: string): Promise<string> =>
    (
      await handle.db
        .insertInto('messages')
        .values({ tenant_id: 'atlas', phone_number_id: phoneNumberId, thread_id: threadId, wamid, direction: 'inbound', origin: 'customer', type: 'text', text: wamid, provider_timestamp: at(0), payload: '{}' })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  const contactsOf = async (phoneNumberId: string) =>
    handle.db.selectFrom('contacts').select(['id', 'contact_key', 'wa_id', 'user_id']).where('phone_number_id', '=', phoneNumberId).orderBy('contact_key').execute();
  const contactRow = async (id: string) => handle.db.selectFrom('contacts').selectAll().where('id', '=', id).executeTakeFirst();
  const threadRow = async (id: string) => handle.db.selectFrom('threads').selectAll().where('id', '=', id).executeTakeFirst();
  const recordChange = async (phoneNumberId: string, previous: string, next: string) =>
    handle.db.insertInto('contact_user_id_changes').values({ phone_number_id: phoneNumberId, previous_user_id: previous, new_user_id: next, provider_timestamp: at(0), wamid: `wamid.C-${previous}` }).execute();
  const change = (phoneNumberId: string, previousUserId: string, newUserId: string) =>
    handle.db.transaction().execute((trx) => applyUserIdChange(trx, { phoneNumberId, previousUserId, newUserId, wamid: `wamid.U-${previousUserId}`, timestamp: at(1) }));

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
    await handle.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas' }).execute();
  });
  afterAll(async () => {
    await database?.close();
  });

  it('contactKeyOf: the phone, else `bsuid:` and the BSUID, else `unknown`', () => {
    expect(contactKeyOf({ waId: '212600000001', userId: 'MA.1' })).toBe('212600000001');
    expect(contactKeyOf({ waId: null, userId: 'MA.1' })).toBe('bsuid:MA.1');
    expect(contactKeyOf({ waId: '', userId: '' })).toBe('unknown');
  });

  describe('resolveContactKeys', () => {
    const resolve = (phoneNumberId: string, identities: ContactIdentity[]) => handle.db.transaction().execute((trx) => resolveContactKeys(trx, phoneNumberId, identities));

    it('identities without a BSUID, or with one no row knows, keep their own keys', async () => {
      const N = await number();
      await contact(N, '212600000001', { waId: '212600000001' });
      expect([...(await resolve(N, [identity('212600000001', null), identity('212600000002', null)]))]).toEqual([
        ['212600000001', '212600000001'],
        ['212600000002', '212600000002'],
      ]);
      expect([...(await resolve(N, [identity(null, 'MA.NEW')]))]).toEqual([['bsuid:MA.NEW', 'bsuid:MA.NEW']]);
    });

    it('a BSUID-only identity resolves to the phone row carrying that BSUID, not to a BSUID-only row', async () => {
      const N = await number();
      await contact(N, '212600000003', { waId: '212600000003', userId: 'MA.3' });
      await contact(N, 'bsuid:MA.4', { userId: 'MA.4' });
      const resolved = await resolve(N, [identity(null, 'MA.3'), identity(null, 'MA.4')]);
      expect([...resolved]).toEqual([
        ['bsuid:MA.3', '212600000003'],
        ['bsuid:MA.4', 'bsuid:MA.4'],
      ]);
      // The same BSUID on another number is another customer.
      const other = await number();
      expect([...(await resolve(other, [identity(null, 'MA.3')]))]).toEqual([['bsuid:MA.3', 'bsuid:MA.3']]);
      // A BSUID-only row and a phone row carrying the same BSUID (two writers at once): the phone row.
      const both = await number();
      await contact(both, 'bsuid:MA.8', { userId: 'MA.8' });
      await contact(both, '212600000008', { waId: '212600000008', userId: 'MA.8' });
      expect([...(await resolve(both, [identity(null, 'MA.8')]))]).toEqual([['bsuid:MA.8', '212600000008']]);
    });

    it('a phone with its BSUID re-keys the BSUID-only row to the phone (no phone row yet)', async () => {
      const N = await number();
      const id = await contact(N, 'bsuid:MA.5', { userId: 'MA.5' });
      // The same BSUID-only row on another number is left alone.
      const other = await number();
      await contact(other, 'bsuid:MA.5', { userId: 'MA.5' });
      const resolved = await resolve(N, [identity(null, 'MA.5'), identity('212600000005', 'MA.5')]);
      expect([...resolved]).toEqual([
        ['bsuid:MA.5', '212600000005'],
        ['212600000005', '212600000005'],
      ]);
      expect(await contactsOf(N)).toEqual([{ id, contact_key: '212600000005', wa_id: '212600000005', user_id: 'MA.5' }]);
      expect((await contactRow(id))!.updated_at.getTime()).toBeGreaterThan(OLD.getTime());
      expect(await contactsOf(other)).toEqual([expect.objectContaining({ contact_key: 'bsuid:MA.5', wa_id: null })]);
    });

    it('a phone with its BSUID merges the BSUID-only row into the phone row', async () => {
      const N = await number();
      const phone = await contact(N, '212600000006', { waId: '212600000006' });
      await contact(N, 'bsuid:MA.6', { userId: 'MA.6', username: 'salma' });
      const resolved = await resolve(N, [identity('212600000006', 'MA.6')]);
      expect([...resolved]).toEqual([
        ['212600000006', '212600000006'],
        ['bsuid:MA.6', '212600000006'],
      ]);
      expect(await contactsOf(N)).toEqual([{ id: phone, contact_key: '212600000006', wa_id: '212600000006', user_id: 'MA.6' }]);
      expect((await contactRow(phone))!.username).toBe('salma');
    });

    it('a phone whose BSUID has no row changes nothing', async () => {
      const N = await number();
      const phone = await contact(N, '212600000007', { waId: '212600000007' });
      expect([...(await resolve(N, [identity('212600000007', 'MA.7')]))]).toEqual([
        ['212600000007', '212600000007'],
        ['bsuid:MA.7', '212600000007'],
      ]);
      expect(await contactsOf(N)).toEqual([{ id: phone, contact_key: '212600000007', wa_id: '212600000007', user_id: null }]);
    });
  });

  describe('mergeContacts', () => {
    const merge = (keepId: string, dropId: string) => handle.db.transaction().execute((trx) => mergeContacts(trx, keepId, dropId));

    it('waits for a lane of the number still writing into the dropped thread (its shared number lock), then moves what it wrote', async () => {
      const N = await number();
      const keep = await contact(N, '212600000090', { waId: '212600000090' });
      const drop = await contact(N, 'bsuid:MA.90', { userId: 'MA.90' });
      const keepThread = await thread(N, keep);
      const dropThread = await thread(N, drop);
      // A history lane of the number: its transaction holds the number's lock shared, as the worker's
      // do, and has written a message into the thread the merge drops, not committed yet.
      let wrote!: () => void;
      const written = new Promise<void>((resolve) => (wrote = resolve));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const lane = handle.db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock_shared(${NUMBER_LOCK}, hashtext(${N}))`.execute(trx);
        await trx.insertInto('messages').values({ tenant_id: 'atlas', phone_number_id: N, thread_id: dropThread, wamid: 'wamid.lane', direction: 'inbound', origin: 'history', type: 'text', text: 'lane', provider_timestamp: at(0), payload: '{}' }).execute();
        wrote();
        await released;
      });
      await written;
      const merging = merge(keep, drop);
      try {
        const first = await Promise.race([merging.then(() => 'merged'), new Promise((resolve) => setTimeout(resolve, 300, 'waiting'))]);
        expect(first).toBe('waiting');
      } finally {
        release();
        await lane;
      }
      // Without the wait, the merge moved the messages it saw, then failed to delete the thread the
      // lane had written into (messages_thread_id_fkey).
      await merging;
      expect(await threadRow(dropThread)).toBeUndefined();
      const moved = await handle.db.selectFrom('messages').select('thread_id').where('phone_number_id', '=', N).where('wamid', '=', 'wamid.lane').executeTakeFirstOrThrow();
      expect(moved.thread_id).toBe(keepThread);
    });

    it('moves the dropped contact’s thread when the kept one has none; fills the kept contact’s empty fields', async () => {
      const N = await number();
      const keep = await contact(N, '212600000010', { waId: '212600000010', profileName: 'Kept', countryCode: 'MA' });
      const drop = await contact(N, 'bsuid:MA.10', { userId: 'MA.10', username: 'salma', countryCode: 'FR', profileName: 'Dropped', phoneBookName: 'Salma B.', phoneBookFirstName: 'Salma' });
      const t = await thread(N, drop, { botState: 'paused', botVersion: 3 });
      await merge(keep, drop);
      const moved = await threadRow(t);
      expect(moved).toMatchObject({ contact_id: keep, bot_state: 'paused', bot_version: '3' });
      expect(moved!.updated_at.getTime()).toBeGreaterThan(OLD.getTime());
      expect(await contactRow(drop)).toBeUndefined();
      const kept = await contactRow(keep);
      expect(kept).toMatchObject({
        contact_key: '212600000010',
        wa_id: '212600000010',
        user_id: 'MA.10',
        username: 'salma',
        country_code: 'MA',
        profile_name: 'Kept',
        phone_book_name: 'Salma B.',
        phone_book_first_name: 'Salma',
      });
      expect(kept!.updated_at.getTime()).toBeGreaterThan(OLD.getTime());
    });

    it('with two threads: everything moves to the kept thread, clocks take the later, a person’s pause on the dropped one holds', async () => {
      const N = await number();
      const keep = await contact(N, '212600000011', { waId: '212600000011' });
      const drop = await contact(N, 'bsuid:MA.11', { userId: 'MA.11' });
      const kt = await thread(N, keep, { botState: 'active', customerAt: at(5), lastAt: at(5), botVersion: 2 });
      const dt = await thread(N, drop, { botState: 'paused', pausedUntil: at(60), customerAt: at(3), lastAt: at(9) });
      const m = await message(N, dt, 'wamid.M11');
      await handle.db.insertInto('bot_events').values({ thread_id: dt, from_state: 'active', to_state: 'paused', cause: 'crm_hubspot_pause', actor: 'rep@atlas.ma' }).execute();
      await handle.db.insertInto('agent_turns').values({ tenant_id: 'atlas', thread_id: dt, trigger_message_id: m, bot_version_at_start: 0 }).execute();
      const campaign = (
        await handle.db.insertInto('campaigns').values({ tenant_id: 'atlas', phone_number_id: N, name: 'c', template_name: 't', template_language: 'fr', source: 'csv' }).returning('id').executeTakeFirstOrThrow()
      ).id;
      await handle.db.insertInto('campaign_recipients').values({ campaign_id: campaign, wa_id: '212600000011', phone: '+212600000011', thread_id: dt }).execute();
      await merge(keep, drop);
      expect(await threadRow(dt)).toBeUndefined();
      const merged = await threadRow(kt);
      expect(merged).toMatchObject({ contact_id: keep, bot_state: 'paused', bot_paused_until: at(60), last_customer_message_at: at(5), last_message_at: at(9), bot_version: '3' });
      expect(merged!.updated_at.getTime()).toBeGreaterThan(OLD.getTime());
      const threadOf = async (table: 'messages' | 'bot_events' | 'agent_turns' | 'campaign_recipients') =>
        (await handle.db.selectFrom(table).select('thread_id').where('thread_id', 'in', [kt, dt]).execute()).map((r) => r.thread_id);
      expect(await threadOf('messages')).toEqual([kt]);
      expect(await threadOf('bot_events')).toEqual([kt]);
      expect(await threadOf('agent_turns')).toEqual([kt]);
      expect(await threadOf('campaign_recipients')).toEqual([kt]);
      expect(await contactRow(drop)).toBeUndefined();
    });

    it('with two threads: the kept thread’s own pause, or two active threads, stay as they are', async () => {
      const N = await number();
      const keep = await contact(N, '212600000012', { waId: '212600000012' });
      const drop = await contact(N, 'bsuid:MA.12', { userId: 'MA.12' });
      const kt = await thread(N, keep, { botState: 'off', customerAt: at(3), lastAt: null });
      await thread(N, drop, { botState: 'paused', pausedUntil: at(60), customerAt: at(5), lastAt: at(5) });
      await merge(keep, drop);
      expect(await threadRow(kt)).toMatchObject({ bot_state: 'off', bot_paused_until: null, last_customer_message_at: at(5), last_message_at: at(5), bot_version: '1' });

      const keep2 = await contact(N, '212600000013', { waId: '212600000013' });
      const drop2 = await contact(N, 'bsuid:MA.13', { userId: 'MA.13' });
      const kt2 = await thread(N, keep2, { botState: 'active', pausedUntil: null });
      await thread(N, drop2, { botState: 'active', pausedUntil: at(60) });
      await merge(keep2, drop2);
      expect(await threadRow(kt2)).toMatchObject({ bot_state: 'active', bot_paused_until: null, bot_version: '1' });
    });

    it('a kept thread alone, or no thread at all, is left as it is; the kept contact’s own values win', async () => {
      const N = await number();
      const keep = await contact(N, '212600000014', { waId: '212600000014', userId: 'MA.14', username: 'kept', countryCode: 'MA', profileName: 'Kept', phoneBookName: 'K', phoneBookFirstName: 'Ke' });
      const drop = await contact(N, 'bsuid:MA.99', { userId: 'MA.99', username: 'other', countryCode: 'FR', profileName: 'Other', phoneBookName: 'O', phoneBookFirstName: 'Ot' });
      const kt = await thread(N, keep, { botState: 'active', botVersion: 4 });
      await merge(keep, drop);
      expect(await threadRow(kt)).toMatchObject({ contact_id: keep, bot_version: '4', updated_at: OLD });
      expect(await contactRow(keep)).toMatchObject({ user_id: 'MA.14', username: 'kept', country_code: 'MA', profile_name: 'Kept', phone_book_name: 'K', phone_book_first_name: 'Ke' });
      const keep2 = await contact(N, '212600000015', { waId: '212600000015' });
      const drop2 = await contact(N, 'bsuid:MA.15', { userId: 'MA.15' });
      await merge(keep2, drop2);
      expect(await contactsOf(N)).toEqual([
        { id: keep, contact_key: '212600000014', wa_id: '212600000014', user_id: 'MA.14' },
        { id: keep2, contact_key: '212600000015', wa_id: '212600000015', user_id: 'MA.15' },
      ]);
    });
  });

  describe('BSUID changes', () => {
    it('currentUserIds follows a chain of changes, at most eight hops, on its own number only', async () => {
      const N = await number();
      for (let i = 0; i < 10; i++) await recordChange(N, `MA.H${i}`, `MA.H${i + 1}`);
      await recordChange(N, 'MA.X', 'MA.Y');
      const other = await number();
      await recordChange(other, 'MA.Y', 'MA.Z');
      const current = await currentUserIds(handle.db, N, ['MA.H0', 'MA.H7', 'MA.X', 'MA.H0', 'MA.NONE']);
      expect([...current]).toEqual([
        ['MA.H0', 'MA.H8'],
        ['MA.H7', 'MA.H10'],
        ['MA.X', 'MA.Y'],
        ['MA.NONE', 'MA.NONE'],
      ]);
    });

    it('followUserIdChanges replaces an old BSUID by the current one, leaves the others as given', async () => {
      const N = await number();
      await recordChange(N, 'MA.F1', 'MA.F2');
      await recordChange(N, 'MA.F2', 'MA.F3');
      const noBsuid = [identity('212600000020', null)];
      expect(await followUserIdChanges(handle.db, N, noBsuid)).toBe(noBsuid);
      const old = { ...identity('212600000021', 'MA.F1'), username: 'salma', profileName: 'Salma' };
      const current = identity(null, 'MA.F3');
      const phoneOnly = identity('212600000022', null);
      const followed = await followUserIdChanges(handle.db, N, [old, current, phoneOnly]);
      expect(followed).toEqual([{ ...old, userId: 'MA.F3' }, current, phoneOnly]);
      expect(followed[1]).toBe(current);
      expect(followed[2]).toBe(phoneOnly);
    });

    it('applyUserIdChange with no contact yet only records the change, once', async () => {
      const N = await number();
      expect(await change(N, 'MA.R1', 'MA.R2')).toBeNull();
      expect(await change(N, 'MA.R1', 'MA.R9')).toBeNull();
      const rows = await handle.db.selectFrom('contact_user_id_changes').select(['previous_user_id', 'new_user_id', 'wamid', 'provider_timestamp']).where('phone_number_id', '=', N).execute();
      expect(rows).toEqual([{ previous_user_id: 'MA.R1', new_user_id: 'MA.R2', wamid: 'wamid.U-MA.R1', provider_timestamp: at(1) }]);
    });

    it('a BSUID-only contact is re-keyed to the new id and its opt-out follows', async () => {
      const N = await number();
      const id = await contact(N, 'bsuid:MA.O1', { userId: 'MA.O1' });
      await handle.db.insertInto('opt_outs').values({ phone_number_id: N, wa_id: 'MA.O1', tenant_id: 'atlas', source: 'keyword', detail: 'STOP', created_at: at(-1) }).execute();
      expect(await change(N, 'MA.O1', 'MA.O2')).toBe(id);
      expect(await contactsOf(N)).toEqual([{ id, contact_key: 'bsuid:MA.O2', wa_id: null, user_id: 'MA.O2' }]);
      expect((await contactRow(id))!.updated_at.getTime()).toBeGreaterThan(OLD.getTime());
      expect(await handle.db.selectFrom('opt_outs').select(['wa_id', 'tenant_id', 'source', 'detail', 'created_at']).where('phone_number_id', '=', N).execute()).toEqual([
        { wa_id: 'MA.O2', tenant_id: 'atlas', source: 'keyword', detail: 'STOP', created_at: at(-1) },
      ]);
    });

    it('a contact with a phone keeps its key and its opt-out (keyed by phone); takes the newest id of the chain', async () => {
      const N = await number();
      const id = await contact(N, '212600000030', { waId: '212600000030', userId: 'MA.P1' });
      await handle.db.insertInto('opt_outs').values({ phone_number_id: N, wa_id: 'MA.P1', tenant_id: 'atlas', source: 'keyword' }).execute();
      // The later change was recorded first (deliveries out of order).
      await recordChange(N, 'MA.P2', 'MA.P3');
      expect(await change(N, 'MA.P1', 'MA.P2')).toBe(id);
      expect(await contactsOf(N)).toEqual([{ id, contact_key: '212600000030', wa_id: '212600000030', user_id: 'MA.P3' }]);
      expect((await handle.db.selectFrom('opt_outs').select('wa_id').where('phone_number_id', '=', N).execute()).map((r) => r.wa_id)).toEqual(['MA.P1']);
    });

    it('folds the contacts of a chain into the one with a phone, else the oldest; never two phones', async () => {
      const N = await number();
      // A message from the new id arrived first and created a second contact.
      const newer = await contact(N, 'bsuid:MA.Q2', { userId: 'MA.Q2', createdAt: at(-2) });
      const phone = await contact(N, '212600000031', { waId: '212600000031', userId: 'MA.Q1', createdAt: at(-1) });
      const older = await contact(N, 'bsuid:MA.Q0', { userId: 'MA.Q0', username: 'q0', createdAt: at(-3) });
      await recordChange(N, 'MA.Q0', 'MA.Q1');
      const otherPhone = await contact(N, '212600000032', { waId: '212600000032', userId: 'MA.Q0', createdAt: at(0) });
      expect(await change(N, 'MA.Q1', 'MA.Q2')).toBe(phone);
      expect(await contactsOf(N)).toEqual([
        { id: phone, contact_key: '212600000031', wa_id: '212600000031', user_id: 'MA.Q2' },
        { id: otherPhone, contact_key: '212600000032', wa_id: '212600000032', user_id: 'MA.Q0' },
      ]);
      expect((await contactRow(phone))!.username).toBe('q0');
      expect(await contactRow(newer)).toBeUndefined();
      expect(await contactRow(older)).toBeUndefined();

      // Without a phone: the oldest (created first, then the smaller id) survives, re-keyed to the newest id.
      const M = await number();
      const second = await contact(M, 'bsuid:MA.S2', { userId: 'MA.S2', createdAt: at(-1) });
      const first = await contact(M, 'bsuid:MA.S1', { userId: 'MA.S1', createdAt: at(-2) });
      const mt = await thread(M, second);
      await handle.db.insertInto('opt_outs').values({ phone_number_id: M, wa_id: 'MA.S1', tenant_id: 'atlas', source: 'keyword' }).execute();
      await handle.db.insertInto('opt_outs').values({ phone_number_id: M, wa_id: 'MA.S2', tenant_id: 'atlas', source: 'keyword' }).execute();
      expect(await change(M, 'MA.S1', 'MA.S2')).toBe(first);
      expect(await contactsOf(M)).toEqual([{ id: first, contact_key: 'bsuid:MA.S2', wa_id: null, user_id: 'MA.S2' }]);
      expect(await threadRow(mt)).toMatchObject({ contact_id: first });
      expect((await handle.db.selectFrom('opt_outs').select('wa_id').where('phone_number_id', '=', M).execute()).map((r) => r.wa_id)).toEqual(['MA.S2']);
    });

    it('an id that changed back and forth, or a chain longer than eight hops, ends (bad data must not hang a delivery)', async () => {
      const N = await number();
      await recordChange(N, 'MA.L2', 'MA.L1');
      const id = await contact(N, 'bsuid:MA.L1', { userId: 'MA.L1' });
      expect(await change(N, 'MA.L1', 'MA.L2')).toBe(id);
      // L1 → L2 → L1 … eight hops end on L1.
      expect(await contactsOf(N)).toEqual([{ id, contact_key: 'bsuid:MA.L1', wa_id: null, user_id: 'MA.L1' }]);

      const M = await number();
      for (let i = 1; i < 12; i++) await recordChange(M, `MA.K${i}`, `MA.K${i + 1}`);
      const near = await contact(M, 'bsuid:MA.K8', { userId: 'MA.K8', createdAt: at(-3) });
      const far = await contact(M, 'bsuid:MA.K9', { userId: 'MA.K9', createdAt: at(-2) });
      const start = await contact(M, 'bsuid:MA.K0', { userId: 'MA.K0', createdAt: at(-1) });
      // From K0, eight hops reach K8 (the id kept), not K9 (another contact, left alone).
      expect(await change(M, 'MA.K0', 'MA.K1')).toBe(near);
      expect(await contactsOf(M)).toEqual([
        { id: near, contact_key: 'bsuid:MA.K8', wa_id: null, user_id: 'MA.K8' },
        { id: far, contact_key: 'bsuid:MA.K9', wa_id: null, user_id: 'MA.K9' },
      ]);
      expect(await contactRow(start)).toBeUndefined();
    });
  });
});
