// Shared helpers for the benchmarks: databases to run on, a keep-alive HTTP load generator, formatting.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import pg from 'pg';

/**
 * Where benchmarks run: the embedded PostgreSQL (the `npm start` default, started here in a temp folder
 * with the same settings as `npm start`: fsync on) and an external PostgreSQL when BENCH_DATABASE_URL /
 * TEST_DATABASE_URL is set or the local server answers. Each `create()` makes a fresh database.
 * BENCH_BACKENDS=embedded (or postgres) keeps one of them.
 */
export async function benchBackends() {
  const wanted = process.env.BENCH_BACKENDS?.split(',').map((s) => s.trim());
  return (await allBackends()).filter((b) => !wanted || wanted.includes(b.name));
}

async function allBackends() {
  const url = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const out = [{ name: 'embedded', create: async () => databaseOn(await embeddedCluster()) }];
  try {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1500 });
    await c.connect();
    await c.end();
    out.push({ name: 'postgres', create: () => databaseOn(url) });
  } catch {
    console.log(`(PostgreSQL at ${new URL(url).host} not reachable: embedded only)`);
  }
  return out;
}

let embedded;
/** One embedded cluster for the whole bench run; `closeBenchBackends()` stops it. */
export async function embeddedCluster() {
  if (!embedded) {
    const { openEmbeddedPostgres } = await import('../core/dist/db/embedded-postgres.js');
    const dir = mkdtempSync(join(tmpdir(), 'coex-bench-pg-'));
    const cluster = await openEmbeddedPostgres({ dataDir: join(dir, 'postgres'), database: 'postgres', settings: ['max_connections=300'] });
    embedded = { cluster, dir };
  }
  return embedded.cluster.url;
}

export async function closeBenchBackends() {
  if (!embedded) return;
  await embedded.cluster.release();
  rmSync(embedded.dir, { recursive: true, force: true });
  embedded = undefined;
}

/** A fresh database on the server of `adminUrl` (named `name` or a random one), with its drop(). */
export async function databaseOn(adminUrl, name = `coex_bench_${randomBytes(4).toString('hex')}`) {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    databaseUrl: u.toString(),
    drop: async () => {
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

/** Sends `total` POSTs with `concurrency` keep-alive connections; returns requests per second. */
export async function loadPost(url, bodies, { concurrency = 32 } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL(url);
  let next = 0;
  let failures = 0;
  const one = (b) =>
    new Promise((resolve) => {
      const req = http.request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': b.raw.length, ...b.headers } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== 200) failures += 1;
            resolve();
          });
        },
      );
      req.on('error', () => {
        failures += 1;
        resolve();
      });
      req.end(b.raw);
    });
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) await one(bodies[next++]);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  return { perSecond: bodies.length / seconds, seconds, failures };
}

export const fmt = (n, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Milliseconds per clock tick of /proc/<pid>/stat's CPU times (USER_HZ is 100 on Linux). */
export const TICK_MS = 10;

/**
 * Fields of /proc/<pid>/stat (Linux): the command name, the parent, and the CPU times in ticks — its
 * own (`utime`, `stime`) and that of the children it has reaped (`cutime`, `cstime`). Undefined once
 * the process is gone.
 */
export function procStat(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]), cutime: Number(f[13]), cstime: Number(f[14]) };
  } catch {
    return undefined;
  }
}

/** CPU time (ms) a process has used itself (utime + stime); 0 once it is gone. */
export function processCpuMs(pid) {
  const st = procStat(pid);
  return st ? (st.utime + st.stime) * TICK_MS : 0;
}

/** The pids of /proc (Linux), each a process that may exit while it is read. */
export const procPids = () => readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));

/**
 * CPU time (ms) of every PostgreSQL process of the machine, including children they have reaped
 * (backends that exited count through the postmaster). Linux only (/proc); 0 elsewhere. For a
 * difference taken around one benchmark on an otherwise idle machine.
 */
export function postgresCpuMs() {
  if (process.platform !== 'linux') return 0;
  let ticks = 0;
  for (const pid of procPids()) {
    const st = procStat(pid);
    if (st?.comm === 'postgres') ticks += st.utime + st.stime + st.cutime + st.cstime;
  }
  return ticks * TICK_MS;
}
