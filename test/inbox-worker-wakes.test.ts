import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { describe, expect, it, vi } from 'vitest';
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
  /** A logger that keeps its lines, and a processor that only counts how often the worker looks. */
  const standIn = () => {
    const logs: Array<{ msg: string; err?: string }> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const seen = { looks: 0 };
    const processor = { pendingWork: async () => (seen.looks++, []), drainMany: async () => 0 } as unknown as InboxProcessor;
    return { logs, logger, seen, processor };
  };
  /** A worker with its poll far off, and a connection of the test's own to send NOTIFYs with. */
  const listening = async (databaseUrl: string, processor: InboxProcessor, logger: Logger) => {
    const worker = new InboxWorker(processor, databaseUrl, logger, { pollIntervalMs: 60_000 });
    const notify = new pg.Client({ connectionString: databaseUrl });
    await notify.connect();
    return { worker, notify };
  };
  const until = async (done: () => boolean | Promise<boolean>) => {
    for (let i = 0; i < 600 && !(await done()); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  };

  it('a NOTIFY on the inbox channel wakes a worker whose poll is far off; a wake during a pass brings one more pass; stop ends it', async () => {
    const db = await createTestDatabase(backend);
    const logs: Array<{ msg: string }> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    let looks = 0;
    let release!: () => void;
    const processor = {
      pendingWork: async () => {
        looks += 1;
        // The second look waits, and a wake arrives meanwhile: one more pass follows it.
        if (looks === 2) await new Promise<void>((resolve) => (release = resolve));
        return [];
      },
      drainMany: async () => 0,
    } as unknown as InboxProcessor;
    const { worker, notify } = await listening(db.databaseUrl, processor, logger);
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

  it('a NOTIFY naming a history partition that one of its history lanes holds wakes no pass; one naming another, or none, does', async () => {
    const db = await createTestDatabase(backend);
    const logger = pino({ level: 'silent' });
    let looks = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let due = ['100/h0'];
    const processor = {
      pendingWork: async () => (looks++, due.map((partitionKey) => ({ partitionKey, pending: 1 }))),
      // The history lane's drain of '100/h0' lasts until released.
      drainMany: async (group: string[]) => {
        await held;
        due = due.filter((k) => !group.includes(k));
        return group.length;
      },
    } as unknown as InboxProcessor;
    const { worker, notify } = await listening(db.databaseUrl, processor, logger);
    try {
      await worker.start();
      await until(() => looks === 1);
      const isListening = async () => (await notify.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and query ilike 'listen%'`)).rows[0].n === 1;
      await until(isListening);
      await notify.query(`select pg_notify('${INBOX_CHANNEL}', '100/h0')`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(looks).toBe(1);
      await notify.query(`select pg_notify('${INBOX_CHANNEL}', '100/h1')`);
      await until(() => looks === 2);
      await notify.query(`notify ${INBOX_CHANNEL}`);
      await until(() => looks === 3);
      expect(looks).toBe(3);
      release();
    } finally {
      release();
      await worker.stop();
      await notify.end();
      await db.drop();
    }
  });

  it('a LISTEN connection terminated under the worker is logged and opened again a second later; NOTIFYs wake the worker again; once stopped it stays closed', async () => {
    const db = await createTestDatabase(backend);
    const { logs, logger, seen, processor } = standIn();
    const worker = new InboxWorker(processor, db.databaseUrl, logger, { pollIntervalMs: 60_000 });
    const admin = new pg.Client({ connectionString: db.databaseUrl });
    await admin.connect();
    const listeners = async () =>
      (await admin.query<{ pid: number }>(`select pid from pg_stat_activity where datname = current_database() and query ilike 'listen%' and pid <> pg_backend_pid()`)).rows.map((r) => r.pid);
    const lost = () => logs.filter((l) => l.msg === 'inbox LISTEN connection lost; polling until it is back');
    try {
      await worker.start();
      await until(() => seen.looks === 1);
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
      const before = seen.looks;
      await admin.query(`notify ${INBOX_CHANNEL}`);
      await until(() => seen.looks > before);
      expect(seen.looks).toBe(before + 1);
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

  it('stop() while the LISTEN connection is being opened: opened afterwards, it is closed; failing afterwards, it is not tried again; a worker never started does nothing', async () => {
    const db = await createTestDatabase(backend);
    const { logs, logger, seen, processor } = standIn();
    // A proxy in front of the database that holds each connection until told to pass it on or drop it.
    const target = new URL(db.databaseUrl);
    const held: Array<{ pass: () => void; drop: () => void }> = [];
    const sockets: Socket[] = [];
    const proxy = createServer((client) => {
      client.pause();
      sockets.push(client);
      held.push({
        pass: () => {
          const upstream = connect(Number(target.port), target.hostname);
          sockets.push(upstream);
          client.pipe(upstream).pipe(client);
          for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
            a.on('error', () => b.destroy());
            a.on('close', () => b.destroy());
          }
        },
        drop: () => client.destroy(),
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const via = new URL(db.databaseUrl);
    via.hostname = '127.0.0.1';
    via.port = String((proxy.address() as AddressInfo).port);
    const admin = new pg.Client({ connectionString: db.databaseUrl });
    await admin.connect();
    const listeners = async () => (await admin.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and query ilike 'listen%'`)).rows[0].n as number;
    try {
      // Never started: a wake does nothing.
      const idle = new InboxWorker(processor, via.toString(), logger, { pollIntervalMs: 60_000 });
      idle.kick();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(seen.looks).toBe(0);
      // Stopped while connecting, then the connection goes through: it is closed, nothing polls.
      const first = new InboxWorker(processor, via.toString(), logger, { pollIntervalMs: 60_000 });
      const polls = vi.spyOn(globalThis, 'setInterval');
      const starting = first.start();
      await until(() => held.length === 1);
      await first.stop();
      held[0]!.pass();
      await starting;
      expect(polls).not.toHaveBeenCalled();
      polls.mockRestore();
      await until(async () => (await listeners()) === 0);
      expect(await listeners()).toBe(0);
      expect(seen.looks).toBe(0);
      // Stopped while connecting, then the connection fails: logged once, not tried again.
      const second = new InboxWorker(processor, via.toString(), logger, { pollIntervalMs: 60_000 });
      const startingAgain = second.start();
      await until(() => held.length === 2);
      await second.stop();
      held[1]!.drop();
      await startingAgain;
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      expect(held).toHaveLength(2);
      expect(logs.filter((l) => l.msg.includes('LISTEN'))).toEqual([expect.objectContaining({ msg: 'inbox LISTEN unavailable; polling' })]);
      expect(seen.looks).toBe(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
      await admin.end();
      await db.drop();
    }
  });
});
