// History import end to end (issue 12): 50,000 messages of 500 threads in realistic chunks (100
// messages a thread spread over the six months Meta syncs, 10 threads a chunk, 5 % media placeholders,
// chunks POSTed out of order, then the media follow-ups Meta sends: only for the placeholders of the
// last 14 days, coex-spec §4; BENCH_HISTORY_FOLLOWUPS=all follows every placeholder up) through the
// signed HTTP endpoint of a running CoEx (worker on), until the last message is stored (the
// deliveries POSTed by bench/loadgen.mjs in its own process, 8 at a time, as Meta would: not from the
// server's event loop) — against a raw multi-row INSERT of the same rows into a plain copy of the
// messages table (same columns and indexes) in the same database, in the same run. Then the same import for
// another number while a third number's customer writes every 100 ms: how soon those live messages
// are visible while an import is being applied (worker on only).
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runtime } from '../core/dist/runtime.js';
import { loadConfig } from '../core/dist/config.js';
import { createLogger } from '../core/dist/logger.js';
import * as P from '../core/dist/whatsapp/payloads.js';
import { benchBackends, fmt, postgresCpuMs } from './lib.mjs';
import { liveProbe, runLoadgen } from './processes.mjs';

const THREADS = Number(process.env.BENCH_HISTORY_THREADS ?? 500);
// BENCH_HISTORY_SPLIT=1: the worker starts only after the last acknowledgement, so the time to
// acknowledge and the time to apply are measured apart (docs/benchmarks.md).
const SPLIT = process.env.BENCH_HISTORY_SPLIT === '1';
// BENCH_HISTORY_FOLLOWUPS=all: every placeholder gets its media follow-up (Meta sends none for media
// older than 14 days; the benchmark did so until 2026-12-06, docs/decisions/history-bench-follow-ups.md).
const FOLLOW_ALL = process.env.BENCH_HISTORY_FOLLOWUPS === 'all';
const PER_THREAD = 100;
const DAY_MS = 86_400_000;
/** History sync covers up to six months; Meta follows media placeholders up for the last 14 days only. */
const HISTORY_DAYS = 180;
const FOLLOW_UP_DAYS = 14;
const THREADS_PER_CHUNK = 10;
const SECRET = 'bench-history-secret';
const N = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '212522123456' };
/** The number of the warm-up import (a fifth of the size, before the measured one). */
const WARM = { wabaId: '102290129340398', phoneNumberId: '106540352249999', displayPhoneNumber: '212522129999' };
const WARM_THREADS = Math.max(THREADS_PER_CHUNK, THREADS / 5);
/** The number whose import runs beside live traffic (liveDuringImport; the traffic: processes.mjs liveProbe). */
const BESIDE = { wabaId: '102290129340398', phoneNumberId: '106540352248888', displayPhoneNumber: '212522128888' };
/** One live message of the third number every this many ms during that import. */
const LIVE_EVERY_MS = 100;

function deliveries(N, threadCount) {
  const now = Date.now();
  // Each thread's messages spread over the six months (the threads interleaved in time), oldest first.
  const step = (HISTORY_DAYS * DAY_MS) / (threadCount * PER_THREAD);
  const base = now - HISTORY_DAYS * DAY_MS;
  const chunkCount = threadCount / THREADS_PER_CHUNK;
  const chunks = [];
  const followUps = [];
  for (let c = 0; c < chunkCount; c++) {
    const threads = Array.from({ length: THREADS_PER_CHUNK }, (_, t) => {
      const thread = c * THREADS_PER_CHUNK + t;
      const waId = `2126${N === WARM ? 9 : 0}${String(thread).padStart(7, '0')}`;
      return {
        waId,
        messages: Array.from({ length: PER_THREAD }, (_, m) => {
          const wamid = `wamid.HIST.${N.phoneNumberId}.${thread}.${m}`;
          const at = Math.round(base + (m * threadCount + thread) * step);
          const placeholder = (thread + m) % 20 === 7;
          if (placeholder && (FOLLOW_ALL || at >= now - FOLLOW_UP_DAYS * DAY_MS)) followUps.push(P.historyMediaFollowUp(N, waId, wamid, at, P.image(`media-${thread}-${m}`, 'tswira dyal l article'), true));
          return { wamid, fromCustomer: m % 2 === 1 || placeholder, at, body: placeholder ? P.mediaPlaceholder : P.text(m % 2 === 0 ? 'Iyeh kayn, 250 dh, livraison 24h' : 'salam, wach kayn had l article f taille M?') };
        }),
      };
    });
    chunks.push(P.historyChunk(N, { phase: c < chunkCount / 2 ? 0 : 1, chunkOrder: c + 1, progress: Math.round(((c + 1) / chunkCount) * 100) }, threads));
  }
  // Meta sends phases and chunks in no promised order: reverse pairs, then the media follow-ups.
  for (let i = 0; i + 1 < chunks.length; i += 2) [chunks[i], chunks[i + 1]] = [chunks[i + 1], chunks[i]];
  return [...chunks, ...followUps];
}

