// Pacing accuracy: ≥ 1,000 template sends for one Coexistence number (20 msg/s) against the Graph API
// fake, which answers 130429 when the number exceeds 20 sends in any sliding second. Achieved rate is
// printed as a fraction of the allowed 20/s, for one sender and for two sender processes sharing the
// number through the database. Baseline: the allowed rate itself (ratio 1.00 = perfect use, no excess).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { migrateToLatest, openDatabase } from '../core/dist/db/index.js';
import { DbPacer } from '../core/dist/outbound/pacer.js';
import { GraphClient } from '../core/dist/outbound/graph-client.js';
import { benchBackends, fmt } from './lib.mjs';

const TOTAL = Number(process.env.BENCH_PACING_SENDS ?? 1000);
const RATE = 20;

function child(env, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(new URL('./pacing-sender.mjs', import.meta.url)), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`sender exited ${code}`))));
  });
}

export async function run() {
  const { startGraphApiFake, DEFAULT_FAKE_TOKEN, DEFAULT_FAKE_PHONE_NUMBER } = await import('../test/fakes/graph-api.ts');
  const pnid = DEFAULT_FAKE_PHONE_NUMBER.id;
  console.log(`\n# Pacing (${fmt(TOTAL)} sends, one Coexistence number, allowed ${RATE} msg/s, fake enforces it)`);
  for (const backend of await benchBackends()) {
    const modes = backend.name === 'postgres' ? [1, 2] : [1];
    for (const processes of modes) {
      const graph = await startGraphApiFake({ mps: RATE });
      const target = await backend.create();
      const handle = await openDatabase({ databaseUrl: target.databaseUrl });
      await migrateToLatest(handle.db);
      const started = Date.now();
      if (processes === 1) {
        const pacer = new DbPacer(handle.db);
        const client = new GraphClient({ baseUrl: graph.url, version: 'v25.0', accessToken: DEFAULT_FAKE_TOKEN, userAgent: 'coex-bench' });
        for (let i = 0; i < TOTAL; i++) {
          await pacer.acquire(pnid, { ratePerSecond: RATE });
          await client.sendMessage(pnid, { type: 'template', to: `2126${String(i).padStart(8, '0')}`, name: 'hello_world', languageCode: 'en_US' }).catch(() => undefined);
        }
      } else {
        await Promise.all(Array.from({ length: processes }, (_, k) => child({ DATABASE_URL: target.databaseUrl }, [graph.url, DEFAULT_FAKE_TOKEN, pnid, String(TOTAL / processes), String(k)])));
      }
      const seconds = (Date.now() - started) / 1000;
      const sent = graph.state.sent.length;
      const rejected = graph.state.rejections.throughput[pnid] ?? 0;
      await handle.close();
      await target.drop();
      await graph.close();
      const achieved = sent / seconds;
      console.log(`coex      ${backend.name.padEnd(8)} ${processes} sender process${processes > 1 ? 'es' : '  '}  ${fmt(achieved, 2)} msg/s  ratio ${fmt(achieved / RATE, 3)} of allowed  (${sent} accepted, ${rejected} × 130429)`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
