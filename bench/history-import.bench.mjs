// (b) History import: messages per second through the real path (inbox row → parse → normalize →
// idempotent upserts of contacts, threads, messages), against a raw multi-row INSERT of the same rows
// into a plain copy of the messages table (same columns and indexes) in the same database.
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import { migrateToLatest, openDatabase } from '../core/dist/db/index.js';
import { InboxProcessor } from '../core/dist/worker/inbox-processor.js';
import { createLogger } from '../core/dist/logger.js';
import * as P from '../core/dist/whatsapp/payloads.js';
import { benchBackends, fmt } from './lib.mjs';

const CHUNKS = Number(process.env.BENCH_HISTORY_CHUNKS ?? 20);
const PER_CHUNK = 1000;
const THREADS_PER_CHUNK = 50;
const N = { wabaId: '1', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };

function chunks() {
  const base = Date.now() - 90 * 86_400_000;
  return Array.from({ length: CHUNKS }, (_, c) =>
    P.historyChunk(
      N,
      { phase: 1, chunkOrder: c + 1, progress: Math.round(((c + 1) / CHUNKS) * 100) },
      Array.from({ length: THREADS_PER_CHUNK }, (_, t) => ({
        waId: `2126${String(c * THREADS_PER_CHUNK + t).padStart(8, '0')}`,
        messages: Array.from({ length: PER_CHUNK / THREADS_PER_CHUNK }, (_, m) => ({
          wamid: `wamid.HIST.${c}.${t}.${m}`,
          fromCustomer: m % 2 === 0,
          at: base + (c * PER_CHUNK + t * 20 + m) * 60_000,
          body: P.text(m % 2 === 0 ? 'salam, wach kayn had l article f taille M?' : 'Iyeh kayn, 250 dh, livraison 24h'),
        })),
      })),
    ),
  );
}

export async function run() {
  const total = CHUNKS * PER_CHUNK;
  console.log(`\n# History import (${fmt(total)} messages in ${CHUNKS} chunks of ${PER_CHUNK})`);
  const results = [];
  for (const backend of await benchBackends()) {
    const target = await backend.create();
    const handle = await openDatabase({ databaseUrl: target.databaseUrl });
    await migrateToLatest(handle.db);
    const db = handle.db;
    const bodies = chunks().map((b) => JSON.stringify(b));

    // CoEx path.
    await db.insertInto('webhook_inbox').values(bodies.map((raw, i) => ({ partition_key: N.phoneNumberId, body_sha256: `bench-${i}`, raw_body: raw, processed_at: null, last_error: null, outcome: null }))).execute();
    const processor = new InboxProcessor(db, createLogger('silent'), 'default');
    let t = process.hrtime.bigint();
    await processor.drain(N.phoneNumberId);
    const coexSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    const count = await db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();

    // Baseline: the same rows, plain multi-row INSERTs of 1,000 rows.
    await sql`create table bench_raw_messages (like messages including defaults including indexes)`.execute(db);
    const threadId = randomUUID();
    const rows = bodies.flatMap((raw) =>
      JSON.parse(raw).entry[0].changes[0].value.history[0].threads.flatMap((th) =>
        th.messages.map((m) => ({
          tenant_id: 'default',
          phone_number_id: N.phoneNumberId,
          thread_id: threadId,
          wamid: m.id,
          direction: m.from === th.id ? 'inbound' : 'outbound',
          origin: 'history',
          type: m.type,
          text: m.text.body,
          provider_timestamp: new Date(Number(m.timestamp) * 1000),
          status: m.history_context.status.toLowerCase(),
          history_status: m.history_context.status,
          payload: JSON.stringify(m),
        })),
      ),
    );
    t = process.hrtime.bigint();
    for (let i = 0; i < rows.length; i += 1000) await db.insertInto('bench_raw_messages').values(rows.slice(i, i + 1000)).execute();
    const rawSeconds = Number(process.hrtime.bigint() - t) / 1e9;

    await handle.close();
    await target.drop();
    const coexRate = total / coexSeconds;
    const rawRate = total / rawSeconds;
    console.log(`baseline  ${backend.name.padEnd(8)} raw multi-row INSERT   ${fmt(rawRate)} rows/s`);
    console.log(`coex      ${backend.name.padEnd(8)} history import         ${fmt(coexRate)} msgs/s  ratio ${fmt(coexRate / rawRate, 2)} of raw  (${fmt(Number(count.n))} stored)`);
    results.push({ backend: backend.name, coexRate, rawRate, ratio: coexRate / rawRate });
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