/** The deliveries' history messages as rows of the raw baseline (one made-up thread). */
function rawRows(bodies, N) {
  const threadId = randomUUID();
  return bodies
    .filter((b) => b.entry[0].changes[0].value.history?.[0]?.threads)
    .flatMap((b) =>
      b.entry[0].changes[0].value.history[0].threads.flatMap((th) =>
        th.messages.map((m) => ({
          tenant_id: 'default',
          phone_number_id: N.phoneNumberId,
          thread_id: threadId,
          wamid: m.id,
          direction: m.from === th.id ? 'inbound' : 'outbound',
          origin: 'history',
          type: m.type,
          text: m.text?.body ?? null,
          provider_timestamp: new Date(Number(m.timestamp) * 1000),
          status: m.history_context.status.toLowerCase(),
          history_status: m.history_context.status,
          payload: JSON.stringify(m),
        })),
      ),
    );
}

/** Raw multi-row INSERTs of 1,000 rows; seconds. */
async function insertRaw(db, rows) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < rows.length; i += 1000) await db.insertInto('bench_raw_messages').values(rows.slice(i, i + 1000)).execute();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** POSTs an import of `threadCount` threads for number N and waits until it is stored. */
async function importHistory(runtime, url, N, threadCount) {
  const bodies = deliveries(N, threadCount);
  const dir = mkdtempSync(join(tmpdir(), 'coex-bench-history-'));
  const file = join(dir, 'deliveries.jsonl');
  writeFileSync(file, bodies.map((b) => JSON.stringify(b)).join('\n'));
  // From the load generator's first POST (it reads and signs the deliveries before) to all stored.
  const cpu0 = process.cpuUsage();
  const pg0 = postgresCpuMs();
  const posted = await runLoadgen({ url, file, concurrency: 8, secret: SECRET });
  const ackSeconds = (performance.timeOrigin + performance.now() - posted.startedAt) / 1000;
  rmSync(dir, { recursive: true, force: true });
  const applyStarted = performance.now();
  if (SPLIT) await runtime.startWorker();
  await runtime.waitForInboxDrained(900_000);
  const seconds = (performance.timeOrigin + performance.now() - posted.startedAt) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { bodies, posted, seconds, ackSeconds, applySeconds: (performance.now() - applyStarted) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, postgresSeconds: (postgresCpuMs() - pg0) / 1000 };
}

/**
 * A second import, of another number, while a customer of a third number writes every
 * LIVE_EVERY_MS: how long each live message takes from its acknowledgement to visible (a worker that
 * waited for a history drain held every other number's live messages back for seconds).
 */
async function liveDuringImport(runtime, url, databaseUrl) {
  const probe = liveProbe(url, databaseUrl, { everyMs: LIVE_EVERY_MS, secret: SECRET });
  const imported = await importHistory(runtime, url, BESIDE, THREADS);
  return { seconds: imported.seconds, ...(await probe.stop()) };
}

