import { sql, type RawBuilder } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import { recentAgentTurns } from '../core/src/store/agent-turns.js';
import { InvalidCursorError, pageMessages, pageThreads } from '../core/src/store/paging.js';
import { accountStateLines, getAccountState, getSyncState, getThread, isUuid, listMessages, listThreads, type AccountState } from '../core/src/store/queries.js';
import { getTenantProfile, setTenantProfile } from '../core/src/store/tenants.js';

/**
 * The store's read side on its own database, rows written directly and read back through the API's
 * queries: cursor paging (paging.ts: rows that share a millisecond but not a microsecond, equal sort
 * keys broken by id, never-active threads last, cursors refused when tampered with), the thread and
 * message views, filters and limits (queries.ts), a number's sync and account state, the agent's
 * turns (agent-turns.ts) and the tenant's business profile (tenants.ts). No runtime, so
 * mutation testing (docs/testing.md) can run it per mutant.
 */
describe.each(backends())('store: read queries [%s]', { timeout: 10_000 }, (backend) => {
  let database: MigratedDatabase;
  let handle: DatabaseHandle;
  let n = 0;
  const ts = (text: string | null): RawBuilder<Date> | null => (text === null ? null : sql<Date>`${text}::timestamptz`);

  const number = async (phoneNumberId: string, tenantId: string, wabaId: string | null = null) => {
    await handle.db.insertInto('whatsapp_numbers').values({ phone_number_id: phoneNumberId, tenant_id: tenantId, waba_id: wabaId }).execute();
  };
  interface ThreadSpec {
    tenant?: string;
    number: string;
    waId?: string | null;
    userId?: string | null;
    profile?: string | null;
    phoneBook?: string | null;
    phoneBookRemoved?: string | null;
    last?: string | null;
    lastCustomer?: string | null;
  }
  /** A contact and its thread, inserted as given. */
  const thread = async (s: ThreadSpec): Promise<string> => {
    const tenant = s.tenant ?? 'atlas';
    const waId = s.waId === undefined ? `2126000${String(++n).padStart(5, '0')}` : s.waId;
    const contact = await handle.db
      .insertInto('contacts')
      .values({
        tenant_id: tenant,
        phone_number_id: s.number,
        contact_key: waId ?? `user:${s.userId ?? ++n}`,
        wa_id: waId,
        user_id: s.userId ?? null,
        profile_name: s.profile ?? null,
        phone_book_name: s.phoneBook ?? null,
        phone_book_removed_at: ts(s.phoneBookRemoved ?? null),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const row = await handle.db
      .insertInto('threads')
      .values({ tenant_id: tenant, phone_number_id: s.number, contact_id: contact.id, last_message_at: ts(s.last ?? null), last_customer_message_at: ts(s.lastCustomer ?? null) })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  };
  /** A message on a thread, with its provider time and creation time given to the microsecond. */
  const message = async (threadId: string, wamid: string, providerAt: string, createdAt: string, extra: Record<string, unknown> = {}): Promise<string> => {
    const t = await handle.db.selectFrom('threads').select(['tenant_id', 'phone_number_id']).where('id', '=', threadId).executeTakeFirstOrThrow();
    const row = await handle.db
      .insertInto('messages')
      .values({
        tenant_id: t.tenant_id,
        phone_number_id: t.phone_number_id,
        thread_id: threadId,
        wamid,
        direction: 'inbound',
        origin: 'customer',
        type: 'text',
        text: wamid,
        provider_timestamp: sql<Date>`${providerAt}::timestamptz`,
        created_at: sql<Date>`${createdAt}::timestamptz`,
        payload: JSON.stringify({}),
        ...extra,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  };
  const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const byId = (a: string, b: string) => (a < b ? -1 : 1);

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
    await handle.db.insertInto('tenants').values([{ id: 'atlas', name: 'Atlas' }, { id: 'globex', name: 'Globex' }]).execute();
  });
  afterAll(async () => {
    await database?.close();
  });

  describe('paging.ts', () => {
    const NP = '506540352270001';
    let order: string[];
    let messageThread: string;
    let messageOrder: string[];

    beforeAll(async () => {
      await number(NP, 'atlas');
      const a = await thread({ number: NP, last: '2026-11-20 09:00:00.123456+00' });
      const b = await thread({ number: NP, last: '2026-11-20 09:00:00.123455+00' });
      const c = await thread({ number: NP, last: '2026-11-20 08:00:00+00' });
      const d = await thread({ number: NP, last: '2026-11-20 08:00:00+00' });
      const e = await thread({ number: NP, last: '2026-11-20 07:00:00.5+00' });
      const f = await thread({ number: NP, last: null });
      const g = await thread({ number: NP, last: null });
      order = [a, b, ...[c, d].sort(byId), e, ...[f, g].sort(byId)];

      messageThread = a;
      const m1 = await message(a, 'wamid.P1', '2026-11-20 09:00:00.000001+00', '2026-11-20 09:10:00+00');
      const m2 = await message(a, 'wamid.P2', '2026-11-20 09:00:00.000002+00', '2026-11-20 09:05:00+00');
      const m4 = await message(a, 'wamid.P4', '2026-11-20 09:00:01+00', '2026-11-20 09:05:00.000002+00');
      const m3 = await message(a, 'wamid.P3', '2026-11-20 09:00:01+00', '2026-11-20 09:05:00.000001+00');
      const m5 = await message(a, 'wamid.P5', '2026-11-20 09:00:02+00', '2026-11-20 09:05:00+00');
      const m6 = await message(a, 'wamid.P6', '2026-11-20 09:00:02+00', '2026-11-20 09:05:00+00');
      messageOrder = [m1, m2, m3, m4, ...[m5, m6].sort(byId)];
      await message(b, 'wamid.OTHER', '2026-11-20 09:00:00+00', '2026-11-20 09:00:00+00');
    });

    const walkThreads = async (limit: number, filter: { phoneNumberId?: string; waId?: string; userId?: string } = { phoneNumberId: NP }, scope: string | null = 'atlas') => {
      const pages: string[][] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 20; i++) {
        const page = await pageThreads(handle.db, scope, { ...filter, limit, cursor });
        pages.push(page.threads.map((t) => t.id));
        if (page.next_cursor === null) break;
        cursor = page.next_cursor;
      }
      return pages;
    };

    it('threads: most recent first to the microsecond, ties by id, never-active last; every page size serves each thread once', async () => {
      expect(await walkThreads(2)).toEqual([order.slice(0, 2), order.slice(2, 4), order.slice(4, 6), order.slice(6)]);
      expect(await walkThreads(1)).toEqual(order.map((id) => [id]));
      expect(await walkThreads(3)).toEqual([order.slice(0, 3), order.slice(3, 6), order.slice(6)]);
      expect(await walkThreads(6)).toEqual([order.slice(0, 6), order.slice(6)]);
      // A last page that is exactly full has no next cursor.
      expect(await walkThreads(7)).toEqual([order]);
      expect(await walkThreads(8)).toEqual([order]);
    });

    it('threads: the cursor is the last row’s time in microseconds (null for a never-active one) and its id', async () => {
      const first = await pageThreads(handle.db, 'atlas', { phoneNumberId: NP, limit: 1 });
      expect(JSON.parse(Buffer.from(first.next_cursor!, 'base64url').toString('utf8'))).toEqual({ t: String(Date.UTC(2026, 10, 20, 9, 0, 0, 123) * 1000 + 456), id: order[0] });
      const sixth = await pageThreads(handle.db, 'atlas', { phoneNumberId: NP, limit: 6 });
      expect(JSON.parse(Buffer.from(sixth.next_cursor!, 'base64url').toString('utf8'))).toEqual({ t: null, id: order[5] });
      // A page served through a cursor carries the full thread views.
      const next = await pageThreads(handle.db, 'atlas', { phoneNumberId: NP, limit: 1, cursor: first.next_cursor! });
      expect(next.threads).toEqual([expect.objectContaining({ id: order[1], tenant_id: 'atlas', phone_number_id: NP, last_message_at: '2026-11-20T09:00:00.123Z' })]);
    });

    it('threads: filtered by tenant scope (null: every tenant), number, wa_id as typed, user id', async () => {
      const NG = '506540352270002';
      await number(NG, 'globex');
      const other = await thread({ tenant: 'globex', number: NG, waId: '212611112222', userId: 'MA.user.1', last: '2026-11-20 10:00:00+00' });
      expect(await walkThreads(10, { phoneNumberId: NP }, 'globex')).toEqual([[]]);
      expect(await walkThreads(10, { phoneNumberId: NG }, 'globex')).toEqual([[other]]);
      expect(await walkThreads(10, {}, 'globex')).toEqual([[other]]);
      expect(await walkThreads(10, {}, 'atlas')).toEqual([order]);
      expect(await walkThreads(3, {}, null)).toEqual([[other, ...order.slice(0, 2)], order.slice(2, 5), order.slice(5)]);
      expect(await walkThreads(10, { waId: '+212 611-11-2222' }, null)).toEqual([[other]]);
      expect(await walkThreads(10, { userId: 'MA.user.1' }, null)).toEqual([[other]]);
      expect(await walkThreads(10, { userId: 'MA.user.2' }, null)).toEqual([[]]);
      await handle.db.deleteFrom('threads').where('id', '=', other).execute();
    });

    it('messages: oldest first by provider time, then creation time (microseconds), then id; each served once', async () => {
      const walk = async (limit: number) => {
        const pages: string[][] = [];
        let cursor: string | undefined;
        for (let i = 0; i < 20; i++) {
          const page = (await pageMessages(handle.db, 'atlas', messageThread, { limit, cursor }))!;
          pages.push(page.messages.map((m) => m.id));
          if (page.next_cursor === null) break;
          cursor = page.next_cursor;
        }
        return pages;
      };
      expect(await walk(2)).toEqual([messageOrder.slice(0, 2), messageOrder.slice(2, 4), messageOrder.slice(4)]);
      expect(await walk(1)).toEqual(messageOrder.map((id) => [id]));
      expect(await walk(4)).toEqual([messageOrder.slice(0, 4), messageOrder.slice(4)]);
      expect(await walk(6)).toEqual([messageOrder]);
      const first = (await pageMessages(handle.db, null, messageThread, { limit: 1 }))!;
      expect(JSON.parse(Buffer.from(first.next_cursor!, 'base64url').toString('utf8'))).toEqual({
        p: String(Date.UTC(2026, 10, 20, 9, 0, 0) * 1000 + 1),
        c: String(Date.UTC(2026, 10, 20, 9, 10, 0) * 1000),
        id: messageOrder[0],
      });
      // The views, without the sort keys.
      expect(first.messages).toEqual([
        {
          id: messageOrder[0],
          wamid: 'wamid.P1',
          direction: 'inbound',
          origin: 'customer',
          type: 'text',
          text: 'wamid.P1',
          timestamp: '2026-11-20T09:00:00.000Z',
          status: null,
          transcript: null,
          transcript_state: null,
          context_wamid: null,
          edited_at: null,
          revoked: false,
          media: null,
          error: null,
          standby: false,
          creation_type: null,
        },
      ]);
    });

    it('messages: another tenant’s thread or a thread id that is no uuid is null', async () => {
      expect(await pageMessages(handle.db, 'globex', messageThread, { limit: 10 })).toBeNull();
      expect(await pageMessages(handle.db, null, 'not-a-uuid', { limit: 10 })).toBeNull();
      expect(await pageMessages(handle.db, null, '00000000-0000-4000-8000-000000000000', { limit: 10 })).toBeNull();
    });

    it('a cursor that is not one served is refused with InvalidCursorError, before any SQL', async () => {
      const id = order[0]!;
      const bad = [
        'not base64 json',
        cursorOf('just a string'),
        cursorOf({ t: 'x1', id }),
        cursorOf({ t: '1x', id }),
        cursorOf({ t: '', id }),
        cursorOf({ t: '123', id: 'not-a-uuid' }),
        cursorOf({ id }),
      ];
      for (const cursor of bad) {
        const error = await pageThreads(handle.db, 'atlas', { phoneNumberId: NP, limit: 2, cursor }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidCursorError);
        expect(error).toMatchObject({ name: 'InvalidCursorError', message: 'invalid cursor: pass back the next_cursor of the previous page as it was' });
      }
      const badMessages = [
        'not base64 json',
        cursorOf({ p: 'x1', c: '1', id }),
        cursorOf({ p: '1x', c: '1', id }),
        cursorOf({ p: '1', c: 'x1', id }),
        cursorOf({ p: '1', c: '1x', id }),
        cursorOf({ p: '1', c: '', id }),
        cursorOf({ p: '1', c: '1', id: 'nope' }),
        cursorOf({ t: '1', id }),
      ];
      for (const cursor of badMessages) {
        const error = await pageMessages(handle.db, 'atlas', messageThread, { limit: 2, cursor }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidCursorError);
      }
      // Hand-made cursors in the served shape work: a time (many digits) and a never-active one.
      expect((await pageThreads(handle.db, 'atlas', { phoneNumberId: NP, limit: 10, cursor: cursorOf({ t: '1', id: order[0] }) })).threads.map((t) => t.id)).toEqual(order.slice(5));
      expect((await pageMessages(handle.db, 'atlas', messageThread, { limit: 10, cursor: cursorOf({ p: '0', c: '0', id: order[0] }) }))!.messages.map((m) => m.id)).toEqual(messageOrder);
    });
  });

  describe('queries.ts', () => {
    const NQ = '506540352270003';
    const NQ2 = '506540352270004';
    const NX = '506540352270005';
    let t1: string;
    let t2: string;
    let t3: string;
    let t4: string;
    let tm: string;
    const q: Record<string, string> = {};

    beforeAll(async () => {
      await number(NQ, 'atlas', 'W1');
      await number(NQ2, 'atlas', 'W1');
      await number(NX, 'globex');
      t1 = await thread({ number: NQ, waId: '212600000111', userId: 'MA.u1', profile: 'Prof', phoneBook: 'Book', last: '2026-11-20 10:00:00.5+00', lastCustomer: '2026-11-20 09:59:00+00' });
      await handle.db
        .updateTable('threads')
        .set({ bot_state: 'paused', bot_paused_until: new Date('2026-11-20T11:00:00Z'), bot_version: '7', control_holder: 'other_app', control_app_id: '123', control_event_at: new Date('2026-11-20T09:30:00Z') })
        .where('id', '=', t1)
        .execute();
      t2 = await thread({ number: NQ, waId: '212600000222', profile: 'Prof2', phoneBook: 'Book2', phoneBookRemoved: '2026-11-01 00:00:00+00', last: '2026-11-20 09:00:00+00' });
      t3 = await thread({ number: NQ, waId: '212600000333', last: null });
      t4 = await thread({ number: NQ, waId: null, userId: 'MA.u4', last: '2026-11-20 08:00:00+00' });
      tm = t2;
      q.one = await message(tm, 'wamid.Q1', '2026-11-20 09:00:00+00', '2026-11-20 09:00:00+00');
      q.revoked = await message(tm, 'wamid.Q2', '2026-11-20 09:00:01+00', '2026-11-20 09:00:00+00', { revoked_at: new Date('2026-11-20T09:01:00Z'), transcript: 'tx', media_id: 'M0' });
      q.media = await message(tm, 'wamid.Q3', '2026-11-20 09:00:02+00', '2026-11-20 09:00:00+00', {
        direction: 'outbound',
        origin: 'app',
        type: 'audio',
        text: null,
        media_id: 'M1',
        media_mime: 'audio/ogg',
        media_state: 'stored',
        media_voice: true,
        transcript: 'hello',
        transcript_state: 'done',
        edited_at: new Date('2026-11-20T09:02:00Z'),
        status: 'read',
        context_wamid: 'wamid.Q1',
        error: JSON.stringify({ code: 131047 }),
        standby: true,
        creation_type: 'user',
      });
      q.placeholder = await message(tm, 'wamid.Q4', '2026-11-20 09:00:03+00', '2026-11-20 09:00:00+00', { type: 'media_placeholder', text: null });
      q.later = await message(tm, 'wamid.Q5', '2026-11-20 09:00:03+00', '2026-11-20 09:00:01+00');
      await message(t1, 'wamid.QX', '2026-11-20 08:00:00+00', '2026-11-20 08:00:00+00');
    });

    const T1_VIEW = () => ({
      id: t1,
      tenant_id: 'atlas',
      phone_number_id: NQ,
      wa_id: '212600000111',
      user_id: 'MA.u1',
      contact_name: 'Book',
      profile_name: 'Prof',
      phone_book_name: 'Book',
      bot: { state: 'paused', paused_until: '2026-11-20T11:00:00.000Z', version: 7 },
      control: { holder: 'other_app', app_id: '123', since: '2026-11-20T09:30:00.000Z' },
      last_message_at: '2026-11-20T10:00:00.500Z',
      last_customer_message_at: '2026-11-20T09:59:00.000Z',
    });

    it('getThread: the view (phone-book name first, bot and control state, ISO times); another tenant’s or a malformed id is null', async () => {
      expect(await getThread(handle.db, 'atlas', t1)).toEqual(T1_VIEW());
      expect(await getThread(handle.db, null, t1.toUpperCase())).toEqual(T1_VIEW());
      expect(await getThread(handle.db, 'globex', t1)).toBeNull();
      expect(await getThread(handle.db, 'atlas', `${t1}x`)).toBeNull();
      expect(await getThread(handle.db, 'atlas', '00000000-0000-4000-8000-000000000000')).toBeNull();
      // A removed phone-book entry gives way to the profile name, then to the number; no dates: null.
      expect(await getThread(handle.db, 'atlas', t2)).toMatchObject({ contact_name: 'Prof2', profile_name: 'Prof2', phone_book_name: null, last_customer_message_at: null });
      expect(await getThread(handle.db, 'atlas', t3)).toMatchObject({
        contact_name: '212600000333',
        profile_name: null,
        phone_book_name: null,
        last_message_at: null,
        bot: { state: 'active', paused_until: null, version: 0 },
        control: { holder: 'coex', app_id: null, since: null },
      });
      expect(await getThread(handle.db, 'atlas', t4)).toMatchObject({ wa_id: null, user_id: 'MA.u4', contact_name: null });
    });

    it('listThreads: most recent first, never-active last; filters; a limit (100 by default, at most 500)', async () => {
      const ids = async (scope: string | null, filter: Parameters<typeof listThreads>[2]) => (await listThreads(handle.db, scope, filter)).map((t) => t.id);
      expect(await ids('atlas', { phoneNumberId: NQ })).toEqual([t1, t2, t4, t3]);
      expect((await listThreads(handle.db, 'atlas', { phoneNumberId: NQ, limit: 1 }))).toEqual([T1_VIEW()]);
      expect(await ids('atlas', { phoneNumberId: NQ, limit: 3 })).toEqual([t1, t2, t4]);
      expect(await ids('globex', { phoneNumberId: NQ })).toEqual([]);
      expect(await ids(null, { phoneNumberId: NQ })).toEqual([t1, t2, t4, t3]);
      expect(await ids(null, { waId: '+212 600-000-222' })).toEqual([t2]);
      expect(await ids(null, { userId: 'MA.u4' })).toEqual([t4]);
      expect(await ids('atlas', { phoneNumberId: NQ2 })).toEqual([]);
      // No filter: every thread of the tenant (the paging tests' seven and these four).
      expect(await ids('atlas', {})).toHaveLength(11);
      expect(await ids('atlas', { limit: 600 })).toHaveLength(11);
    });

    it('listThreads: without a limit serves 100, and never more than 500', async () => {
      const NB = '506540352270006';
      await number(NB, 'globex');
      const contacts = await handle.db
        .insertInto('contacts')
        .values(Array.from({ length: 501 }, (_, i) => ({ tenant_id: 'globex', phone_number_id: NB, contact_key: `k${i}`, wa_id: `2127${String(i).padStart(8, '0')}` })))
        .returning('id')
        .execute();
      await handle.db.insertInto('threads').values(contacts.map((c) => ({ tenant_id: 'globex', phone_number_id: NB, contact_id: c.id }))).execute();
      expect(await listThreads(handle.db, 'globex', { phoneNumberId: NB })).toHaveLength(100);
      expect(await listThreads(handle.db, 'globex', { phoneNumberId: NB, limit: 501 })).toHaveLength(500);
      expect(await listThreads(handle.db, 'globex', { phoneNumberId: NB, limit: 499 })).toHaveLength(499);
    });

    it('listMessages: oldest first, a revoked message without its text, media as an object, every column in the view', async () => {
      const all = (await listMessages(handle.db, 'atlas', tm))!;
      expect(all.map((m) => m.wamid)).toEqual(['wamid.Q1', 'wamid.Q2', 'wamid.Q3', 'wamid.Q4', 'wamid.Q5']);
      expect(all[1]).toMatchObject({ text: null, transcript: null, revoked: true, media: { id: 'M0', mime_type: null, state: null, voice: false } });
      expect(all[2]).toEqual({
        id: q.media,
        wamid: 'wamid.Q3',
        direction: 'outbound',
        origin: 'app',
        type: 'audio',
        text: null,
        timestamp: '2026-11-20T09:00:02.000Z',
        status: 'read',
        transcript: 'hello',
        transcript_state: 'done',
        context_wamid: 'wamid.Q1',
        edited_at: '2026-11-20T09:02:00.000Z',
        revoked: false,
        media: { id: 'M1', mime_type: 'audio/ogg', state: 'stored', voice: true },
        error: { code: 131047 },
        standby: true,
        creation_type: 'user',
      });
      expect(all[3]).toMatchObject({ type: 'media_placeholder', media: { id: null, mime_type: null, state: null, voice: false } });
      expect(all[0]).toMatchObject({ text: 'wamid.Q1', revoked: false, media: null, edited_at: null });
      expect(all[4]).toMatchObject({ media: null });
    });

    it('listMessages: the first `limit`, or the `latest` most recent still oldest first; another tenant’s thread is null', async () => {
      const wamids = async (limit?: number, options?: { latest?: number }) => (await listMessages(handle.db, 'atlas', tm, limit, options))!.map((m) => m.wamid);
      expect(await wamids(2)).toEqual(['wamid.Q1', 'wamid.Q2']);
      expect(await wamids(undefined, { latest: 2 })).toEqual(['wamid.Q4', 'wamid.Q5']);
      expect(await wamids(2, { latest: 1 })).toEqual(['wamid.Q5']);
      expect(await wamids(1, { latest: 3 })).toEqual(['wamid.Q3', 'wamid.Q4', 'wamid.Q5']);
      expect(await wamids(undefined, {})).toEqual(['wamid.Q1', 'wamid.Q2', 'wamid.Q3', 'wamid.Q4', 'wamid.Q5']);
      expect(await listMessages(handle.db, 'globex', tm)).toBeNull();
      expect(await listMessages(handle.db, null, 'nope')).toBeNull();
      expect((await listMessages(handle.db, null, t1))!.map((m) => m.wamid)).toEqual(['wamid.QX']);
    });

    it('getSyncState: defaults for a number never synced; the stored state, the connection and the history chunks per phase', async () => {
      expect(await getSyncState(handle.db, 'atlas', NQ)).toEqual({
        phone_number_id: NQ,
        display_phone_number: null,
        connection: { status: 'connected', reason: null, changed_at: null, warning: null, warning_at: null, last_app_activity_at: null },
        history: { status: 'not_requested', progress: 0, chunks: 0, messages: 0, phases: [], request_id: null, requested_at: null, completed_at: null, error: null },
        contacts: { status: 'not_requested', count: 0, request_id: null, requested_at: null, last_at: null },
      });
      await handle.db
        .updateTable('whatsapp_numbers')
        .set({
          display_phone_number: '+212 522-123456',
          connection_status: 'disconnected',
          connection_reason: 'ACCOUNT_DELETED',
          connection_changed_at: new Date('2026-11-19T00:00:00Z'),
          account_warning: 'policy',
          account_warning_at: new Date('2026-11-18T00:00:00Z'),
          last_echo_at: new Date('2026-11-17T00:00:00Z'),
        })
        .where('phone_number_id', '=', NQ2)
        .execute();
      await handle.db
        .insertInto('sync_state')
        .values({
          phone_number_id: NQ2,
          history_status: 'in_progress',
          history_request_id: 'req-h',
          history_requested_at: new Date('2026-11-10T00:00:00Z'),
          history_progress: 40,
          history_chunks: 3,
          history_messages: 35,
          history_error: JSON.stringify({ code: 1 }),
          history_completed_at: new Date('2026-11-11T00:00:00Z'),
          contacts_status: 'done',
          contacts_request_id: 'req-c',
          contacts_requested_at: new Date('2026-11-12T00:00:00Z'),
          contacts_count: 12,
          contacts_last_at: new Date('2026-11-13T00:00:00Z'),
        })
        .execute();
      const chunk = (phone: string, hash: string, phase: number, messages: number) => ({ phone_number_id: phone, chunk_hash: hash, phase, chunk_order: 0, progress: 0, thread_count: 1, message_count: messages });
      await handle.db.insertInto('history_chunks').values([chunk(NQ2, 'h1', 1, 5), chunk(NQ2, 'h2', 0, 10), chunk(NQ2, 'h3', 0, 20), chunk(NQ, 'h4', 0, 99)]).execute();
      expect(await getSyncState(handle.db, null, NQ2)).toEqual({
        phone_number_id: NQ2,
        display_phone_number: '+212 522-123456',
        connection: {
          status: 'disconnected',
          reason: 'ACCOUNT_DELETED',
          changed_at: '2026-11-19T00:00:00.000Z',
          warning: 'policy',
          warning_at: '2026-11-18T00:00:00.000Z',
          last_app_activity_at: '2026-11-17T00:00:00.000Z',
        },
        history: {
          status: 'in_progress',
          progress: 40,
          chunks: 3,
          messages: 35,
          phases: [
            { phase: 0, chunks: 2, messages: 30 },
            { phase: 1, chunks: 1, messages: 5 },
          ],
          request_id: 'req-h',
          requested_at: '2026-11-10T00:00:00.000Z',
          completed_at: '2026-11-11T00:00:00.000Z',
          error: { code: 1 },
        },
        contacts: { status: 'done', count: 12, request_id: 'req-c', requested_at: '2026-11-12T00:00:00.000Z', last_at: '2026-11-13T00:00:00.000Z' },
      });
      expect(await getSyncState(handle.db, 'globex', NQ2)).toBeNull();
      expect(await getSyncState(handle.db, null, '999')).toBeNull();
      expect((await getSyncState(handle.db, 'globex', NX))?.phone_number_id).toBe(NX);
    });

    it('getAccountState: the number’s events and its WABA’s own, newest first, `limit` of them; sending only while connected', async () => {
      const ev = (phone: string | null, waba: string, event: string, effect: string | null, detail: string | null = null) => ({
        phone_number_id: phone,
        waba_id: waba,
        event,
        effect,
        detail,
        reason: `${event}-reason`,
        initiated_by: 'meta',
        payload: JSON.stringify({}),
        received_at: new Date('2026-11-15T00:00:00Z'),
      });
      await handle.db.insertInto('account_events').values([ev(NQ, 'W1', 'BANNED', 'stopped_sending', 'ban'), ev(NQ2, 'W1', 'OTHER_NUMBER', 'none'), ev(null, 'W1', 'WABA_WIDE', null), ev(null, 'W2', 'OTHER_WABA', 'none'), ev(NX, 'W9', 'NX_EVENT', 'warning')]).execute();
      const common = { reason: null, initiated_by: 'meta', at: '2026-11-15T00:00:00.000Z' };
      expect(await getAccountState(handle.db, 'atlas', NQ)).toEqual({
        phone_number_id: NQ,
        waba_id: 'W1',
        display_phone_number: null,
        sending: true,
        connection: { status: 'connected', reason: null, changed_at: null },
        warning: null,
        templates_held: null,
        events: [
          { ...common, event: 'WABA_WIDE', effect: 'none', detail: null, reason: 'WABA_WIDE-reason' },
          { ...common, event: 'BANNED', effect: 'stopped_sending', detail: 'ban', reason: 'BANNED-reason' },
        ],
      });
      expect((await getAccountState(handle.db, null, NQ, 1))?.events.map((e) => e.event)).toEqual(['WABA_WIDE']);
      expect(await getAccountState(handle.db, null, NQ2)).toMatchObject({
        sending: false,
        connection: { status: 'disconnected', reason: 'ACCOUNT_DELETED', changed_at: '2026-11-19T00:00:00.000Z' },
        warning: { text: 'policy', at: '2026-11-18T00:00:00.000Z' },
        events: [{ event: 'WABA_WIDE' }, { event: 'OTHER_NUMBER' }],
      });
      // A number with no WABA id: its own events only.
      expect((await getAccountState(handle.db, 'globex', NX))?.events.map((e) => e.event)).toEqual(['NX_EVENT']);
      expect(await getAccountState(handle.db, 'globex', NQ)).toBeNull();
      expect(await getAccountState(handle.db, null, '999')).toBeNull();
    });

    it('accountStateLines: the state line, the warning, one line per event', () => {
      const state = (over: Partial<AccountState>): AccountState => ({
        phone_number_id: '1001',
        waba_id: null,
        display_phone_number: null,
        sending: true,
        connection: { status: 'connected', reason: null, changed_at: null },
        warning: null,
        templates_held: null,
        events: [],
        ...over,
      });
      expect(accountStateLines(state({}))).toEqual(['1001: sending (connected)']);
      expect(
        accountStateLines(
          state({
            display_phone_number: '+212 5',
            sending: false,
            connection: { status: 'restricted', reason: 'SPAM', changed_at: '2026-11-19T00:00:00.000Z' },
            warning: { text: 'be careful', at: '2026-11-18T00:00:00.000Z' },
            events: [
              { event: 'E1', effect: 'warning', detail: 'why', reason: null, initiated_by: null, at: '2026-11-18T00:00:00.000Z' },
              { event: 'E2', effect: 'none', detail: null, reason: null, initiated_by: null, at: null },
            ],
          }),
        ),
      ).toEqual([
        '+212 5: NOT SENDING (restricted: SPAM, since 2026-11-19T00:00:00.000Z)',
        'warning (2026-11-18T00:00:00.000Z): be careful',
        '2026-11-18T00:00:00.000Z\tE1\twarning\twhy',
        '?\tE2\tnone',
      ]);
      expect(accountStateLines(state({ warning: { text: 'w', at: null } }))).toEqual(['1001: sending (connected)', 'warning (time unknown): w']);
    });

    it('isUuid: 8-4-4-4-12 hex digits, any case, nothing around', () => {
      expect(isUuid('0f8fad5b-d9cb-469f-a165-70867728950e')).toBe(true);
      expect(isUuid('0F8FAD5B-D9CB-469F-A165-70867728950E')).toBe(true);
      for (const s of ['x0f8fad5b-d9cb-469f-a165-70867728950e', '0f8fad5b-d9cb-469f-a165-70867728950ex', '0f8fad5-d9cb-469f-a165-70867728950e', '0f8fad5b-d9c-469f-a165-70867728950e', '0f8fad5b-d9cb-469-a165-70867728950e', '0f8fad5b-d9cb-469f-a16-70867728950e', '0f8fad5b-d9cb-469f-a165-70867728950', 'gf8fad5b-d9cb-469f-a165-70867728950e', '0f8fad5bd9cb469fa16570867728950e', '']) {
        expect(isUuid(s)).toBe(false);
      }
    });

    it('recentAgentTurns: newest first (ties by id), `limit` of them, that thread only, times as ISO strings', async () => {
      const turn = (threadId: string, trigger: string, createdAt: string, extra: Record<string, unknown> = {}) =>
        handle.db
          .insertInto('agent_turns')
          .values({ tenant_id: 'atlas', thread_id: threadId, trigger_message_id: trigger, bot_version_at_start: 0, created_at: new Date(createdAt), updated_at: new Date('2026-11-20T12:00:00Z'), ...extra })
          .returning('id')
          .executeTakeFirstOrThrow();
      const a = await turn(tm, q.one!, '2026-11-20T10:00:00Z', { status: 'replied', reason: 'answered', provider: 'offline', reply_message_id: q.media });
      const b = await turn(tm, q.revoked!, '2026-11-20T10:01:00Z');
      const c = await turn(tm, q.media!, '2026-11-20T10:01:00Z');
      const other = await handle.db.selectFrom('messages').select('id').where('wamid', '=', 'wamid.QX').executeTakeFirstOrThrow();
      await turn(t1, other.id, '2026-11-20T11:00:00Z');
      const [first, second] = [b.id, c.id].sort(byId);
      const turns = await recentAgentTurns(handle.db, tm);
      expect(turns.map((t) => t.id)).toEqual([first, second, a.id]);
      expect(turns[2]).toEqual({
        id: a.id,
        trigger_message_id: q.one,
        status: 'replied',
        reason: 'answered',
        provider: 'offline',
        reply_message_id: q.media,
        created_at: '2026-11-20T10:00:00.000Z',
        updated_at: '2026-11-20T12:00:00.000Z',
      });
      expect(turns[0]).toMatchObject({ status: 'pending', reason: null, provider: null, reply_message_id: null });
      expect((await recentAgentTurns(handle.db, tm, 2)).map((t) => t.id)).toEqual([first, second]);
    });

    it('tenant profile: set on a new tenant (named after it), merged into an existing tenant’s settings; read back, null or undefined', async () => {
      const profile = { name: 'Initech', description: 'Printers, 9-5' };
      await setTenantProfile(handle.db, 'initech', profile);
      expect(await handle.db.selectFrom('tenants').select(['name', 'settings']).where('id', '=', 'initech').executeTakeFirstOrThrow()).toEqual({ name: 'Initech', settings: { profile } });
      expect(await getTenantProfile(handle.db, 'initech')).toEqual(profile);
      await handle.db.updateTable('tenants').set({ settings: JSON.stringify({ quiet: 30 }) }).where('id', '=', 'globex').execute();
      expect(await getTenantProfile(handle.db, 'globex')).toBeNull();
      const again = { name: 'Globex Corp', description: 'Everything', instructions: 'Be brief' };
      await setTenantProfile(handle.db, 'globex', again);
      expect(await handle.db.selectFrom('tenants').select(['name', 'settings']).where('id', '=', 'globex').executeTakeFirstOrThrow()).toEqual({ name: 'Globex', settings: { quiet: 30, profile: again } });
      expect(await getTenantProfile(handle.db, 'globex')).toEqual(again);
      expect(await getTenantProfile(handle.db, 'nobody')).toBeUndefined();
      // Settings holding JSON null (the column is jsonb not null, JSON null is a value): no profile.
      await handle.db.insertInto('tenants').values({ id: 'hooli', name: 'Hooli', settings: sql`'null'::jsonb` }).execute();
      expect(await getTenantProfile(handle.db, 'hooli')).toBeNull();
    });
  });
});
