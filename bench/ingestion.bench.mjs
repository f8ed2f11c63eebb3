// Issue 12's figures, end to end with the worker ON: a load generator in its own process POSTs signed
// deliveries to `coex serve` (a real process), and the clock stops when the last message is readable
// in the database. Baseline in the same run: a hand-rolled node:http HMAC + one-INSERT-per-request
// server on the same PostgreSQL (bench/baseline-server.mjs), for which "acknowledged" = "visible".
//   - 10,000 inbound messages at concurrency 50, 1 number and 100 numbers, embedded and external PostgreSQL
//   - acknowledgements/s and p99 with the worker on
//   - embedded mode: server RSS idle (database processes reported apart)
//   - 1 vs 2 `coex worker` processes on a pre-filled inbox of 100 numbers (external PostgreSQL)
//   - 10,000 hostile signed deliveries: crashes, valid messages missing, /healthz p99, a message after
// Sizes: BENCH_INGEST (default 10000), BENCH_INGEST_WORKERS for the workers part (default 40000). Parts: BENCH_INGEST_PARTS=throughput,workers,hostile (default all).
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchBackends, databaseOn, fmt, postgresCpuMs, processCpuMs } from './lib.mjs';
import { CLI, SECRET, child, countVisible, embeddedUrl, limitCpu, liveProbe, queryOnce, runLoadgen, serve, waitApplied, waitUntil } from './processes.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const COUNT = Number(process.env.BENCH_INGEST ?? 10_000);
/** Deliveries for the 1-vs-2-workers part: at ~15,000/s applied, 10,000 took well under a second. */
const WORKERS_COUNT = Number(process.env.BENCH_INGEST_WORKERS ?? 40_000);
const CONCURRENCY = 50;
const PARTS = (process.env.BENCH_INGEST_PARTS ?? 'throughput,workers,hostile').split(',').map((s) => s.trim());

const loadgen = (options) => runLoadgen({ concurrency: CONCURRENCY, ...options });

function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}

