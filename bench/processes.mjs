// Processes for the end-to-end benchmarks: `coex serve` / `coex worker` from the built CLI, the load
// generator, and the embedded cluster's connection details.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { runningEmbeddedUrl } from '../core/dist/db/embedded-postgres.js';

const here = fileURLToPath(new URL('.', import.meta.url));
export const CLI = join(here, '../core/dist/cli.js');
export const SECRET = 'bench-ingest-secret';
export const ADMIN = 'bench-ingest-admin-token-000000';

export function child(args, env = {}) {
  const base = { ...process.env };
  delete base.DATABASE_URL;
  const p = spawn(process.execPath, args, { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (c) => (out += c));
  p.stderr.on('data', (c) => (out += c));
  p.output = () => out;
  p.done = new Promise((r) => p.on('exit', r));
  return p;
}

/**
 * Puts process `pid` in a cgroup of its own limited to `cores` of CPU time (a CFS quota), as a
 * container's CPU limit would: cgroup v1 (`cpu.cfs_quota_us`) or v2 (`cpu.max`). Returns the
 * cgroup's removal (call it once the process has exited), or null where this process may not create
 * one (not root, no cpu controller): the caller says the limited case was not measured.
 */
export function limitCpu(pid, cores) {
  const period = 100_000;
  const quota = Math.round(cores * period);
  const v1 = '/sys/fs/cgroup/cpu';
  const v2 = '/sys/fs/cgroup';
  const layouts = [
    { root: v1, usable: existsSync(join(v1, 'cpu.cfs_quota_us')), limit: (dir) => (writeFileSync(join(dir, 'cpu.cfs_period_us'), String(period)), writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quota))) },
    { root: v2, usable: existsSync(join(v2, 'cgroup.controllers')), limit: (dir) => writeFileSync(join(dir, 'cpu.max'), `${quota} ${period}`) },
  ];
  for (const layout of layouts.filter((l) => l.usable)) {
    const dir = join(layout.root, `coex-bench-${process.pid}-${pid}`);
    try {
      mkdirSync(dir);
      layout.limit(dir);
      writeFileSync(join(dir, 'cgroup.procs'), String(pid));
      return () => rmdirSync(dir);
    } catch {
      try {
        rmdirSync(dir);
      } catch {
        // never created, or the process is still in it: nothing to undo here
      }
    }
  }
  return null;
}

export async function waitUntil(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** `coex serve` as a process; resolves once /readyz answers. */
export async function serve(env) {
  const port = await freePort();
  // SERVE_NODE_OPTIONS reaches the server only (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it).
  const profile = process.env.SERVE_NODE_OPTIONS ? { NODE_OPTIONS: process.env.SERVE_NODE_OPTIONS } : {};
  const p = child([CLI, 'serve'], { WHATSAPP_APP_SECRET: SECRET, COEX_API_TOKEN: ADMIN, LOG_LEVEL: 'warn', COEX_AGENT: 'off', HOST: '127.0.0.1', PORT: String(port), ...profile, ...env });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(async () => (await fetch(`${url}/readyz`)).status === 200, 180_000, `coex serve ready\n${p.output()}`);
  return { p, url, stop: async () => (p.kill('SIGTERM'), await p.done) };
}

/** bench/loadgen.mjs in its own process; resolves with its JSON summary. */
export function runLoadgen(options) {
  const p = child([join(here, 'loadgen.mjs'), JSON.stringify({ secret: SECRET, concurrency: 50, kind: 'text', ...options })]);
  return p.done.then(() => JSON.parse(p.output().trim().split('\n').pop()));
}

/** One query on a connection of its own; the rows of its last statement. */
export async function queryOnce(url, text, values = []) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const result = await c.query(text, values);
    return (Array.isArray(result) ? result.at(-1) : result).rows;
  } finally {
    await c.end();
  }
}

export async function countVisible(url, tag) {
  return (await queryOnce(url, 'select count(*)::int as n from messages where wamid like $1', [`wamid.${tag}.%`]))[0].n;
}