export async function run() {
  const total = THREADS * PER_THREAD;
  console.log(`\n# History import end to end (${fmt(total)} messages, ${fmt(THREADS)} threads, chunks of ${THREADS_PER_CHUNK * PER_THREAD} over ${HISTORY_DAYS} days, out of order, 5 % media placeholders, ${FOLLOW_ALL ? 'each followed up by its media' : `media follow-ups for the last ${FOLLOW_UP_DAYS} days`}, ${SPLIT ? 'worker started after the last acknowledgement' : 'worker on'})`);
  const results = [];
  for (const backend of await benchBackends()) {
    const target = await backend.create();
    const config = loadConfig({}, { PORT: 0, HOST: '127.0.0.1', DATABASE_URL: target.databaseUrl, WHATSAPP_APP_SECRET: SECRET, COEX_API_TOKEN: 'bench-admin-token-000000', LOG_LEVEL: 'silent', COEX_AGENT: 'off' });
    const runtime = await Runtime.create({ config, logger: createLogger('silent'), ephemeral: true, campaigns: false, worker: !SPLIT });
    const url = await runtime.listen(0, '127.0.0.1');
    const db = runtime.db;
    await sql`create table bench_raw_messages (like messages including defaults including indexes)`.execute(db);

    // Steady state, as a server that has been running: a fifth-size import of another number first
    // (its code paths compiled and optimized by V8; the first import of a process spent ~0.5 s more
    // CPU on it), and the baseline's INSERT run once as well. Not in the split mode, whose worker
    // starts after the measured acknowledgements.
    if (!SPLIT) {
      const warm = await importHistory(runtime, url, WARM, WARM_THREADS);
      await insertRaw(db, rawRows(warm.bodies, WARM));
      console.log(`          ${backend.name.padEnd(8)} warm-up: ${fmt(WARM_THREADS * PER_THREAD)} messages of another number stored in ${fmt(warm.seconds, 2)} s (the process's first import)`);
    }
    const measured = await importHistory(runtime, url, N, THREADS);
    console.log(
      `          ${backend.name.padEnd(8)} acknowledged in ${fmt(measured.ackSeconds, 2)} s, all stored ${fmt(measured.applySeconds, 2)} s later${SPLIT ? ' (worker started after the last acknowledgement)' : ''}; ` +
        `the chunks acknowledged ${fmt(measured.posted.largeAckedMs / 1000, 2)} s after the first POST (the rest of the time: ${fmt(measured.bodies.filter((b) => !b.entry[0].changes[0].value.history).length)} media follow-ups); ` +
        `CPU: CoEx process ${fmt(measured.cpuSeconds, 2)} s, PostgreSQL ${fmt(measured.postgresSeconds, 2)} s (every postgres process of the machine), load generator ${fmt(measured.posted.cpuSeconds, 2)} s`,
    );
    const count = await db.selectFrom('messages').select((eb) => eb.fn.countAll().as('n')).where('phone_number_id', '=', N.phoneNumberId).executeTakeFirstOrThrow();

    // Baseline: the same rows, plain multi-row INSERTs of 1,000 rows, into a copy of the table.
    const rawSeconds = await insertRaw(db, rawRows(measured.bodies, N));

    // Not in the split mode (its worker is started only for the measured import).
    if (!SPLIT) {
      const beside = await liveDuringImport(runtime, url, target.databaseUrl);
      console.log(
        `          ${backend.name.padEnd(8)} live traffic during another import (${fmt(total)} messages in ${fmt(beside.seconds, 2)} s): ${beside.count} messages of a third number, one every ${LIVE_EVERY_MS} ms, ` +
          `visible after their acknowledgement in p50 ${fmt(beside.p50)} ms, p90 ${fmt(beside.p90)} ms, max ${fmt(beside.max)} ms`,
      );
    }
    await runtime.close();
    await target.drop();
    const coexRate = total / measured.seconds;
    const rawRate = total / rawSeconds;
    console.log(`baseline  ${backend.name.padEnd(8)} raw multi-row INSERT        ${fmt(rawRate)} rows/s`);
    console.log(`coex      ${backend.name.padEnd(8)} POSTed → stored (HTTP)      ${fmt(coexRate)} msgs/s  ratio ${fmt(coexRate / rawRate, 2)} of raw  (${fmt(Number(count.n))} stored, ${measured.posted.failures} non-200)`);
    results.push({ backend: backend.name, coexRate, rawRate, ratio: coexRate / rawRate });
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
