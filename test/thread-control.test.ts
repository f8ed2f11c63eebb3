import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import type { ControlHolder } from '../core/src/db/schema.js';
import { applyEvents } from '../core/src/store/apply.js';
import { controlAssignments, controlHolderOf, setControl, takeControlAfterSend, type ControlSignal } from '../core/src/store/thread-control.js';
import { normalizeChange } from '../core/src/whatsapp/normalize.js';
import * as P from '../core/src/whatsapp/payloads.js';

/**
 * thread-control.ts on its own database: who holds a thread under Meta's Conversation Routing, from
 * handovers (`setControl`), from the field customer messages arrive on (`controlAssignments()`, the
 * inbox's per-batch thread update) and from a person's send (`takeControlAfterSend`). An older signal
 * never overrides a newer one; losing the thread bumps `bot_version`. No runtime, so mutation testing
 * (docs/testing.md) can run it per mutant.
 */
describe.each(backends())('store: thread control [%s]', { timeout: 10_000 }, (backend) => {
  let database: MigratedDatabase;
  let handle: DatabaseHandle;
  let n = 0;
  const AT = Date.UTC(2026, 10, 20, 9, 0, 0);
  const at = (seconds: number) => new Date(AT + seconds * 1000);
  const CUSTOMER = '212612345678';
  const UNKNOWN_THREAD = '00000000-0000-4000-8000-000000000000';

  interface State {
    holder: ControlHolder;
    app: string | null;
    eventAt: Date | null;
    botVersion: number;
  }
  /** A fresh thread (a customer message on a new number), then set to the given control state. */
  const thread = async (state: State): Promise<string> => {
    const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: `50654035225${String(++n).padStart(4, '0')}`, displayPhoneNumber: '212522123456' };
    const payload = P.inboundMessage(N, { waId: CUSTOMER }, `wamid.T${n}`, at(-1000), P.text('hello'));
    const events = payload.entry.flatMap((e) => e.changes.flatMap((c) => normalizeChange(e.id, c.field, c.value)));
    await handle.db.transaction().execute((trx) => applyEvents(trx, events, { defaultTenantId: 'atlas' }));
    const { id } = await handle.db.selectFrom('threads').select('id').where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();
    await handle.db
      .updateTable('threads')
      .set({ control_holder: state.holder, control_app_id: state.app, control_event_at: state.eventAt, bot_version: String(state.botVersion), updated_at: at(-5000) })
      .where('id', '=', id)
      .execute();
    return id;
  };
  const stateOf = async (id: string): Promise<State & { updatedAt: Date }> => {
    const r = await handle.db.selectFrom('threads').select(['control_holder', 'control_app_id', 'control_event_at', 'bot_version', 'updated_at']).where('id', '=', id).executeTakeFirstOrThrow();
    return { holder: r.control_holder, app: r.control_app_id, eventAt: r.control_event_at, botVersion: Number(r.bot_version), updatedAt: r.updated_at };
  };
  const control = async (id: string) => {
    const { updatedAt: _, ...rest } = await stateOf(id);
    return rest;
  };
  /** The inbox's per-batch update, reduced to control: one row (thread, signal, time) per thread. */
  const assign = async (rows: Array<[string, 'coex' | 'elsewhere' | null, Date | null]>) => {
    const values = rows.map(([id, signal, time]) => sql`(${id}::uuid, ${signal}::text, ${time}::timestamptz)`);
    await sql`update threads t set ${controlAssignments()} from (values ${sql.join(values)}) as v(id, signal, control_at) where t.id = v.id`.execute(handle.db);
  };

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
    await handle.db.insertInto('tenants').values({ id: 'atlas', name: 'Atlas' }).execute();
  });
  afterAll(async () => {
    await database?.close();
  });

  describe('setControl (a handover, a send)', () => {
    const set = (id: string, signal: ControlSignal, time: Date, appId?: string | null) => handle.db.transaction().execute((trx) => setControl(trx, id, signal, time, appId));

    it('`elsewhere` takes the thread from CoEx to Meta’s agent, drops the app id and bumps bot_version', async () => {
      const id = await thread({ holder: 'coex', app: 'stale-app', eventAt: at(0), botVersion: 3 });
      await set(id, 'elsewhere', at(10));
      expect(await control(id)).toEqual({ holder: 'meta_agent', app: null, eventAt: at(10), botVersion: 4 });
      expect((await stateOf(id)).updatedAt.getTime()).toBeGreaterThan(at(-5000).getTime());
    });

    it('`elsewhere` keeps a known other holder and its app id; bot_version stays (CoEx did not hold it)', async () => {
      const id = await thread({ holder: 'other_app', app: '4455667788', eventAt: at(0), botVersion: 3 });
      await set(id, 'elsewhere', at(10), 'ignored-app');
      expect(await control(id)).toEqual({ holder: 'other_app', app: '4455667788', eventAt: at(10), botVersion: 3 });
      const meta = await thread({ holder: 'meta_agent', app: null, eventAt: null, botVersion: 2 });
      await set(meta, 'elsewhere', at(10));
      expect(await control(meta)).toEqual({ holder: 'meta_agent', app: null, eventAt: at(10), botVersion: 2 });
    });

    it('a named holder and its app id replace CoEx (bot_version bumped) or another holder (not bumped)', async () => {
      const id = await thread({ holder: 'coex', app: null, eventAt: at(0), botVersion: 7 });
      await set(id, 'other_app', at(10), '4455667788');
      expect(await control(id)).toEqual({ holder: 'other_app', app: '4455667788', eventAt: at(10), botVersion: 8 });
      await set(id, 'meta_agent', at(20));
      expect(await control(id)).toEqual({ holder: 'meta_agent', app: null, eventAt: at(20), botVersion: 8 });
    });

    it('`coex` takes the thread back without a bump, and drops the other app id', async () => {
      const id = await thread({ holder: 'other_app', app: '4455667788', eventAt: at(0), botVersion: 5 });
      await set(id, 'coex', at(10));
      expect(await control(id)).toEqual({ holder: 'coex', app: null, eventAt: at(10), botVersion: 5 });
      // Already CoEx's: still no bump.
      await set(id, 'coex', at(20));
      expect(await control(id)).toEqual({ holder: 'coex', app: null, eventAt: at(20), botVersion: 5 });
    });

    it('an older signal changes nothing; one at the same time, or on a thread that never had one, applies', async () => {
      const id = await thread({ holder: 'coex', app: null, eventAt: at(10), botVersion: 1 });
      await set(id, 'elsewhere', at(9));
      expect(await stateOf(id)).toEqual({ holder: 'coex', app: null, eventAt: at(10), botVersion: 1, updatedAt: at(-5000) });
      await set(id, 'other_app', at(10), '4455667788');
      expect(await control(id)).toEqual({ holder: 'other_app', app: '4455667788', eventAt: at(10), botVersion: 2 });
      const fresh = await thread({ holder: 'coex', app: null, eventAt: null, botVersion: 0 });
      await set(fresh, 'elsewhere', at(-1_000_000));
      expect(await control(fresh)).toEqual({ holder: 'meta_agent', app: null, eventAt: at(-1_000_000), botVersion: 1 });
    });

    it('changes only the thread it names', async () => {
      const id = await thread({ holder: 'coex', app: null, eventAt: null, botVersion: 0 });
      const other = await thread({ holder: 'coex', app: null, eventAt: null, botVersion: 0 });
      await set(id, 'elsewhere', at(10));
      expect(await stateOf(other)).toEqual({ holder: 'coex', app: null, eventAt: null, botVersion: 0, updatedAt: at(-5000) });
    });
  });

  describe('controlAssignments (the inbox’s per-batch thread update)', () => {
    it('`messages` (coex) takes the thread back; `standby` (elsewhere) hands CoEx’s to Meta’s agent with a bump, keeps another holder', async () => {
      const back = await thread({ holder: 'other_app', app: '4455667788', eventAt: at(0), botVersion: 4 });
      const lost = await thread({ holder: 'coex', app: 'stale-app', eventAt: at(0), botVersion: 4 });
      const kept = await thread({ holder: 'other_app', app: '4455667788', eventAt: at(0), botVersion: 4 });
      const metaKept = await thread({ holder: 'meta_agent', app: null, eventAt: at(0), botVersion: 4 });
      const stays = await thread({ holder: 'coex', app: null, eventAt: at(0), botVersion: 4 });
      await assign([
        [back, 'coex', at(10)],
        [lost, 'elsewhere', at(10)],
        [kept, 'elsewhere', at(10)],
        [metaKept, 'elsewhere', at(10)],
        [stays, 'coex', at(10)],
      ]);
      expect(await control(back)).toEqual({ holder: 'coex', app: null, eventAt: at(10), botVersion: 4 });
      expect(await control(lost)).toEqual({ holder: 'meta_agent', app: null, eventAt: at(10), botVersion: 5 });
      expect(await control(kept)).toEqual({ holder: 'other_app', app: '4455667788', eventAt: at(10), botVersion: 4 });
      expect(await control(metaKept)).toEqual({ holder: 'meta_agent', app: null, eventAt: at(10), botVersion: 4 });
      expect(await control(stays)).toEqual({ holder: 'coex', app: null, eventAt: at(10), botVersion: 4 });
    });

    it('no signal, or an older one, changes nothing; the same time or a thread that never had one applies', async () => {
      const none = await thread({ holder: 'coex', app: 'kept-app', eventAt: at(10), botVersion: 2 });
      const older = await thread({ holder: 'coex', app: 'kept-app', eventAt: at(10), botVersion: 2 });
      const olderBack = await thread({ holder: 'other_app', app: '4455667788', eventAt: at(10), botVersion: 2 });
      const same = await thread({ holder: 'coex', app: null, eventAt: at(10), botVersion: 2 });
      const fresh = await thread({ holder: 'coex', app: null, eventAt: null, botVersion: 2 });
      const freshNone = await thread({ holder: 'other_app', app: '4455667788', eventAt: null, botVersion: 2 });
      await assign([
        [none, null, null],
        [older, 'elsewhere', at(9)],
        [olderBack, 'coex', at(9)],
        [same, 'elsewhere', at(10)],
        [fresh, 'elsewhere', at(-1_000_000)],
        [freshNone, null, null],
      ]);
      expect(await control(none)).toEqual({ holder: 'coex', app: 'kept-app', eventAt: at(10), botVersion: 2 });
      expect(await control(older)).toEqual({ holder: 'coex', app: 'kept-app', eventAt: at(10), botVersion: 2 });
      expect(await control(olderBack)).toEqual({ holder: 'other_app', app: '4455667788', eventAt: at(10), botVersion: 2 });
      expect(await control(same)).toEqual({ holder: 'meta_agent', app: null, eventAt: at(10), botVersion: 3 });
      expect(await control(fresh)).toEqual({ holder: 'meta_agent', app: null, eventAt: at(-1_000_000), botVersion: 3 });
      expect(await control(freshNone)).toEqual({ holder: 'other_app', app: '4455667788', eventAt: null, botVersion: 2 });
    });
  });

  describe('takeControlAfterSend, controlHolderOf', () => {
    const message = async (threadId: string, wamid: string, origin: 'api' | 'agent' | 'app', type: string) => {
      const t = await handle.db.selectFrom('threads').select(['tenant_id', 'phone_number_id']).where('id', '=', threadId).executeTakeFirstOrThrow();
      const row = await handle.db
        .insertInto('messages')
        .values({ tenant_id: t.tenant_id, phone_number_id: t.phone_number_id, thread_id: threadId, wamid, direction: 'outbound', origin, type, text: 'hi', provider_timestamp: at(0), payload: '{}' })
        .returning('id')
        .executeTakeFirstOrThrow();
      return row.id;
    };
    const take = (messageId: string, time: Date) => handle.db.transaction().execute((trx) => takeControlAfterSend(trx, messageId, time));

    it('a person’s service message sent through CoEx takes the thread; a template, the agent’s message or an unknown id do not', async () => {
      const id = await thread({ holder: 'meta_agent', app: null, eventAt: at(0), botVersion: 1 });
      await take(await message(id, 'wamid.TPL', 'api', 'template'), at(10));
      await take(await message(id, 'wamid.AGT', 'agent', 'text'), at(11));
      await take(await message(id, 'wamid.APP', 'app', 'text'), at(12));
      await take(UNKNOWN_THREAD, at(13));
      expect(await control(id)).toEqual({ holder: 'meta_agent', app: null, eventAt: at(0), botVersion: 1 });
      await take(await message(id, 'wamid.API', 'api', 'text'), at(20));
      expect(await control(id)).toEqual({ holder: 'coex', app: null, eventAt: at(20), botVersion: 1 });
    });

    it('controlHolderOf reads the holder; null for a thread that does not exist', async () => {
      const id = await thread({ holder: 'other_app', app: '4455667788', eventAt: at(0), botVersion: 0 });
      expect(await controlHolderOf(handle.db, id)).toBe('other_app');
      expect(await controlHolderOf(handle.db, UNKNOWN_THREAD)).toBeNull();
    });
  });
});
