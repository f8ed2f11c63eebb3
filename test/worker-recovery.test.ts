import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { backends, createTestDatabase, type TestDatabase } from './helpers/backends.js';
import { startTestServer } from './helpers/runtime.js';
import * as P from '../core/src/whatsapp/payloads.js';
import pg from 'pg';
import { pino } from 'pino';
import { InboxWorker } from '../core/src/worker/queue.js';
import type { InboxProcessor } from '../core/src/worker/inbox-processor.js';
import { INBOX_CHANNEL } from '../core/src/webhooks/inbox-writer.js';

const numbers: P.NumberRef[] = [1, 2, 3, 4, 5].map((i) => ({ wabaId: '102290129340398', phoneNumberId: `10654035224${i}000`, displayPhoneNumber: `21252212${i}000` }));
const t0 = Date.UTC(2026, 10, 24, 9, 0, 0);

function traffic(count: number) {
  const out: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const n = numbers[i % numbers.length]!;
    out.push(P.inboundMessage(n, { waId: `2126000${String(i % 40).padStart(5, '0')}`, name: `C${i % 40}` }, `wamid.W${i}`, t0 + i * 1000, P.text(`message ${i}`)));
  }
  return out;
}

async function persistentDatabase(backend: 'postgres'): Promise<TestDatabase> {
  return createTestDatabase(backend);
}

describe.each(backends())('inbox durability and workers [%s]', (backend) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('processes after a restart what was acknowledged before a crash', async () => {
    const db = await persistentDatabase(backend);
    cleanups.push(db.drop);
    // A process that acknowledges but never processes (its worker is down), then dies.
    const first = await startTestServer(backend, {}, { worker: false }, db);
    const deliveries = traffic(25);
    for (const d of deliveries) expect((await first.postWebhook(d)).status).toBe(200);
    const pending = await first.runtime.processor.pendingCount();
    expect(pending).toBe(25);
    await first.close();

    const second = await startTestServer(backend, {}, { worker: true }, db);
    try {
      await second.runtime.waitForInboxDrained(60_000);
      const count = await second.runtime.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
      expect(Number(count.n)).toBe(25);
    } finally {
      await second.close();
    }
  });

  it('two workers on one database never process a delivery twice', async () => {
    const db = await persistentDatabase(backend);
    cleanups.push(db.drop);
    const ingest = await startTestServer(backend, {}, { worker: false }, db);
    const workers: Array<{ close(): Promise<void> }> = [];
    try {
      // Two separate runtimes (separate pools, separate LISTEN connections): the multi-process path.
      for (let i = 0; i < 2; i++) workers.push(await startTestServer(backend, {}, { worker: true, http: false }, db));
      const deliveries = traffic(300);
      await Promise.all(deliveries.map(async (d) => expect((await ingest.postWebhook(d)).status).toBe(200)));
      await ingest.runtime.waitForInboxDrained(90_000);
      const attempts = await sql<{ attempts: number; n: string }>`select attempts, count(*) as n from webhook_inbox group by attempts`.execute(ingest.runtime.db);
      expect(attempts.rows.map((r) => ({ attempts: r.attempts, n: Number(r.n) }))).toEqual([{ attempts: 1, n: 300 }]);
      const count = await ingest.runtime.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
      expect(Number(count.n)).toBe(300);
    } finally {
      for (const w of workers) await w.close();
      await ingest.close();
    }
  });
});

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
});
