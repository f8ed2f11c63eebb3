import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { InboxProcessor, Pace } from './inbox-processor.js';
import { DEFAULT_MAX_YIELD_LAG_MS, IngressLoad, InboxWorker, MAX_YIELD_MS, yieldMs } from './queue.js';

/** The worker's pacing against acknowledgements, without a database (test/worker-*.test.ts run the worker). */
describe('inbox worker pacing', () => {
  it('waits three times as long as the last transaction took, times the lanes at work, while deliveries are being acknowledged, at most MAX_YIELD_MS', () => {
    expect(MAX_YIELD_MS).toBe(100);
    expect(DEFAULT_MAX_YIELD_LAG_MS).toBe(3_000);
    const busy = { ingressBusy: true, behindMs: 500, maxLagMs: 3_000, lanes: 1 };
    expect(yieldMs({ ...busy, elapsedMs: 10 })).toBe(30);
    expect(yieldMs({ ...busy, elapsedMs: 33 })).toBe(99);
    expect(yieldMs({ ...busy, elapsedMs: 80 })).toBe(100);
    // Several lanes at work: each waits that much longer, so the worker as a whole works a quarter of the time.
    expect(yieldMs({ ...busy, lanes: 3, elapsedMs: 10 })).toBe(90);
    expect(yieldMs({ ...busy, lanes: 0, elapsedMs: 10 })).toBe(30);
    // Nothing to yield to: no wait.
    expect(yieldMs({ ...busy, ingressBusy: false, elapsedMs: 10 })).toBe(0);
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
    const processor = {
      pendingPartitions: async () => (passes++ === 0 ? keys : []),
      drainMany: async (group: string[], _max: number | undefined, pace: Pace) => {
        groups.push(group);
        const started = performance.now();
        await pace(30);
        waited.push(performance.now() - started);
        return group.length;
      },
    } as unknown as InboxProcessor;
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
