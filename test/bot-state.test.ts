import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import { applyEvents } from '../core/src/store/apply.js';
import { botHistory, resumeExpiredPauses, setBotState } from '../core/src/store/bot.js';
import { normalizeChange } from '../core/src/whatsapp/normalize.js';
import * as P from '../core/src/whatsapp/payloads.js';

/**
 * bot.ts on its own database: the agent's state on a thread (pause / resume / off from the API or a
 * CRM card, `setBotState`), the end of a human-activity pause (`resumeExpiredPauses`) and the recorded
 * changes (`botHistory`). Every change bumps `bot_version` (an agent reply generated before it can no
 * longer be sent) and writes a `bot_events` row with its cause. No runtime, so mutation testing
 * (docs/testing.md) can run it per mutant.
 */
describe.each(backends())('store: bot state [%s]', { timeout: 10_000 }, (backend) => {
  let database: MigratedDatabase;
  let handle: DatabaseHandle;
  let n = 0;
  const AT = Date.UTC(2026, 10, 20, 9, 0, 0);
  const at = (seconds: number) => new Date(AT + seconds * 1000);
  const UNKNOWN_THREAD = '00000000-0000-4000-8000-000000000000';

  interface State {
    state: string;
    until: Date | null;
    version: number;
  }
  /** A fresh thread of tenant `atlas` (a customer message on a new number), then set to the given bot state. */
  const thread = async (s: State): Promise<string> => {
    const N: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: `50654035226${String(++n).padStart(4, '0')}`, displayPhoneNumber: '212522123456' };
    const payload = P.inboundMessage(N, { waId: '212612345678' }, `wamid.B${n}`, at(-1000), P.text('hello'));
    const events = payload.entry.flatMap((e) => e.changes.flatMap((c) => normalizeChange(e.id, c.field, c.value)));
    await handle.db.transaction().execute((trx) => applyEvents(trx, events, { defaultTenantId: 'atlas' }));
    const { id } = await handle.db.selectFrom('threads').select('id').where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();
    await handle.db
      .updateTable('threads')
      .set({ bot_state: s.state, bot_paused_until: s.until, bot_version: String(s.version), updated_at: at(-5000) })
      .where('id', '=', id)
      .execute();
    await handle.db.deleteFrom('bot_events').where('thread_id', '=', id).execute();
    return id;
  };
  const stateOf = async (id: string) => {
    const r = await handle.db.selectFrom('threads').select(['bot_state', 'bot_paused_until', 'bot_version', 'updated_at']).where('id', '=', id).executeTakeFirstOrThrow();
    return { state: r.bot_state, until: r.bot_paused_until, version: Number(r.bot_version), touched: r.updated_at.getTime() > at(-5000).getTime() };
  };
  const eventsOf = async (id: string) => {
    const rows = await handle.db.selectFrom('bot_events').selectAll().where('thread_id', '=', id).orderBy('id').execute();
    return rows.map((r) => ({ from: r.from_state, to: r.to_state, cause: r.cause, actor: r.actor, until: r.paused_until, seq: r.seq !== null }));
  };

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
    await handle.db.insertInto('tenants').values([{ id: 'atlas', name: 'Atlas' }, { id: 'globex', name: 'Globex' }]).execute();
  });
  afterAll(async () => {
    await database?.close();
  });

  describe('setBotState', () => {
    it('pause: paused until the given time, bot_version bumped, the change recorded with its cause, actor and end', async () => {
      const id = await thread({ state: 'active', until: null, version: 4 });
      const result = await setBotState(handle.db, id, 'atlas', 'pause', 'api', 'agent@atlas', at(3600));
      expect(result).toEqual({ state: 'paused', paused_until: at(3600).toISOString(), version: 5 });
      expect(await stateOf(id)).toEqual({ state: 'paused', until: at(3600), version: 5, touched: true });
      expect(await eventsOf(id)).toEqual([{ from: 'active', to: 'paused', cause: 'api', actor: 'agent@atlas', until: at(3600), seq: true }]);
    });

    it('pause without an end: paused with no end (null), the event too', async () => {
      const id = await thread({ state: 'active', until: null, version: 0 });
      expect(await setBotState(handle.db, id, 'atlas', 'pause', 'crm_card', null)).toEqual({ state: 'paused', paused_until: null, version: 1 });
      expect(await stateOf(id)).toEqual({ state: 'paused', until: null, version: 1, touched: true });
      expect(await eventsOf(id)).toEqual([{ from: 'active', to: 'paused', cause: 'crm_card', actor: null, until: null, seq: true }]);
    });

    it('resume: active, the pause’s end cleared even when one is passed, recorded from the former state', async () => {
      const id = await thread({ state: 'paused', until: at(7200), version: 9 });
      const result = await setBotState(handle.db, id, 'atlas', 'resume', 'api', 'ops', at(3600));
      expect(result).toEqual({ state: 'active', paused_until: null, version: 10 });
      expect(await stateOf(id)).toEqual({ state: 'active', until: null, version: 10, touched: true });
      expect(await eventsOf(id)).toEqual([{ from: 'paused', to: 'active', cause: 'api', actor: 'ops', until: null, seq: true }]);
    });

    it('off: off, no end even when one is passed; each further change bumps again and is recorded', async () => {
      const id = await thread({ state: 'paused', until: at(7200), version: 2 });
      expect(await setBotState(handle.db, id, 'atlas', 'off', 'api', 'ops', at(3600))).toEqual({ state: 'off', paused_until: null, version: 3 });
      expect(await stateOf(id)).toEqual({ state: 'off', until: null, version: 3, touched: true });
      expect(await setBotState(handle.db, id, 'atlas', 'resume', 'api', 'ops')).toEqual({ state: 'active', paused_until: null, version: 4 });
      expect(await eventsOf(id)).toEqual([
        { from: 'paused', to: 'off', cause: 'api', actor: 'ops', until: null, seq: true },
        { from: 'off', to: 'active', cause: 'api', actor: 'ops', until: null, seq: true },
      ]);
    });

    it('another tenant’s thread or an unknown thread: null, nothing changed, nothing recorded', async () => {
      const id = await thread({ state: 'active', until: null, version: 6 });
      expect(await setBotState(handle.db, id, 'globex', 'pause', 'api', 'intruder', at(3600))).toBeNull();
      expect(await setBotState(handle.db, UNKNOWN_THREAD, 'atlas', 'off', 'api', 'ops')).toBeNull();
      expect(await stateOf(id)).toEqual({ state: 'active', until: null, version: 6, touched: false });
      expect(await eventsOf(id)).toEqual([]);
      expect(await handle.db.selectFrom('bot_events').select('id').where('thread_id', '=', UNKNOWN_THREAD).execute()).toEqual([]);
    });
  });

  describe('botHistory', () => {
    it('newest first, `limit` of them, times as ISO strings (a pause’s end or null)', async () => {
      const id = await thread({ state: 'active', until: null, version: 0 });
      await setBotState(handle.db, id, 'atlas', 'pause', 'api', 'a', at(60));
      await setBotState(handle.db, id, 'atlas', 'off', 'crm_card', null);
      await setBotState(handle.db, id, 'atlas', 'resume', 'api', 'b');
      const stamps = await handle.db.selectFrom('bot_events').select('at').where('thread_id', '=', id).orderBy('id', 'desc').execute();
      const iso = stamps.map((s) => s.at.toISOString());
      expect(await botHistory(handle.db, id)).toEqual([
        { from: 'off', to: 'active', cause: 'api', actor: 'b', paused_until: null, at: iso[0] },
        { from: 'paused', to: 'off', cause: 'crm_card', actor: null, paused_until: null, at: iso[1] },
        { from: 'active', to: 'paused', cause: 'api', actor: 'a', paused_until: at(60).toISOString(), at: iso[2] },
      ]);
      expect((await botHistory(handle.db, id, 2)).map((e) => e.to)).toEqual(['active', 'off']);
      expect(await botHistory(handle.db, UNKNOWN_THREAD)).toEqual([]);
    });
  });

  describe('resumeExpiredPauses', () => {
    it('resumes exactly the pauses whose end has come (an end equal to now included), bumps them and records the quiet period', async () => {
      // Every thread the earlier tests left paused has no end, or is changed here: start from none.
      await handle.db.updateTable('threads').set({ bot_state: 'off', bot_paused_until: null }).where('bot_state', '=', 'paused').execute();
      const due = await thread({ state: 'paused', until: at(-1), version: 1 });
      const exactly = await thread({ state: 'paused', until: at(0), version: 7 });
      const later = await thread({ state: 'paused', until: at(1), version: 2 });
      const noEnd = await thread({ state: 'paused', until: null, version: 3 });
      const offWithEnd = await thread({ state: 'off', until: at(-60), version: 4 });
      const activeWithEnd = await thread({ state: 'active', until: at(-60), version: 5 });

      expect(await resumeExpiredPauses(handle.db, at(0))).toBe(2);
      expect(await stateOf(due)).toEqual({ state: 'active', until: null, version: 2, touched: true });
      expect(await stateOf(exactly)).toEqual({ state: 'active', until: null, version: 8, touched: true });
      const quiet = { from: 'paused', to: 'active', cause: 'quiet_period_elapsed', actor: null, until: null, seq: true };
      expect(await eventsOf(due)).toEqual([quiet]);
      expect(await eventsOf(exactly)).toEqual([quiet]);
      expect(await stateOf(later)).toEqual({ state: 'paused', until: at(1), version: 2, touched: false });
      expect(await stateOf(noEnd)).toEqual({ state: 'paused', until: null, version: 3, touched: false });
      expect(await stateOf(offWithEnd)).toEqual({ state: 'off', until: at(-60), version: 4, touched: false });
      expect(await stateOf(activeWithEnd)).toEqual({ state: 'active', until: at(-60), version: 5, touched: false });
      for (const id of [later, noEnd, offWithEnd, activeWithEnd]) expect(await eventsOf(id)).toEqual([]);

      // Nothing due: 0, nothing written.
      const before = await handle.db.selectFrom('bot_events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
      expect(await resumeExpiredPauses(handle.db, at(0))).toBe(0);
      const after = await handle.db.selectFrom('bot_events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
      expect(after.n).toBe(before.n);
    });

    it('without a time given, reads the clock: a pause that ended in the past resumes, one ending in ten minutes does not', async () => {
      const past = await thread({ state: 'paused', until: new Date(Date.now() - 60_000), version: 0 });
      const soon = await thread({ state: 'paused', until: new Date(Date.now() + 600_000), version: 0 });
      // `later` of the test above (paused until 2026-11-20) is due by now too when the clock is past it.
      const due = await handle.db.selectFrom('threads').select('id').where('bot_state', '=', 'paused').where('bot_paused_until', '<=', new Date()).execute();
      expect(await resumeExpiredPauses(handle.db)).toBe(due.length);
      expect((await stateOf(past)).state).toBe('active');
      expect((await stateOf(soon)).state).toBe('paused');
    });
  });
});
