// Where ingestion's CPU goes (issue 12): CPU time of the server process and of every process of its
// embedded PostgreSQL, read from /proc before and after 10,000 deliveries, for the hand-rolled
// baseline server and for `coex serve` on the same cluster. Wall-clock rates on a shared machine move
// with whatever else runs; CPU per message does much less, and it says which side (Node or the
// database) a change made cheaper. Linux only (/proc). Sizes: BENCH_INGEST (default 10000).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { databaseOn, fmt, processCpuMs, procPids, procStat } from './lib.mjs';
import { SECRET, child, embeddedUrl, runLoadgen, serve, waitApplied, waitUntil } from './processes.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const COUNT = Number(process.env.BENCH_INGEST ?? 10_000);

/** The cluster's postmaster and its children (backends, WAL writer, checkpointer, autovacuum). */
function clusterCpuMs(dataDir) {
  const postmaster = Number(readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  let total = processCpuMs(postmaster);
  for (const pid of procPids()) if (procStat(pid)?.ppid === postmaster) total += processCpuMs(pid);
  return total;
}

async function measure(numbers) {
  const dataDir = mkdtempSync(join(tmpdir(), 'coex-bench-cpu-'));
  const server = await serve({ DATA_DIR: dataDir });
  const dbUrl = embeddedUrl(dataDir);
  const baseUrl = (await databaseOn(embeddedUrl(dataDir, 'postgres'), `cpu_baseline_${numbers}`)).databaseUrl;
  const b = child([join(here, 'baseline-server.mjs'), baseUrl, SECRET]);
  const { port } = await waitUntil(async () => (b.output().includes('port') ? JSON.parse(b.output().split('\n')[0]) : undefined), 30_000, 'baseline server');
  let db0 = clusterCpuMs(dataDir);
  let server0 = processCpuMs(b.pid);
  await runLoadgen({ url: `http://127.0.0.1:${port}`, count: COUNT, numbers, tag: 'base', concurrency: 50 });
  const base = { server: processCpuMs(b.pid) - server0, db: clusterCpuMs(dataDir) - db0 };
  b.kill('SIGTERM');
  await b.done;
  db0 = clusterCpuMs(dataDir);
  server0 = processCpuMs(server.p.pid);
  const acks = await runLoadgen({ url: server.url, count: COUNT, numbers, tag: 'cpu', concurrency: 50 });
  await waitApplied(dbUrl, 'cpu', acks.ok);
  const coex = { server: processCpuMs(server.p.pid) - server0, db: clusterCpuMs(dataDir) - db0 };
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
  return { base, coex };
}

export async function run() {
  console.log(`\n# Where ingestion's CPU goes: µs of CPU per message, server and embedded PostgreSQL (${fmt(COUNT)} deliveries, worker on)`);
  if (process.platform !== 'linux') return console.log('(skipped: reads /proc)');
  for (const numbers of [1, 100]) {
    const { base, coex } = await measure(numbers);
    const us = (ms) => (ms * 1000) / COUNT;
    console.log(
      `${String(numbers).padStart(3)} number(s)  baseline server ${fmt(us(base.server))} + db ${fmt(us(base.db))} = ${fmt(us(base.server + base.db))} µs | ` +
        `CoEx server ${fmt(us(coex.server))} + db ${fmt(us(coex.db))} = ${fmt(us(coex.server + coex.db))} µs | ratio ${fmt((coex.server + coex.db) / (base.server + base.db), 2)}`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