/** RSS of the embedded cluster's processes (postgres processes whose command line names its folder). */
function clusterRssMb(dataDir) {
  const pidFile = join(dataDir, 'postgres', 'postmaster.pid');
  const postmaster = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (Number(entry) === postmaster || ppid === postmaster) total += rssMb(entry);
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

/** The hand-rolled server on `dbUrl`: ack rate = visible rate. */
async function baseline(dbUrl, numbers) {
  const p = child([join(here, 'baseline-server.mjs'), dbUrl, SECRET]);
  const { port } = await waitUntil(async () => (p.output().includes('port') ? JSON.parse(p.output().split('\n')[0]) : undefined), 30_000, 'baseline server');
  const r = await loadgen({ url: `http://127.0.0.1:${port}`, count: COUNT, numbers, tag: 'base' });
  p.kill('SIGTERM');
  await p.done;
  return r;
}

/** One scenario: CoEx on `target` (embedded DATA_DIR or external URL), `numbers` numbers. */
async function scenario(backend, numbers) {
  let dataDir;
  let server;
  let dbUrl;
  let idle;
  let baselineUrl;
  let drop = async () => undefined;
  if (backend.name === 'embedded') {
    dataDir = mkdtempSync(join(tmpdir(), 'coex-bench-ingest-'));
    server = await serve({ DATA_DIR: dataDir });
    dbUrl = embeddedUrl(dataDir);
    await new Promise((r) => setTimeout(r, 2000));
    idle = { server: rssMb(server.p.pid), database: clusterRssMb(dataDir) };
    baselineUrl = (await databaseOn(embeddedUrl(dataDir, 'postgres'), `baseline_${numbers}`)).databaseUrl;
  } else {
    const db = await backend.create();
    const base = await backend.create();
    dbUrl = db.databaseUrl;
    baselineUrl = base.databaseUrl;
    dataDir = mkdtempSync(join(tmpdir(), 'coex-bench-ingest-'));
    server = await serve({ DATA_DIR: dataDir, DATABASE_URL: dbUrl });
    drop = async () => (await db.drop(), await base.drop());
  }
  const base = await baseline(baselineUrl, numbers);
  const tag = `n${numbers}`;
  const started = Date.now();
  // Another number's customer writes every 100 ms during the burst (its messages are not counted in
  // the burst's figures): is it held back behind the burst?
  const probe = liveProbe(server.url, dbUrl);
  const acks = await loadgen({ url: server.url, count: COUNT, numbers, tag });
  // How much the worker applied while the burst was being acknowledged (the probe's few included):
  // the runs where it applied the burst as it came were those whose acknowledgements fell behind.
  const appliedDuring = (await queryOnce(dbUrl, 'select count(*)::int as n from webhook_inbox where processed_at is not null'))[0].n;
  const beside = await probe.stop();
  await waitApplied(dbUrl, tag, acks.ok);
  const visibleSeconds = (Date.now() - started) / 1000;
  const peak = backend.name === 'embedded' ? { server: rssMb(server.p.pid), database: clusterRssMb(dataDir) } : undefined;
  await server.stop();
  await drop();
  rmSync(dataDir, { recursive: true, force: true });
  return { base, acks, visibleRate: acks.ok / visibleSeconds, visibleSeconds, idle, peak, beside, appliedDuring };
}

/**
 * Cores each worker process may use in the limited variant of the workers part
 * (BENCH_WORKER_CORES): a quarter of a core, so that two limited workers and the PostgreSQL they feed
 * still fit in two cores — what a second worker adds is then measurable on this 2-core machine, as
 * it would be with each worker in a container of its own (a CPU limit) and PostgreSQL on its host.
 */
const WORKER_CORES = Number(process.env.BENCH_WORKER_CORES ?? 0.25);

async function workersScenario(backend, workers, coresEach = null) {
  const db = await backend.create();
  const dataDir = mkdtempSync(join(tmpdir(), 'coex-bench-workers-'));
  const server = await serve({ DATA_DIR: dataDir, DATABASE_URL: db.databaseUrl, COEX_WORKER: 'off' });
  const tag = `w${workers}`;
  const acks = await loadgen({ url: server.url, count: WORKERS_COUNT, numbers: 100, tag });
  // The backlog is held back (not due) until every worker is up: a worker process takes ~1 s to start
  // (~4 s under a quarter-core limit), and the first one up would otherwise apply alone meanwhile.
  await queryOnce(db.databaseUrl, `update webhook_inbox set next_attempt_at = now() + interval '1 hour' where processed_at is null`);
  await queryOnce(db.databaseUrl, 'vacuum (analyze) webhook_inbox');
  const procs = Array.from({ length: workers }, () =>
    child([CLI, 'worker'], { DATABASE_URL: db.databaseUrl, DATA_DIR: dataDir, WHATSAPP_APP_SECRET: SECRET, LOG_LEVEL: 'warn', COEX_AGENT: 'off' }),
  );
  const limits = coresEach === null ? [] : procs.map((p) => limitCpu(p.pid, coresEach));
  const teardown = async () => {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.done));
    for (const remove of limits) remove?.();
    await server.stop();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  if (limits.includes(null)) {
    await teardown();
    return null;
  }
  // Every worker listens for the inbox's notifications once it is up; then the backlog becomes due.
  const listening = async () => Number((await queryOnce(db.databaseUrl, `select count(*) as n from pg_stat_activity where datname = current_database() and query = 'listen coex_inbox'`))[0].n);
  await waitUntil(async () => (await listening()) >= workers, 120_000, `${workers} worker(s) listening`);
  // Timed from the release's commit: one UPDATE of the whole backlog, and its notification, which no
  // worker sees before the commit (it took ~0.5 s of a ~4.5-s run, the same for 1 and 2 workers).
  await queryOnce(db.databaseUrl, `update webhook_inbox set next_attempt_at = now() where processed_at is null; notify coex_inbox`);
  const started = Date.now();
  const workerCpuMs = () => procs.reduce((sum, p) => sum + processCpuMs(p.pid), 0);
  const cpu0 = { workers: workerCpuMs(), postgres: postgresCpuMs() };
  await waitApplied(db.databaseUrl, tag, acks.ok);
  const seconds = (Date.now() - started) / 1000;
  const cpu = { workers: (workerCpuMs() - cpu0.workers) / 1000 / seconds, postgres: (postgresCpuMs() - cpu0.postgres) / 1000 / seconds };
  await teardown();
  return { rate: acks.ok / seconds, seconds, cpu };
}

async function hostile(backend) {
  const db = backend.name === 'embedded' ? undefined : await backend.create();
  const dataDir = mkdtempSync(join(tmpdir(), 'coex-bench-hostile-'));
  const server = await serve({ DATA_DIR: dataDir, ...(db ? { DATABASE_URL: db.databaseUrl } : {}) });
  const dbUrl = db ? db.databaseUrl : embeddedUrl(dataDir);
  const health = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const t = process.hrtime.bigint();
      const ok = await fetch(`${server.url}/healthz`).then((r) => r.status === 200, () => false);
      health.push({ ms: Number(process.hrtime.bigint() - t) / 1e6, ok });
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const r = await loadgen({ url: server.url, count: COUNT, numbers: 20, tag: 'hostile', kind: 'hostile' });
  // Valid messages: every even delivery, and odd ones whose flaw is only in text (cases 1, 3, 9).
  const expected = Array.from({ length: COUNT }, (_, i) => i).filter((i) => i % 2 === 0 || [1, 3, 9].includes(i % 10)).length;
  await waitUntil(async () => (await countVisible(dbUrl, 'hostile')) >= expected, 900_000, 'hostile run applied');
  polling = false;
  await poller;
  const visible = await countVisible(dbUrl, 'hostile');
  const after = Date.now();
  await loadgen({ url: server.url, count: 1, numbers: 1, tag: 'after', concurrency: 1 });
  await waitUntil(async () => (await countVisible(dbUrl, 'after')) >= 1, 60_000, 'message after the fuzz');
  const afterSeconds = (Date.now() - after) / 1000;
  const alive = server.p.exitCode === null;
  health.sort((a, b) => a.ms - b.ms);
  const p99 = health[Math.floor(0.99 * (health.length - 1))]?.ms ?? 0;
  await server.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  return { acks: r, expected, visible, missing: expected - visible, healthP99: p99, healthFailures: health.filter((h) => !h.ok).length, afterSeconds, alive };
}

