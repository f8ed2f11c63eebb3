import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { backends, createTestDatabase, type TestDatabase } from './helpers/backends.js';
import { startTestServer } from './helpers/runtime.js';
import * as P from '../core/src/whatsapp/payloads.js';

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