/**
 * Waits until the inbox is drained, then checks that `expected` messages tagged `tag` are readable.
 * The watcher costs the database as little as it can, since it runs while the run is measured: one
 * connection for the whole wait (a connection a look forked a PostgreSQL backend every 25 ms), and
 * a look that stops at the first pending delivery (`exists`) instead of counting them (a count of
 * the messages every 25 ms scanned the table; a count of the pending deliveries was still active in
 * a third of pg_stat_activity's samples of a 40,000-delivery run).
 */
export async function waitApplied(url, tag, expected, timeoutMs = 900_000) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const pending = async () => (await c.query('select exists (select 1 from webhook_inbox where processed_at is null) as p')).rows[0].p;
    await waitUntil(async () => !(await pending()), timeoutMs, `inbox drained (${expected} messages tagged ${tag})`);
  } finally {
    await c.end();
  }
  const visible = await countVisible(url, tag);
  if (visible < expected) throw new Error(`${expected} acknowledged, ${visible} visible after the inbox drained (tag ${tag})`);
}

/** The running embedded PostgreSQL of a `coex serve` started with this DATA_DIR. */
export function embeddedUrl(dataDir, database = 'coex') {
  const url = runningEmbeddedUrl(join(dataDir, 'postgres'), database);
  if (!url) throw new Error(`no embedded PostgreSQL running in ${dataDir}`);
  return url;
}

/**
 * A customer of a number of its own writing every `everyMs` while a run is measured: how long each of
 * those messages takes from its acknowledgement to readable (a worker draining one number's burst
 * held every other number's messages back until it was done). `stop()` ends it once the run is over
 * and resolves with { count, p50, p90, max } in ms, of the messages sent before stop().
 */
export function liveProbe(serverUrl, dbUrl, { everyMs = 100, secret = SECRET } = {}) {
  const phoneNumberId = '106549999999999';
  const wa = '212611000001';
  const sent = new Map();
  const latencies = [];
  let running = true;
  const post = async (i) => {
    const value = {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '212599999999', phone_number_id: phoneNumberId },
      contacts: [{ profile: { name: 'Probe' }, wa_id: wa }],
      messages: [{ from: wa, id: `wamid.probe.${i}`, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'salam, wach kayn?' } }],
    };
    const raw = JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '102290129340398', changes: [{ field: 'messages', value }] }] });
    const response = await fetch(`${serverUrl}/webhooks/whatsapp`, {
      method: 'POST',
      body: raw,
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}` },
    });
    if (response.status !== 200) throw new Error(`probe message answered ${response.status}`);
    sent.set(`wamid.probe.${i}`, performance.now());
  };
  const sender = (async () => {
    for (let i = 0; running; i++) {
      await post(i);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  // One connection and one look every 20 ms for every message in flight; a message still unseen a
  // minute after stop() fails the probe rather than hanging the benchmark.
  let stoppedAt = 0;
  const watcher = (async () => {
    const c = new pg.Client({ connectionString: dbUrl });
    await c.connect();
    try {
      while (running || sent.size > 0) {
        if (!running && performance.now() - stoppedAt > 60_000) throw new Error(`${sent.size} probe message(s) not visible a minute after the run`);
        if (sent.size > 0) {
          const { rows } = await c.query('select wamid from messages where phone_number_id = $1 and wamid = any($2::text[])', [phoneNumberId, [...sent.keys()]]);
          const now = performance.now();
          for (const { wamid } of rows) {
            latencies.push(now - sent.get(wamid));
            sent.delete(wamid);
          }
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await c.end();
    }
  })();
  return {
    async stop() {
      running = false;
      stoppedAt = performance.now();
      await sender;
      await watcher;
      latencies.sort((a, b) => a - b);
      const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
      return { count: latencies.length, p50: at(0.5), p90: at(0.9), max: latencies.at(-1) ?? 0 };
    },
  };
}