export async function run() {
  console.log(`\n# Ingestion end to end, worker on (${fmt(COUNT)} deliveries, concurrency ${CONCURRENCY}, load generator in its own process)`);
  const backends = await benchBackends();
  for (const backend of PARTS.includes('throughput') ? backends : []) {
    for (const numbers of [1, 100]) {
      const s = await scenario(backend, numbers);
      console.log(
        `${backend.name.padEnd(8)} ${String(numbers).padStart(3)} number(s)  baseline ${fmt(s.base.perSecond)}/s (p99 ${fmt(s.base.p99, 1)} ms) | ` +
          `CoEx acks ${fmt(s.acks.perSecond)}/s ratio ${fmt(s.acks.perSecond / s.base.perSecond, 2)} p99 ${fmt(s.acks.p99, 1)} ms (${s.acks.failures} non-200) | ` +
          `all visible in ${fmt(s.visibleSeconds, 1)} s = ${fmt(s.visibleRate)}/s ratio ${fmt(s.visibleRate / s.base.perSecond, 2)}`,
      );
      console.log(`         applied while acknowledging: ${fmt(s.appliedDuring)} deliveries; another number's customer, a message every 100 ms during the burst: ${s.beside.count} visible after their acknowledgement in p50 ${fmt(s.beside.p50)} ms, p90 ${fmt(s.beside.p90)} ms, max ${fmt(s.beside.max)} ms`);
      if (s.idle) console.log(`         RSS: coex serve idle ${fmt(s.idle.server)} MB, after the run ${fmt(s.peak.server)} MB; embedded PostgreSQL processes ${fmt(s.idle.database)} MB idle, ${fmt(s.peak.database)} MB after`);
    }
  }
  const external = backends.find((b) => b.name === 'postgres');
  if (external && PARTS.includes('workers')) {
    const one = await workersScenario(external, 1);
    const two = await workersScenario(external, 2);
    console.log(`workers  100 numbers, inbox pre-filled: 1 worker ${fmt(one.rate)}/s, 2 workers ${fmt(two.rate)}/s, ratio ${fmt(two.rate / one.rate, 2)}`);
    const cores = (r) => `worker processes ${fmt(r.cpu.workers, 2)}, PostgreSQL ${fmt(r.cpu.postgres, 2)}`;
    console.log(`         cores in use while applying (CPU-seconds per second): 1 worker: ${cores(one)}; 2 workers: ${cores(two)}`);
    // The same with each worker limited to WORKER_CORES (its own CPU budget, as in a container).
    const oneLimited = await workersScenario(external, 1, WORKER_CORES);
    const twoLimited = oneLimited && (await workersScenario(external, 2, WORKER_CORES));
    if (oneLimited && twoLimited) {
      console.log(`workers  each limited to ${fmt(WORKER_CORES, 2)} of a core: 1 worker ${fmt(oneLimited.rate)}/s, 2 workers ${fmt(twoLimited.rate)}/s, ratio ${fmt(twoLimited.rate / oneLimited.rate, 2)}`);
      console.log(`         cores in use while applying: 1 worker: ${cores(oneLimited)}; 2 workers: ${cores(twoLimited)}`);
    } else {
      console.log('workers  limited variant not measured: this process may not create a cgroup with a CPU quota (needs root and a cpu controller)');
    }
  }
  for (const backend of PARTS.includes('hostile') ? backends : []) {
    const h = await hostile(backend);
    console.log(
      `hostile  ${backend.name.padEnd(8)} ${fmt(COUNT)} signed deliveries (half hostile): server alive ${h.alive}, ${h.acks.failures} non-200, ` +
        `valid messages missing ${h.missing} of ${h.expected}, /healthz p99 ${fmt(h.healthP99, 1)} ms (${h.healthFailures} failed), a message afterwards visible in ${fmt(h.afterSeconds, 2)} s`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
