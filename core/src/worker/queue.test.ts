import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { DatabaseHandle } from '../db/index.js';
import { createBoss, DEFAULT_MAX_YIELD_LAG_MS, historyLanesOf, IngressLoad, InboxWorker, LATE_LOOK_MS, LATE_SMALL_BACKLOG, MAX_YIELD_MS, yielding, yieldMs } from './queue.js';
import { numbersPerTransaction, type InboxProcessor, type Pace } from './inbox-processor.js';

/**
 * A stand-in processor described by its due numbers (`dueNumbers`, one delivery each) and the
 * groups it applies (`drainMany`).
 */
function standIn(o: { dueNumbers: () => Promise<string[]>; drainMany: (group: string[], maxRows: number | undefined, pace: Pace) => Promise<number> }): InboxProcessor {
  return {
    pendingWork: async () => (await o.dueNumbers()).map((partitionKey) => ({ partitionKey, pending: 1 })),
    drainMany: o.drainMany,
  } as unknown as InboxProcessor;
}

/** The worker's pacing against acknowledgements, without a database (test/worker-*.test.ts run the worker). */
describe('inbox worker pacing', () => {
  it('waits three times as long as the last transaction took while deliveries are being acknowledged, at most MAX_YIELD_MS', () => {
    expect(MAX_YIELD_MS).toBe(100);
    expect(DEFAULT_MAX_YIELD_LAG_MS).toBe(3_000);
    const busy = { ingressBusy: true, behindMs: 500, maxLagMs: 3_000 };
    expect(yieldMs({ ...busy, elapsedMs: 10 })).toBe(30);
    expect(yieldMs({ ...busy, elapsedMs: 33 })).toBe(99);
    expect(yieldMs({ ...busy, elapsedMs: 80 })).toBe(100);
    expect(yielding(busy)).toBe(true);
    // Nothing to yield to: no wait.
    expect(yieldMs({ ...busy, ingressBusy: false, elapsedMs: 10 })).toBe(0);
    expect(yielding({ ...busy, ingressBusy: false })).toBe(false);
    // Too far behind: the worker applies at full speed, however busy acknowledgements are.
    expect(yieldMs({ ...busy, behindMs: 3_001, elapsedMs: 10 })).toBe(0);
    expect(yieldMs({ ...busy, behindMs: 3_000, elapsedMs: 10 })).toBe(30);
  });

  it('counts requests in flight, and stays busy a moment after the last one began (more are coming)', async () => {
    const load = new IngressLoad();
    expect(load.busy()).toBe(false);
    load.begin();
    load.begin();
    load.end();
    expect(load.busy()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 40));
    // One still in flight, long after it began.
    expect(load.busy()).toBe(true);
    load.end();
    expect(load.busy()).toBe(false);
    load.begin();
    load.end();
    // Ended, but it began a moment ago.
    expect(load.busy()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(load.busy()).toBe(false);
  });

  it('a pass hands each lane a group of numbers and the pacing; the pacing waits while deliveries are being acknowledged', async () => {
    const keys = ['1', '2', '3', '4', '5'];
    let passes = 0;
    const groups: string[][] = [];
    const waited: number[] = [];
    const processor = standIn({
      dueNumbers: async () => (passes++ === 0 ? keys : []),
      drainMany: async (group: string[], _max: number | undefined, pace: Pace) => {
        groups.push(group);
        const started = performance.now();
        await pace(30);
        waited.push(performance.now() - started);
        return group.length;
      },
    });
    const ingress = new IngressLoad();
    ingress.begin();
    // No database on port 1: LISTEN fails and the worker relies on kicks and its poll.
    const worker = new InboxWorker(processor, 'postgres://nobody@127.0.0.1:1/none', pino({ level: 'silent' }), { ingress, concurrency: 2, pollIntervalMs: 60_000 });
    await worker.start();
    while (passes < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    await worker.stop();
    expect(groups.map((g) => g.length).sort()).toEqual([2, 3]);
    expect(groups.flat().sort()).toEqual(keys);
    // 30 ms of work, acknowledgements in flight: 90 ms of waiting or more (timers may fire a little early).
    expect(waited).toHaveLength(2);
    for (const ms of waited) expect(ms).toBeGreaterThanOrEqual(85);
    ingress.end();
  });
});

/** The worker's loop over a recording processor: groups, failures, coalesced wakes, stop. */
describe('inbox worker passes', () => {
  const recorder = () => {
    const logs: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    return { logs, logger };
  };
  const NO_DB = 'postgres://nobody@127.0.0.1:1/none';
  const until = async (done: () => boolean) => {
    for (let i = 0; i < 400 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  };

  it('cuts the due numbers into one group per lane, at most 50 numbers a group, none empty', async () => {
    for (const [count, concurrency, sizes] of [
      [4, 2, [2, 2]],
      [8, undefined, [2, 2, 2, 2]],
      [3, 0, [3]],
      [120, 2, [20, 50, 50]],
    ] as Array<[number, number | undefined, number[]]>) {
      const keys = Array.from({ length: count }, (_, i) => String(i + 1));
      let passes = 0;
      const groups: string[][] = [];
      const processor = standIn({
        dueNumbers: async () => (passes++ === 0 ? keys : []),
        drainMany: async (group: string[]) => {
          groups.push(group);
          return group.length;
        },
      });
      const worker = new InboxWorker(processor, NO_DB, recorder().logger, { pollIntervalMs: 60_000, ...(concurrency === undefined ? {} : { concurrency }) });
      await worker.start();
      await until(() => passes >= 2);
      await worker.stop();
      expect(groups.map((g) => g.length).sort((a, b) => a - b)).toEqual(sizes);
      expect(groups.flat().sort((a, b) => Number(a) - Number(b))).toEqual(keys);
    }
  });

  it('while deliveries are being acknowledged, one lane at a time applies — its transaction, then its wait — the turn going round; all at once without ingress, past maxYieldLagMs, or once stopped', async () => {
    /** Three lanes of two 10-ms transactions each; when each transaction ran. */
    const run = async (options: { ingress?: IngressLoad; maxYieldLagMs?: number }, stopInside = false) => {
      let passes = 0;
      const transactions: Array<[number, number]> = [];
      const transaction = async () => {
        const started = performance.now();
        await new Promise((resolve) => setTimeout(resolve, 10));
        transactions.push([started, performance.now()]);
        return performance.now() - started;
      };
      let worker!: InboxWorker;
      const processor = standIn({
        dueNumbers: async () => (passes++ < 1 ? ['1', '2', '3'] : []),
        drainMany: async (_group: string[], _max: number | undefined, pace: Pace) => {
          if (stopInside) void worker.stop();
          await pace(await transaction());
          await pace(await transaction());
          return 1;
        },
      });
      worker = new InboxWorker(processor, NO_DB, recorder().logger, { pollIntervalMs: 60_000, concurrency: 3, ...options });
      await worker.start();
      await until(() => passes >= (stopInside ? 1 : 2) && transactions.length === 6);
      await worker.stop();
      // Stopped during a pass: it looks no further.
      if (stopInside) expect(passes).toBe(1);
      expect(transactions).toHaveLength(6);
      const overlapping = transactions.some(([s1, e1], i) => transactions.some(([s2, e2], j) => i !== j && s1 < e2 && s2 < e1));
      const span = Math.max(...transactions.map(([, e]) => e)) - Math.min(...transactions.map(([s]) => s));
      return { overlapping, span };
    };
    const ingress = new IngressLoad();
    ingress.begin();
    // One at a time, each followed by a wait three times as long (30 ms) before the next lane's.
    const turns = await run({ ingress });
    expect(turns.overlapping).toBe(false);
    expect(turns.span).toBeGreaterThanOrEqual(6 * 10 + 5 * 30 - 5);
    // Otherwise the lanes' transactions run at once (no turn, no wait: how much at once is up to the
    // machine's load, so only the overlap is asserted).
    for (const free of [await run({}), await run({ ingress, maxYieldLagMs: 0 }), await run({ ingress }, true)]) expect(free.overlapping).toBe(true);
    ingress.end();
  });

  it.each([
    ['a pass', '1'],
    ['a history', '1/h0'],
  ])('%s lane of a stopping worker does not wait after its transaction, even while deliveries are being acknowledged', async (_kind, key) => {
    let paced = -1;
    let worker!: InboxWorker;
    const processor = standIn({
      dueNumbers: async () => (paced < 0 ? [key] : []),
      drainMany: async (_group: string[], _max: number | undefined, pace: Pace) => {
        void worker.stop();
        const started = performance.now();
        // 100 ms of work: the wait after it would be MAX_YIELD_MS.
        await pace(100);
        paced = performance.now() - started;
        return 1;
      },
    });
    const ingress = new IngressLoad();
    ingress.begin();
    // Two lanes: one of them a history lane (with one lane, history goes through the pass).
    worker = new InboxWorker(processor, NO_DB, recorder().logger, { ingress, concurrency: 2, pollIntervalMs: 60_000 });
    await worker.start();
    await until(() => paced >= 0);
    await worker.stop();
    ingress.end();
    expect(paced).toBeLessThan(MAX_YIELD_MS / 2);
  });

  it('a pass that finds every due number held by another worker looks again soon, backing off to the poll, at once after a wake; it ends once nothing is due', async () => {
    const looks: number[] = [];
    let heldElsewhere = true;
    // Held by another worker: its group applies nothing.
    const processor = standIn({
      dueNumbers: async () => (looks.push(performance.now()), heldElsewhere ? ['1'] : []),
      drainMany: async () => 0,
    });
    const worker = new InboxWorker(processor, NO_DB, recorder().logger, { pollIntervalMs: 200 });
    await worker.start();
    await new Promise((resolve) => setTimeout(resolve, 700));
    // 50, 100, 200 ms (25 ms doubled), then the poll's 200 ms: several looks, not one a poll.
    expect(looks.length).toBeGreaterThanOrEqual(4);
    const gaps = looks.slice(1).map((t, i) => t - looks[i]!);
    expect(gaps[0]!).toBeGreaterThanOrEqual(45);
    expect(gaps[0]!).toBeLessThan(150);
    for (const gap of gaps) expect(gap).toBeLessThan(200 + 150);
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(190);
    // Right after a look (the next one is 200 ms away), a wake — a NOTIFY: new deliveries, or the
    // holder moved on — brings one at once.
    const seen = looks.length;
    while (looks.length === seen) await new Promise((resolve) => setTimeout(resolve, 2));
    const after = looks.length;
    worker.kick();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(looks.length).toBe(after + 1);
    expect(looks[after]! - looks[after - 1]!).toBeLessThan(120);
    heldElsewhere = false;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const done = looks.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Nothing due: the pass ended and only the poll looks (every 200 ms).
    expect(looks.length - done).toBeLessThanOrEqual(1);
    await worker.stop();
  });

  /** `count` numbers with `pending` deliveries each. */
  const work = (count: number, pending: number) => Array.from({ length: count }, (_, i) => ({ partitionKey: String(i), pending }));
  /** The groups a worker's first pass makes of 100 numbers with 400 pending each (4 lanes). */
  const groupsOfFirstPass = async (batchSize?: number): Promise<string[][]> => {
    let passes = 0;
    const groups: string[][] = [];
    const processor = {
      ...(batchSize !== undefined ? { batchSize } : {}),
      pendingWork: async () => (passes++ === 0 ? work(100, 400) : []),
      drainMany: async (group: string[]) => (groups.push(group), group.length),
    } as unknown as InboxProcessor;
    const worker = new InboxWorker(processor, NO_DB, recorder().logger, { pollIntervalMs: 60_000 });
    await worker.start();
    await until(() => passes >= 2);
    await worker.stop();
    return groups;
  };

  it('sizes groups by deliveries: numbers with a backlog go a few at a time (a second worker process finds numbers to take), a few deliveries each go up to 50 a group', async () => {
    // About 2,000 deliveries a transaction, each number counted for at most a batch (200).
    expect(numbersPerTransaction(work(100, 400), 25)).toBe(10);
    expect(numbersPerTransaction(work(100, 100), 25)).toBe(20);
    expect(numbersPerTransaction(work(100, 2), 25)).toBe(25);
    expect(numbersPerTransaction(work(3, 1), 50)).toBe(50);
    expect(numbersPerTransaction(work(10, 5_000), 50, 50)).toBe(40);
    expect(numbersPerTransaction([], 50)).toBe(1);
    expect(numbersPerTransaction(work(5, 0), 3)).toBe(3);
    // The worker's groups: 100 numbers with 400 pending each, 4 lanes → groups of 10, not 4 of 25.
    const groups = await groupsOfFirstPass();
    expect(groups.map((g) => g.length)).toEqual(Array.from({ length: 10 }, () => 10));
    expect(new Set(groups.flat()).size).toBe(100);
  });

  it("counts each number for at most the processor's own batch size", async () => {
    // 100 numbers with 400 pending each, 4 lanes; a processor applying 50 deliveries of a number per
    // transaction → each number counts for 50, so a group of 25 numbers (the lane's cap), not 10.
    expect((await groupsOfFirstPass(50)).map((g) => g.length)).toEqual([25, 25, 25, 25]);
  });

  /**
   * '1' bursts: its drain goes on until '2' is applied (or 5 s), in transactions of 10 ms with the
   * pacing between them — or, `blocked`, in one transaction that long (no pacing). '2' (one delivery)
   * and '3' (a backlog of 50) become due once the pass has begun.
   */
  const burstWithNewcomers = async (o: { concurrency: number; blocked: boolean; burstMs?: number; ingress?: IngressLoad; history?: boolean }) => {
    // With `history`, a history partition due from the start, held by its history lane until the burst is over.
    const due = new Map<string, number>(o.history ? [['1', 100], ['9/h0', 1]] : [['1', 100]]);
    const drains: Array<{ group: string[]; maxRows: number | undefined; at: number; burstDraining: boolean }> = [];
    let burstDraining = false;
    let passStarted = 0;
    const processor = {
      pendingWork: async () => [...due].map(([partitionKey, pending]) => ({ partitionKey, pending })),
      drainMany: async (group: string[], maxRows: number | undefined, pace?: Pace) => {
        drains.push({ group, maxRows, at: performance.now() - passStarted, burstDraining });
        if (group.includes('9/h0')) {
          const until = performance.now() + 2_000;
          while (due.has('1') && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
        }
        if (group[0] !== '1') {
          for (const key of group) due.delete(key);
          return group.length;
        }
        burstDraining = true;
        const until = performance.now() + (o.burstMs ?? 5_000);
        while (!drains.some((d) => d.group.includes('2')) && performance.now() < until) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          if (!o.blocked) await pace!(10);
        }
        burstDraining = false;
        due.delete('1');
        return 100;
      },
    } as unknown as InboxProcessor;
    const worker = new InboxWorker(processor, NO_DB, recorder().logger, { concurrency: o.concurrency, pollIntervalMs: 60_000, ...(o.ingress ? { ingress: o.ingress } : {}) });
    passStarted = performance.now();
    await worker.start();
    await until(() => burstDraining);
    due.set('2', 1);
    due.set('3', 50);
    await until(() => !due.has('1'));
    await until(() => due.size === 0);
    await worker.stop();
    return drains;
  };
  const expectNewcomerBesideTheBurst = (drains: Awaited<ReturnType<typeof burstWithNewcomers>>) => {
    // '2' went in while the burst was being drained, alone (a backlog of 50 is a burst: not '3'), at
    // most its small backlog, no sooner than LATE_LOOK_MS into the pass; '3' came with the next pass.
    const late = drains.find((d) => d.group.includes('2'));
    expect(late).toMatchObject({ group: ['2'], maxRows: LATE_SMALL_BACKLOG, burstDraining: true });
    expect(late!.at).toBeGreaterThanOrEqual(LATE_LOOK_MS / 2);
    expect(drains.find((d) => d.group.includes('3'))).toMatchObject({ burstDraining: false });
    expect(drains.filter((d) => d.group.includes('1'))).toHaveLength(1);
  };

  it('a number due while a pass drains a burst is applied between two of its transactions if its backlog is small; a bursting newcomer waits for the next pass', async () => {
    expect(LATE_LOOK_MS).toBe(250);
    expect(LATE_SMALL_BACKLOG).toBe(5);
    // One lane: the burst's, between two of its transactions.
    expectNewcomerBesideTheBurst(await burstWithNewcomers({ concurrency: 1, blocked: false }));
  });

  it('a lane the pass leaves free takes that look: a long transaction of the burst does not hold the newcomer back', async () => {
    expectNewcomerBesideTheBurst(await burstWithNewcomers({ concurrency: 2, blocked: true }));
  });

  it("the late look leaves history partitions to their lanes", async () => {
    const drains = await burstWithNewcomers({ concurrency: 2, blocked: false, history: true });
    expectNewcomerBesideTheBurst(drains);
    expect(drains.filter((d) => d.group.includes('9/h0'))).toHaveLength(1);
  });

  it("while acknowledging, a number of the pass with a small backlog whose lane waits for the turn is applied by the late look", async () => {
    // Three bursting numbers and '2' (one delivery), each a lane of the pass, '2' last in the turn:
    // 100-ms transactions and 100-ms waits, so '2''s turn would come after ~600 ms.
    const due = new Map<string, number>([['1', 100], ['3', 100], ['4', 100], ['2', 1]]);
    const drains: Array<{ group: string[]; maxRows: number | undefined; burstDraining: number }> = [];
    let burstDraining = 0;
    const processor = {
      pendingWork: async () => [...due].map(([partitionKey, pending]) => ({ partitionKey, pending })),
      drainMany: async (group: string[], maxRows: number | undefined, pace?: Pace) => {
        drains.push({ group, maxRows, burstDraining });
        if (group[0] === '2' || maxRows !== undefined) return group.filter((key) => due.delete(key)).length;
        burstDraining += 1;
        const until = performance.now() + 3_000;
        while (due.has('2') && performance.now() < until) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          await pace!(100);
        }
        burstDraining -= 1;
        due.delete(group[0]!);
        return 100;
      },
    } as unknown as InboxProcessor;
    const ingress = new IngressLoad();
    ingress.begin();
    const random = vi.spyOn(Math, 'random').mockReturnValue(0);
    const worker = new InboxWorker(processor, NO_DB, recorder().logger, { ingress, concurrency: 4, pollIntervalMs: 60_000 });
    try {
      await worker.start();
      await until(() => due.size === 0);
    } finally {
      random.mockRestore();
      ingress.end();
      await worker.stop();
    }
    expect(drains.find((d) => d.group.includes('2'))).toMatchObject({ group: ['2'], maxRows: LATE_SMALL_BACKLOG });
    expect(drains.find((d) => d.group.includes('2'))!.burstDraining).toBeGreaterThan(0);
  });

  it('no lane free and none between transactions: the late look waits (the worker never uses more lanes than it has)', async () => {
    const drains = await burstWithNewcomers({ concurrency: 1, blocked: true, burstMs: 4 * LATE_LOOK_MS });
    expect(drains.find((d) => d.group.includes('2'))).toMatchObject({ burstDraining: false });
  });

  it('while deliveries are being acknowledged, a free lane does not take the late look (the lanes at work do, between transactions)', async () => {
    const ingress = new IngressLoad();
    ingress.begin();
    const drains = await burstWithNewcomers({ concurrency: 2, blocked: true, burstMs: 4 * LATE_LOOK_MS, ingress });
    expect(drains.find((d) => d.group.includes('2'))).toMatchObject({ burstDraining: false });
  });

  it('a group that fails is logged and the other lanes go on; a failed pass is logged; LISTEN unavailable is logged', async () => {
    const { logs, logger } = recorder();
    let passes = 0;
    const processor = standIn({
      dueNumbers: async () => {
        passes += 1;
        if (passes === 1) return ['1', '2', '3', '4'];
        if (passes === 2) throw new Error('database went away');
        return [];
      },
      drainMany: async (group: string[]) => {
        if (group[0] === '1' || group[0] === '2') throw new Error('group refused');
        return group.length;
      },
    });
    const worker = new InboxWorker(processor, NO_DB, logger, { concurrency: 2, pollIntervalMs: 60_000 });
    await worker.start();
    await until(() => passes >= 2 && logs.some((l) => l.msg.startsWith('inbox worker pass failed')));
    await worker.stop();
    const drains = logs.filter((l) => l.msg === 'inbox drain failed; retrying');
    expect(drains).toHaveLength(1);
    expect(drains[0]).toMatchObject({ level: 40, partitionKeys: 2, err: 'group refused' });
    expect(['1', '2', '3', '4']).toContain(drains[0]!.first);
    expect(logs.filter((l) => l.msg === 'inbox worker pass failed; retrying on the next poll')).toEqual([expect.objectContaining({ level: 50, err: 'database went away' })]);
    expect(logs.filter((l) => l.msg === 'inbox LISTEN unavailable; polling')).toEqual([expect.objectContaining({ level: 40, err: expect.stringContaining('ECONNREFUSED') })]);
    // The pass that failed was the second: the first one moved deliveries, so it looked again.
    expect(passes).toBe(2);
  });

  it('polls every second unless told otherwise; an unavailable LISTEN is tried again each second until the worker stops', async () => {
    const { logs, logger } = recorder();
    let looks = 0;
    const processor = standIn({ dueNumbers: async () => (looks++, []), drainMany: async () => 0 });
    // Only the poll's interval is faked: the LISTEN retries run on real timers.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const worker = new InboxWorker(processor, NO_DB, logger);
    try {
      await worker.start();
      await until(() => looks === 1);
      vi.advanceTimersByTime(999);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(looks).toBe(1);
      vi.advanceTimersByTime(1);
      await until(() => looks === 2);
      expect(looks).toBe(2);
      const unavailable = () => logs.filter((l) => l.msg === 'inbox LISTEN unavailable; polling').length;
      await until(() => unavailable() >= 2);
      expect(unavailable()).toBeGreaterThanOrEqual(2);
      await worker.stop();
      const after = unavailable();
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      expect(unavailable()).toBe(after);
    } finally {
      vi.useRealTimers();
      await worker.stop();
    }
  });

  it('createBoss: pg-boss on the database’s URL, in its own schema, 4 connections, supervising every 10 s; its errors are logged', () => {
    const { logs, logger } = recorder();
    const boss = createBoss({ connectionString: 'postgres://coex@db.internal:5432/coex' } as DatabaseHandle, logger);
    const config = (boss.getDb() as unknown as { config: Record<string, unknown> }).config;
    expect(config).toMatchObject({ connectionString: 'postgres://coex@db.internal:5432/coex', schema: 'pgboss', max: 4, superviseIntervalSeconds: 10 });
    boss.emit('error', new Error('connection lost'));
    // Typed as an Error, but an emitter carries whatever is thrown.
    boss.emit('error', 'plain text' as unknown as Error);
    expect(logs.filter((l) => l.msg === 'pg-boss error')).toEqual([
      expect.objectContaining({ level: 50, err: 'connection lost' }),
      expect.objectContaining({ level: 50, err: 'plain text' }),
    ]);
  });

  describe('history lanes: a number\'s history drained beside the passes', () => {
    /**
     * A processor over a list of due partitions (one delivery each); a drain of a partition in `hold`
     * waits until that partition is released, and applies `heldApplies` deliveries (0: another
     * process held it). Records each partition handed to a drain, each one applied, and the most drains
     * at once.
     */
    const holding = (due: string[], hold: string[], heldApplies = 1) => {
      const seen = { looks: 0, drains: [] as string[], applied: [] as string[], atOnce: 0, most: 0 };
      const releases = new Map<string, () => void>();
      const held = new Map(hold.map((key) => [key, new Promise<void>((resolve) => releases.set(key, resolve))]));
      const processor = {
        pendingWork: async () => (seen.looks++, due.map((partitionKey) => ({ partitionKey, pending: 1 }))),
        drainMany: async (group: string[]) => {
          seen.drains.push(...group);
          seen.atOnce += 1;
          seen.most = Math.max(seen.most, seen.atOnce);
          try {
            let applied = 0;
            for (const key of group) {
              await held.get(key);
              applied += held.has(key) ? heldApplies : 1;
              seen.applied.push(key);
              due.splice(due.indexOf(key), 1);
            }
            return applied;
          } finally {
            seen.atOnce -= 1;
          }
        },
      } as unknown as InboxProcessor;
      return { seen, processor, release: (key: string) => releases.get(key)!() };
    };

    it('a history lane does not wait for the turn the passes\' lanes take while acknowledging (it yields on its own)', async () => {
      // '1' (a pass's lane) holds the turn through a long transaction; the history lane's transactions
      // go on meanwhile, each followed by its own short wait.
      let liveEnded = 0;
      const historyTransactions: number[] = [];
      const processor = {
        pendingWork: async () => (liveEnded ? [] : [{ partitionKey: '1', pending: 1 }, { partitionKey: '9/h0', pending: 1 }]),
        drainMany: async (group: string[], _max: number | undefined, pace: Pace) => {
          if (group[0] === '9/h0') {
            for (let i = 0; i < 3; i++) {
              await new Promise((resolve) => setTimeout(resolve, 5));
              historyTransactions.push(performance.now());
              await pace(5);
            }
            return 3;
          }
          await new Promise((resolve) => setTimeout(resolve, 400));
          liveEnded = performance.now();
          await pace(400);
          return 1;
        },
      } as unknown as InboxProcessor;
      const ingress = new IngressLoad();
      ingress.begin();
      const worker = new InboxWorker(processor, NO_DB, recorder().logger, { ingress, concurrency: 3, pollIntervalMs: 60_000 });
      await worker.start();
      for (let i = 0; i < 400 && !(liveEnded && historyTransactions.length === 3); i++) await new Promise((resolve) => setTimeout(resolve, 5));
      ingress.end();
      await worker.stop();
      expect(historyTransactions).toHaveLength(3);
      for (const at of historyTransactions) expect(at).toBeLessThan(liveEnded);
    });

    it('history lanes: up to HISTORY_LANES, always one fewer than the worker\'s lanes (none with one lane)', () => {
      expect([1, 2, 3, 4, 8, 64].map(historyLanesOf)).toEqual([0, 1, 2, 3, 3, 3]);
    });

    it('a number due while a history lane drains is applied at once (a pass no longer waits for that drain); the partition in the lane is not handed out again', async () => {
      const due = ['100/h0'];
      const { seen, processor, release } = holding(due, ['100/h0']);
      const worker = new InboxWorker(processor, NO_DB, recorder().logger, { concurrency: 2, pollIntervalMs: 60_000 });
      await worker.start();
      await until(() => seen.drains.length === 1);
      due.push('200');
      worker.kick(['200']);
      await until(() => seen.drains.includes('200'));
      // The history drain is still held: '200' went past it; the pass looked once more after applying
      // it, found only '100/h0' (in its lane: not handed out twice) and ended.
      await until(() => seen.looks === 3);
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(seen.drains).toEqual(['100/h0', '200']);
      expect(seen.applied).toEqual(['200']);
      expect(seen.looks).toBe(3);
      release('100/h0');
      await until(() => due.length === 0 && seen.looks >= 3);
      await worker.stop();
      expect(seen.drains).toEqual(['100/h0', '200']);
    });

    it('the history lanes count against the worker\'s lanes; the partitions beyond them wait in a queue; with one lane, history goes through the pass', async () => {
      // Two lanes: one for history. '100/h1' waits for '100/h0'; live numbers take the other lane.
      const due = ['100/h0', '100/h1', '1', '2', '3'];
      const { seen, processor, release } = holding(due, ['100/h0']);
      const worker = new InboxWorker(processor, NO_DB, recorder().logger, { concurrency: 2, pollIntervalMs: 60_000 });
      await worker.start();
      await until(() => ['1', '2', '3'].every((k) => seen.drains.includes(k)));
      expect(seen.drains).not.toContain('100/h1');
      expect(seen.most).toBe(2);
      release('100/h0');
      await until(() => due.length === 0);
      await worker.stop();
      expect(seen.drains.filter((k) => k.includes('/h'))).toEqual(['100/h0', '100/h1']);
      expect(seen.most).toBe(2);

      // One lane: a history partition is drained by the pass, and the number after it waits for it.
      const dueAlone = ['100/h0'];
      const single = holding(dueAlone, ['100/h0']);
      const alone = new InboxWorker(single.processor, NO_DB, recorder().logger, { concurrency: 1, pollIntervalMs: 60_000 });
      await alone.start();
      await until(() => single.seen.drains.length > 0);
      dueAlone.push('2');
      alone.kick(['2']);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(single.seen.applied).toEqual([]);
      single.release('100/h0');
      await until(() => single.seen.applied.length === 2);
      expect(single.seen.applied).toEqual(['100/h0', '2']);
      await alone.stop();
      expect(single.seen.most).toBe(1);
    });

    it('a wake naming only history partitions a lane holds makes no pass look; the lane looks again when it ends — and not after a drain that moved nothing unwoken (no busy loop)', async () => {
      const due = ['100/h0'];
      // The drain applies nothing (another process holds the partition), as the poll would find.
      const { seen, processor, release } = holding(due, ['100/h0'], 0);
      const worker = new InboxWorker(processor, NO_DB, recorder().logger, { concurrency: 4, pollIntervalMs: 60_000 });
      await worker.start();
      await until(() => seen.drains.length === 1);
      expect(seen.looks).toBe(1);
      for (let i = 0; i < 3; i++) worker.kick(['100/h0']);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(seen.looks).toBe(1);
      // Woken meanwhile: it looks once more when its drain ends, although it moved nothing.
      due.push('100/h0');
      release('100/h0');
      await until(() => seen.looks === 2);
      await until(() => seen.drains.length === 2);
      // This time nobody woke it and it moved nothing (held elsewhere): no look after it.
      await new Promise((resolve) => setTimeout(resolve, 80));
      expect(seen.looks).toBe(2);
      // A wake naming a partition no lane holds looks, as any other.
      worker.kick(['100/h0']);
      await until(() => seen.looks === 3);
      await worker.stop();
      expect(seen.looks).toBe(3);
    });

    it('stop() waits for the history lanes, and a later start() looks at what they left afresh', async () => {
      const due = ['100/h0', '100/h1', '100/h2', '100/h0'.replace('100', '300')];
      const { seen, processor, release } = holding(due, ['100/h0']);
      const worker = new InboxWorker(processor, NO_DB, recorder().logger, { concurrency: 2, pollIntervalMs: 60_000 });
      await worker.start();
      await until(() => seen.drains.length === 1);
      let stopped = false;
      const stopping = worker.stop().then(() => (stopped = true));
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(stopped).toBe(false);
      release('100/h0');
      await stopping;
      // Stopped after its drain: the queued partitions were not drained.
      expect(seen.drains).toEqual(['100/h0']);
      await worker.start();
      await until(() => due.length === 0);
      await worker.stop();
      expect(seen.drains.sort()).toEqual(['100/h0', '100/h1', '100/h2', '300/h0']);
    });
  });

  it('yields only while less than maxYieldLagMs behind the last time the inbox was empty: a worker further behind applies at full speed', async () => {
    /** A worker whose every pace call reports 1 s of work (a 100 ms yield when it yields at all). */
    const run = async (opts: { emptyFirst: boolean }) => {
      let passes = 0;
      let drained = false;
      const processor = standIn({
        dueNumbers: async () => {
          passes += 1;
          if (passes === 1) {
            // The first pass finds the inbox empty (caught up), or — the other case — finds work only
            // 300 ms after the worker was made.
            if (opts.emptyFirst) return [];
            await new Promise((resolve) => setTimeout(resolve, 300));
          }
          return drained ? [] : ['1'];
        },
        drainMany: async (_group: string[], _max: number | undefined, pace: Pace) => {
          drained = true;
          await pace(1_000);
          return 1;
        },
      });
      const ingress = new IngressLoad();
      ingress.begin();
      const spy = vi.spyOn(globalThis, 'setTimeout');
      const worker = new InboxWorker(processor, 'postgres://nobody@127.0.0.1:1/none', pino({ level: 'silent' }), { ingress, concurrency: 1, pollIntervalMs: 60_000, maxYieldLagMs: 200 });
      try {
        if (opts.emptyFirst) {
          // Made 300 ms ago, caught up at its first pass, then work at once: it yields (behind since
          // the inbox was last seen empty, not since it was made).
          await new Promise((resolve) => setTimeout(resolve, 300));
          await worker.start();
          while (passes < 1) await new Promise((resolve) => setTimeout(resolve, 5));
          worker.kick();
        } else {
          await worker.start();
        }
        while (!drained || passes < (opts.emptyFirst ? 3 : 2)) await new Promise((resolve) => setTimeout(resolve, 5));
        await worker.stop();
        return spy.mock.calls.filter(([, ms]) => ms === MAX_YIELD_MS).length;
      } finally {
        spy.mockRestore();
        ingress.end();
      }
    };
    // Caught up a moment ago, then work: it yields.
    expect(await run({ emptyFirst: true })).toBe(1);
    // Never caught up since it was made 300 ms ago: past the 200 ms bound — no yield.
    expect(await run({ emptyFirst: false })).toBe(0);
  });
});
