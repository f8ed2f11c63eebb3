// kill -9 at a random point of a 2,000-delivery burst, three times, on the embedded PostgreSQL and on
// an external one (issue 12): deliveries acknowledged, lost (acknowledged but never stored), applied
// twice, and the time from the restarted server's first answer to "everything acknowledged is
// visible". Baseline in the same run: the time from a fresh server's start to its first answer
// (what a restart costs anyway). Sizes: BENCH_CRASH_DELIVERIES (2000), BENCH_CRASH_RUNS (3).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { benchBackends, fmt } from './lib.mjs';
import { embeddedUrl, serve, SECRET, waitUntil } from './processes.mjs';
import { createHmac } from 'node:crypto';

const DELIVERIES = Number(process.env.BENCH_CRASH_DELIVERIES ?? 2000);
const RUNS = Number(process.env.BENCH_CRASH_RUNS ?? 3);

function delivery(tag, i) {
  const wa = `2126${String(i % 97).padStart(8, '0')}`;
  const pnid = String(106540000000000 + (i % 7));
  return JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: '102290129340398', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '212522000000', phone_number_id: pnid }, contacts: [{ profile: { name: 'C' }, wa_id: wa }], messages: [{ from: wa, id: `wamid.${tag}.${i}`, timestamp: String(1790000000 + i), type: 'text', text: { body: `burst ${i}` } }] } }] }],
  });
}

async function oneRun(backend, run) {
  const dataDir = mkdtempSync(join(tmpdir(), 'coex-bench-crash-'));
  const db = backend.name === 'embedded' ? undefined : await backend.create();
  const env = { DATA_DIR: dataDir, ...(db ? { DATABASE_URL: db.databaseUrl } : {}) };
  const bootStarted = Date.now();
  const first = await serve(env);
  const bootSeconds = (Date.now() - bootStarted) / 1000;
  const tag = `crash${run}`;
  const killAt = Math.floor(DELIVERIES * (0.2 + 0.6 * Math.random()));
  const acknowledged = new Set();
  let next = 0;
  let killed = false;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < DELIVERIES) {
        const i = next++;
        const raw = delivery(tag, i);
        const sig = `sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`;
        try {
          const r = await fetch(`${first.url}/webhooks/whatsapp`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig }, body: raw });
          if (r.status === 200) acknowledged.add(`wamid.${tag}.${i}`);
        } catch {
          // the server is gone: not acknowledged
        }
        if (!killed && i >= killAt) {
          killed = true;
          first.p.kill('SIGKILL');
        }
      }
    }),
  );
  await first.p.done;
  const second = await serve(env);
  const restarted = Date.now();
  const url = db ? db.databaseUrl : embeddedUrl(dataDir);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let visible;
  await waitUntil(async () => {
    const r = await client.query('select wamid from messages where wamid like $1', [`wamid.${tag}.%`]);
    visible = r.rows.map((x) => x.wamid);
    return acknowledged.size > 0 && [...acknowledged].every((w) => visible.includes(w)) ? true : undefined;
  }, 300_000, 'all acknowledged visible');
  const visibleSeconds = (Date.now() - restarted) / 1000;
  const twice = (await client.query('select count(*)::int as n from webhook_inbox where attempts > 1')).rows[0].n;
  const dup = visible.length - new Set(visible).size;
  await client.end();
  await second.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  const lost = [...acknowledged].filter((w) => !visible.includes(w)).length;
  return { killAt, acknowledged: acknowledged.size, lost, dup, twice, visibleSeconds, bootSeconds };
}

export async function run() {
  console.log(`\n# kill -9 in a ${fmt(DELIVERIES)}-delivery burst, ${RUNS} runs per database`);
  for (const backend of await benchBackends()) {
    for (let r = 1; r <= RUNS; r++) {
      const x = await oneRun(backend, r);
      console.log(
        `${backend.name.padEnd(8)} run ${r}: killed after delivery ${x.killAt}, ${fmt(x.acknowledged)} acknowledged, ${x.lost} lost, ${x.dup} duplicated, ${x.twice} applied twice; ` +
          `all visible ${fmt(x.visibleSeconds, 2)} s after the restart answered (baseline: a fresh start took ${fmt(x.bootSeconds, 2)} s)`,
      );
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
