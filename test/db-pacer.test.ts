import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backends } from './helpers/backends.js';
import { openMigratedDatabase, type MigratedDatabase } from './helpers/migrated-database.js';
import type { DatabaseHandle } from '../core/src/db/index.js';
import { DbPacer, sleep } from '../core/src/outbound/pacer.js';

/**
 * The GCRA pacer's arithmetic, read from its state in the database (the `tat` and the clock of the
 * statement that moved it, `updated_at`), never from wall time: small and quick, so mutation testing
 * (npm run test:mutation, docs/testing.md) can run it once per mutant. test/pacing.test.ts proves the
 * same pacer against the Graph API fake with two senders.
 */
describe.each(backends())('DbPacer arithmetic [%s]', (backend) => {
  let database: MigratedDatabase;
  let handle: DatabaseHandle;
  let pacer: DbPacer;
  let n = 0;
  const number = () => `2065403522${String(++n).padStart(5, '0')}`;
  /** The pacer row of a number, in epoch milliseconds with microseconds (a Date would round them). */
  const state = async (pn: string) => {
    const r = await sql<{ tat: number; at: number }>`select extract(epoch from tat)::float8 * 1000 as tat, extract(epoch from updated_at)::float8 * 1000 as at from send_pacers where phone_number_id = ${pn}`.execute(handle.db);
    return r.rows[0]!;
  };
  // Microsecond timestamps and float8 arithmetic: equal within a hundredth of a millisecond.
  const close = (actual: number, expected: number) => expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThan(0.01);

  beforeAll(async () => {
    database = await openMigratedDatabase(backend);
    handle = database.handle;
    pacer = new DbPacer(handle.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  it('an idle number sends at once and books the next slot one interval later: 1 / (rate × 0.95)', async () => {
    const pn = number();
    expect(await pacer.reserve(pn, { ratePerSecond: 0.1 })).toBe(0);
    const s = await state(pn);
    close(s.tat - s.at, 1000 / (0.1 * 0.95));
    // A custom safety factor.
    const other = number();
    expect(await pacer.reserve(other, { ratePerSecond: 0.1, safety: 0.5 })).toBe(0);
    const o = await state(other);
    close(o.tat - o.at, 1000 / (0.1 * 0.5));
  });

  it('a busy number waits until its booked slot, and books the one after', async () => {
    const pn = number();
    const interval = 1000 / (0.1 * 0.95);
    await pacer.reserve(pn, { ratePerSecond: 0.1 });
    const first = await state(pn);
    const wait = await pacer.reserve(pn, { ratePerSecond: 0.1 });
    const second = await state(pn);
    close(second.tat - first.tat, interval);
    // Allowed at the first booked slot: measured from the clock of the statement that booked it.
    close(wait, first.tat - second.at);
    expect(wait).toBeGreaterThan(0);
  });

  it('a burst lets that many sends go at once after idling, then spaces them', async () => {
    const pn = number();
    const options = { ratePerSecond: 0.1, burst: 3 };
    const interval = 1000 / (0.1 * 0.95);
    const waits = [];
    for (let i = 0; i < 3; i += 1) waits.push(await pacer.reserve(pn, options));
    expect(waits).toEqual([0, 0, 0]);
    const third = await state(pn);
    const fourth = await pacer.reserve(pn, options);
    const after = await state(pn);
    // The fourth send is allowed when the first booked interval has passed: tat − 3 intervals.
    close(fourth, third.tat - 3 * interval - after.at + interval);
    expect(fourth).toBeGreaterThan(interval / 2);
    // burst 1, 0 and none: strictly spaced (no tolerance).
    for (const burst of [1, 0, undefined]) {
      const spaced = number();
      await pacer.reserve(spaced, { ratePerSecond: 0.1, ...(burst === undefined ? {} : { burst }) });
      expect(await pacer.reserve(spaced, { ratePerSecond: 0.1, ...(burst === undefined ? {} : { burst }) }), String(burst)).toBeGreaterThan(interval / 2);
    }
  });

  it('refuses a rate that is not positive', async () => {
    for (const options of [{ ratePerSecond: 0 }, { ratePerSecond: -5 }, { ratePerSecond: Number.NaN }, { ratePerSecond: 20, safety: 0 }]) {
      await expect(pacer.reserve('106540352242922', options), JSON.stringify(options)).rejects.toThrow(`invalid send rate for 106540352242922: ${options.ratePerSecond}`);
    }
    expect(await handle.db.selectFrom('send_pacers').select('phone_number_id').where('phone_number_id', '=', '106540352242922').execute()).toEqual([]);
  });

  it('penalize pushes the booked slot back by the delay (from now when the number was idle)', async () => {
    const pn = number();
    await pacer.reserve(pn, { ratePerSecond: 0.1 });
    const before = await state(pn);
    await pacer.penalize(pn, 2500);
    const after = await state(pn);
    close(after.tat - before.tat, 2500);
    // An idle number: the delay counts from the database's clock.
    const idle = number();
    await pacer.reserve(idle, { ratePerSecond: 1000, safety: 1 });
    await sql`update send_pacers set tat = now() - interval '1 hour' where phone_number_id = ${idle}`.execute(handle.db);
    const wait = await (async () => {
      await pacer.penalize(idle, 60_000);
      return pacer.reserve(idle, { ratePerSecond: 1000, safety: 1 });
    })();
    expect(wait).toBeGreaterThan(50_000);
    expect(wait).toBeLessThanOrEqual(60_000);
  });

  it('acquire waits only when there is a wait, and an abort stops the wait', async () => {
    const stop = new AbortController();
    stop.abort(new Error('stopped'));
    const pn = number();
    // One send a second: the second acquire has about a second to wait (short, so a broken abort
    // fails the test quickly instead of hanging it).
    await expect(pacer.acquire(pn, { ratePerSecond: 1 }, stop.signal)).resolves.toBeUndefined();
    await expect(pacer.acquire(pn, { ratePerSecond: 1 }, stop.signal)).rejects.toThrow('stopped');
  });
});

// A sleep that never settles under a mutant fails here within seconds (not at Stryker's 60-s timeout).
describe('sleep', { timeout: 10_000 }, () => {
  it('resolves after the time, and unhooks itself from the signal', async () => {
    const signal = new AbortController().signal;
    const removed: string[] = [];
    const spy = new Proxy(signal, {
      get: (target, key) => (key === 'removeEventListener' ? (type: string, fn: () => void) => (removed.push(type), target.removeEventListener(type, fn)) : Reflect.get(target, key, target)),
    });
    await expect(sleep(1, spy)).resolves.toBeUndefined();
    expect(removed).toEqual(['abort']);
    await expect(sleep(1)).resolves.toBeUndefined();
  });

  // Waits of a second: a mutant that ignores the abort resolves instead of rejecting, soon.
  it('rejects with the abort reason, before or during the wait; a generic error when there is none', async () => {
    const before = new AbortController();
    before.abort(new Error('before'));
    await expect(sleep(1_000, before.signal)).rejects.toThrow('before');
    const during = new AbortController();
    const pending = sleep(1_000, during.signal);
    during.abort(new Error('during'));
    await expect(pending).rejects.toThrow('during');
    // A signal-like object without a reason (older runtimes).
    const listeners: Array<() => void> = [];
    const bare = { aborted: false, reason: undefined, addEventListener: (_: string, fn: () => void) => listeners.push(fn), removeEventListener: () => undefined } as unknown as AbortSignal;
    const bareWait = sleep(1_000, bare);
    for (const fn of listeners) fn();
    await expect(bareWait).rejects.toThrow('aborted');
    await expect(sleep(1_000, { ...bare, aborted: true } as unknown as AbortSignal)).rejects.toThrow('aborted');
  });

  it('an aborted wait leaves no timer behind (nothing keeps the process up)', async () => {
    vi.useFakeTimers();
    try {
      const stop = new AbortController();
      const pending = sleep(60_000, stop.signal);
      expect(vi.getTimerCount()).toBe(1);
      stop.abort(new Error('stopped'));
      await expect(pending).rejects.toThrow('stopped');
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
