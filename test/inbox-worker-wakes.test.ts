import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { backends, createTestDatabase } from './helpers/backends.js';
import { InboxWorker } from '../core/src/worker/queue.js';
import type { InboxProcessor } from '../core/src/worker/inbox-processor.js';
import { INBOX_CHANNEL } from '../core/src/webhooks/inbox-writer.js';

/**
 * How the inbox worker is woken, on a real database but with a stand-in processor (no runtime, so
 * mutation testing of worker/queue.ts can run it per mutant): NOTIFY, coalesced wakes, stop(), and a
 * LISTEN connection lost under the worker.
 */
describe.each(backends())('inbox worker wakes [%s]', (backend) => {
  it('a NOTIFY on the inbox channel wakes a worker whose poll is far off; a wake during a pass brings one more pass; stop ends it', async () => {
    const db = await createTestDatabase(backend);
    const logs: Array<{ msg: string }> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    let looks = 0;
    let release!: () => void;
    const processor = {
      pendingPartitions: async () => {
        looks += 1;
        // The second look waits, and a wake arrives meanwhile: one more pass follows it.
        if (looks === 2) await new Promise<void>((resolve) => (release = resolve));
        return [];
      },
      drainMany: async () => 0,
    } as unknown as InboxProcessor;
    const worker = new InboxWorker(processor, db.databaseUrl, logger, { pollIntervalMs: 60_000 });
    const until = async (done: () => boolean) => {
      for (let i = 0; i < 400 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
    };
    const notify = new pg.Client({ connectionString: db.databaseUrl });
    await notify.connect();
    try {
      await worker.start();
      await until(() => looks === 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(looks).toBe(1);
      await notify.query(`notify ${INBOX_CHANNEL}`);
      await until(() => looks === 2);
      expect(looks).toBe(2);
      worker.kick();
      worker.kick();
      release();
      await until(() => looks === 3);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(looks).toBe(3);
      await worker.stop();
      worker.kick();
      await notify.query(`notify ${INBOX_CHANNEL}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(looks).toBe(3);
      // The LISTEN connection is closed by stop().
      const listeners = await notify.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and query ilike 'listen%'`);
      expect(listeners.rows[0].n).toBe(0);
      expect(logs.filter((l) => l.msg.includes('LISTEN'))).toEqual([]);
    } finally {
      await worker.stop();
      await notify.end();
      await db.drop();
    }
  });

  it('a LISTEN connection terminated under the worker is logged and opened again a second later; NOTIFYs wake the worker again; once stopped it stays closed', async () => {
    const db = await createTestDatabase(backend);
    const logs: Array<{ msg: string; err?: string }> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    let looks = 0;
    const processor = { pendingPartitions: async () => (looks++, []), drainMany: async () => 0 } as unknown as InboxProcessor;
    const worker = new InboxWorker(processor, db.databaseUrl, logger, { pollIntervalMs: 60_000 });
    const until = async (done: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 600 && !(await done()); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    };
    const admin = new pg.Client({ connectionString: db.databaseUrl });
    await admin.connect();
    const listeners = async () =>
      (await admin.query<{ pid: number }>(`select pid from pg_stat_activity where datname = current_database() and query ilike 'listen%' and pid <> pg_backend_pid()`)).rows.map((r) => r.pid);
    const lost = () => logs.filter((l) => l.msg === 'inbox LISTEN connection lost; polling until it is back');
    try {
      await worker.start();
      await until(() => looks === 1);
      const [first] = await listeners();
      expect(first).toBeDefined();
      await admin.query('select pg_terminate_backend($1)', [first]);
      await until(() => lost().length === 1);
      expect(lost()).toHaveLength(1);
      // A new LISTEN connection, and a NOTIFY wakes the worker through it.
      await until(async () => (await listeners()).some((pid) => pid !== first));
      const [second] = await listeners();
      expect(second).toBeDefined();
      expect(second).not.toBe(first);
      const before = looks;
      await admin.query(`notify ${INBOX_CHANNEL}`);
      await until(() => looks > before);
      expect(looks).toBe(before + 1);
      // Lost again, then stopped before the second is up: nothing is opened again.
      await admin.query('select pg_terminate_backend($1)', [second]);
      await until(() => lost().length === 2);
      await worker.stop();
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      expect(await listeners()).toEqual([]);
      expect(lost()).toHaveLength(2);
    } finally {
      await worker.stop();
      await admin.end();
      await db.drop();
    }
  });
});
